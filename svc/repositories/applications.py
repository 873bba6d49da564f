"""SQL for applications. Every function takes a cursor first and owns no connection."""

from datetime import UTC, datetime
from typing import Any

from db.database import idempotent
from wire import ulids
from wire.etags import UNCONDITIONAL, Preconditions
from repositories.rows import (PAGE_AFTER_CURSOR, Row, assign, conditions, fields, missing_or_stale, names, one,
                               params, split, write)

# The columns a client writes (the contract's ApplicationCreate and ApplicationUpdate): a new one is added here and
# in a migration, and every statement below reads and writes it.
FIELDS = ("name", "comments")
STORED = ("id", *FIELDS, "created_at", "updated_at", "version")
# As read: with the epoch each version was written in (migration 0020), which its ETag names.
COLUMNS = (*STORED, "epoch")
# The ids of an application's configurations, in order, in the same statement as the application itself.
CONFIGURATION_IDS = """
    COALESCE((SELECT array_agg(c.id ORDER BY c.id) FROM configurations c WHERE c.application_id = a.id),
             '{}') AS configuration_ids
"""
# If-Match and If-None-Match, checked in the write itself.
PRECONDITIONS = conditions("version", "epoch")

INSERT = f"""
INSERT INTO applications ({names(STORED)})
VALUES ({params(STORED)})
RETURNING {names(COLUMNS)}
"""

SELECT_ONE = f"SELECT {names(COLUMNS)}, {CONFIGURATION_IDS} FROM applications a WHERE a.id = %(id)s"

SELECT_VERSION = "SELECT version, epoch FROM applications WHERE id = %(id)s"

EXISTS = "SELECT 1 FROM applications WHERE id = %(id)s"

SELECT_PAGE = f"SELECT {names(COLUMNS)} FROM applications WHERE {PAGE_AFTER_CURSOR}"

UPDATE = f"""
WITH a AS (
    UPDATE applications
    SET {assign(FIELDS)}, updated_at = %(now)s, version = version + 1
    WHERE id = %(id)s AND {PRECONDITIONS}
    RETURNING {names(COLUMNS)}
)
SELECT {names(COLUMNS)}, {CONFIGURATION_IDS} FROM a
"""

DELETE = f"DELETE FROM applications WHERE id = %(id)s AND {PRECONDITIONS} RETURNING id"

NAME_TAKEN = "An application with this name exists."
MISSING = "No application has this id."


def create(cur, **given: Any) -> Row:
    """A new application of the fields a client sent (FIELDS: `name=...`, `comments=...`)."""
    now = datetime.now(UTC)
    row = write(cur, INSERT, {"id": ulids.new(now), **fields(given, FIELDS), "created_at": now, "updated_at": now,
                              "version": 1}, NAME_TAKEN)
    row["configuration_ids"] = []
    return row


@idempotent
def get(cur, id: str) -> Row:
    return one(cur, SELECT_ONE, {"id": id}, MISSING)


def require(cur, id: str) -> None:
    """NotFound unless application `id` exists: the first step of reading what belongs to it."""
    one(cur, EXISTS, {"id": id}, MISSING)


@idempotent
def page(cur, *, limit: int, cursor: str | None = None, name: str | None = None,
         ids: list[str] | None = None) -> tuple[list[Row], str | None]:
    """One page in id order (of those in `ids` only, when given), and the cursor of the next (None on the last)."""
    cur.execute(SELECT_PAGE, {"cursor": cursor, "name": name, "ids": ids, "limit": limit + 1})
    return split(cur.fetchall(), limit)


def update(cur, id: str, *, when: Preconditions = UNCONDITIONAL, **given: Any) -> Row:
    """Application `id` with the fields a client sent (FIELDS), if `when` holds."""
    row = write(cur, UPDATE, {"id": id, **fields(given, FIELDS), "now": datetime.now(UTC), **when.params()},
                NAME_TAKEN)
    if row is None:
        missing_or_stale(cur, SELECT_VERSION, id, MISSING, when)
    return row


def delete(cur, id: str, *, when: Preconditions = UNCONDITIONAL) -> None:
    cur.execute(DELETE, {"id": id, **when.params()})
    if cur.fetchone() is None:
        missing_or_stale(cur, SELECT_VERSION, id, MISSING, when)
