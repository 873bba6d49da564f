"""Forward-only SQL migrations: `migrations/NNNN_name.sql`, applied in order, each in one transaction.

Run with `uv run python -m db.migrations` (or `make migrate`).
"""

import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from db import dbprobe
import settings as settings_module

log = logging.getLogger("config_service.migrations")

FOLDER = Path(__file__).with_name("migrations")
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every runner of this service.
LOCK_KEY = 0x636F6E666967  # "config"

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL
)
"""


class MigrationError(Exception):
    """A migration cannot be applied, or an applied one was changed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


def discover(folder: Path = FOLDER) -> list[Migration]:
    """The migration files of `folder`, in version order; stray or duplicate versions are errors."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def disagreement(cur: Any, folder: Path = FOLDER) -> tuple[list[str], list[str]]:
    """Where this build's migrations and the database's differ: the files of this build it has not applied (all of
    them in a database never migrated), and those it applied that this build lacks (a newer build migrated it)."""
    cur.execute("SELECT to_regclass('migrations') IS NOT NULL AS present")
    applied: dict[int, str] = {}
    if cur.fetchone()["present"]:
        cur.execute("SELECT version, name FROM migrations")
        applied = {row["version"]: f"{row['version']:04d}_{row['name']}.sql" for row in cur.fetchall()}
    known = discover(folder)
    versions = {migration.version for migration in known}
    return ([migration.file_name for migration in known if migration.version not in applied],
            [name for version, name in sorted(applied.items()) if version not in versions])


def migrate(dsn: str, folder: Path = FOLDER) -> list[Migration]:
    """Apply what is pending; returns what was applied. Concurrent runners wait for each other."""
    pending = discover(folder)
    applied: list[Migration] = []
    conn = psycopg2.connect(dsn, application_name="config-service-migrations")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # A session lock held across the files: a second runner waits here, then finds nothing to do.
            cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                cur.execute(CREATE_TABLE)
                cur.execute("SELECT version, name, checksum FROM migrations ORDER BY version")
                done = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
                for migration in pending:
                    if migration.version in done:
                        name, checksum = done[migration.version]
                        if checksum != migration.checksum:
                            raise MigrationError(
                                f"{migration.file_name} was changed after it was applied "
                                f"(applied as {migration.version:04d}_{name}.sql, checksum differs); "
                                "add a new migration instead"
                            )
                        continue
                    _apply(conn, migration)
                    applied.append(migration)
                    log.info("applied %s", migration.file_name)
            finally:
                cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    finally:
        conn.close()
    return applied


def _apply(conn: psycopg2.extensions.connection, migration: Migration) -> None:
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
            )
        conn.commit()
    except psycopg2.Error as error:
        conn.rollback()
        raise MigrationError(f"{migration.file_name} failed: {error}".strip()) from None
    finally:
        conn.autocommit = True


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = settings_module.load()
    try:
        applied = migrate(str(settings.database_url))
    except MigrationError as error:
        print(f"migrations: {error}", file=sys.stderr)
        return 1
    except psycopg2.OperationalError as error:
        url = str(settings.database_url)
        cause = (dbprobe.probe(url, settings.connect_timeout) if len(dbprobe.hosts(url)) > 1 else None) \
            or dbprobe.explain(url, str(error))
        print(f"migrations: cannot reach the database: {cause.line}", file=sys.stderr)
        return 1
    print(f"migrations: {len(applied)} applied" + (": " + ", ".join(m.file_name for m in applied) if applied else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
