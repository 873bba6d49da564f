"""Forward-only SQL migrations: `migrations/NNNN_name.sql`, applied in order, each in one transaction.

Run with `uv run python -m db.migrations` (or `make migrate`).
"""

import argparse
import hashlib
import logging
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras

from db import dbprobe
import settings as settings_module

log = logging.getLogger("config_service.migrations")

FOLDER = Path(__file__).with_name("migrations")
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every runner of this service.
LOCK_KEY = 0x636F6E666967  # "config"
APPLICATION_NAME = "config-service-migrations"  # each runner's session, as pg_stat_activity shows it
# How long a file's transaction waits for each lock (its `lock_timeout`), one attempt after another; then it fails.
# A lock waited for queues every later request for a lock on that table behind it: a migration waiting for a table
# that a long transaction holds (a report, a psql session left open) would stop the service's reads and writes of it
# for as long as that transaction lasts. Bounded, the traffic is held up at most that long each time; the file is
# rolled back and tried again LOCK_PAUSE later, in between the traffic runs.
LOCK_WAITS = (0.1, 0.1, 0.2, 0.2, 0.5, 0.5, 1.0, 1.0, 2.0, 2.0, 5.0, 5.0)
LOCK_PAUSE = 1.0
# The transactions a failed file names, when it could not have its locks: those open since before its last attempt
# that hold a lock of this database's (a table's, a row's through their transaction id), other migration runners
# (waiting for the advisory lock) aside. One of them holds what it waited for.
HOLDERS = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), a.backend_type, '?') AS name,
       coalesce(a.state, '?') AS state, floor(extract(epoch FROM now() - a.xact_start))::bigint AS open_for
FROM pg_stat_activity a
WHERE a.xact_start < %s AND a.pid <> pg_backend_pid() AND a.datname = current_database()
  AND a.application_name <> %s
  AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                                         AND l.locktype IN ('relation', 'tuple', 'transactionid', 'object'))
ORDER BY a.xact_start
LIMIT 5
"""

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
    conn = psycopg2.connect(dsn, application_name=APPLICATION_NAME)
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
    """`migration` in one transaction with its row in `migrations`, each lock waited for at most LOCK_WAITS' time of
    the attempt; after the last, a MigrationError naming the transactions that may hold them."""
    conn.autocommit = False
    try:
        for attempt, wait in enumerate(LOCK_WAITS, 1):
            began = None
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT now()")
                    began = cur.fetchone()[0]
                    cur.execute("SET LOCAL lock_timeout = %s", (f"{round(wait * 1000)}ms",))
                    cur.execute(migration.sql)
                    cur.execute(
                        "INSERT INTO migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)",
                        (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
                    )
                conn.commit()
                return
            except psycopg2.errors.LockNotAvailable:
                conn.rollback()
                if attempt == len(LOCK_WAITS):
                    raise MigrationError(_not_locked(conn, migration, began)) from None
                log.warning("%s: a lock it needs was not had within %g s (another transaction holds it); trying "
                            "again in %g s (attempt %d of %d)", migration.file_name, wait, LOCK_PAUSE, attempt + 1,
                            len(LOCK_WAITS))
                time.sleep(LOCK_PAUSE)
            except psycopg2.Error as error:
                conn.rollback()
                raise MigrationError(f"{migration.file_name} failed: {error}".strip()) from None
    finally:
        conn.autocommit = True


def _not_locked(conn: psycopg2.extensions.connection, migration: Migration, began: datetime) -> str:
    """Why `migration` was not applied: a lock it needs was held each time, and which transactions were open all
    through its last attempt (one of them holds it)."""
    try:
        with conn.cursor() as cur:
            cur.execute(HOLDERS, (began, APPLICATION_NAME))
            holders = cur.fetchall()
    except psycopg2.Error:  # (the reason stands without them)
        holders = []
    conn.rollback()
    tried = f"{len(LOCK_WAITS)} times, waiting up to {max(LOCK_WAITS):g} s"
    if not holders:
        return f"{migration.file_name} was not applied: a lock it needs was held by another transaction ({tried}); " \
            "run the migrations again"
    named = ", ".join(f"pid {pid} ({name}, {state}, its transaction open for {open_for} s)"
                      for pid, name, state, open_for in holders)
    end = f"SELECT pg_terminate_backend({holders[0][0]})" if len(holders) == 1 else \
        "SELECT pg_terminate_backend(<its pid>)"
    return (f"{migration.file_name} was not applied: a lock it needs was held by another transaction ({tried}). "
            f"Open since before its last attempt, holding locks: {named}. End the one that holds it (or {end}), "
            "then run the migrations again")


def status(dsn: str, folder: Path = FOLDER) -> tuple[list[str], list[str], list[str]]:
    """`disagreement`, and the applied files this build has changed (which `migrate` refuses), read without changing
    anything (no table created, no lock taken)."""
    conn = psycopg2.connect(dsn, application_name=APPLICATION_NAME, cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        with conn.cursor() as cur:
            pending, unknown = disagreement(cur, folder)
            known, edited = discover(folder), []
            if len(pending) < len(known):  # (some applied: the table is there)
                cur.execute("SELECT version, checksum FROM migrations")
                applied = {row["version"]: row["checksum"] for row in cur.fetchall()}
                edited = [m.file_name for m in known if applied.get(m.version, m.checksum) != m.checksum]
            return pending, unknown, edited
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="migrations",
        description="Apply this build's pending migrations to DATABASE_URL's database (with --status: only say "
                    "which are pending). Concurrent runners wait for each other; applied files are never re-run.")
    parser.add_argument("--status", action="store_true",
                        help="change nothing: list the pending migrations, and exit 3 when there are some (1 when an "
                             "applied one was changed since, which a run refuses)")
    arguments = parser.parse_args(argv)  # (an unknown argument, or none known: exits 2 without touching anything)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = settings_module.load()
    try:
        if arguments.status:
            pending, unknown, edited = status(str(settings.database_url))
            print(f"migrations: {len(pending)} pending" + (": " + ", ".join(pending) if pending else ""))
            if unknown:
                print(f"migrations: the database has {len(unknown)} this build lacks (a newer build migrated it): "
                      + ", ".join(unknown))
            if edited:
                print(f"migrations: changed after they were applied (a run would refuse them): {', '.join(edited)}",
                      file=sys.stderr)
                return 1
            return 3 if pending else 0
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
