"""SQL for configurations. Every function takes a cursor first and owns no connection."""

from datetime import UTC, datetime
from typing import Any

import psycopg2.errors
from psycopg2.extras import Json

import pages
import ulids
from problems import Conflict, NotFound, Unprocessable

Row = dict[str, Any]

COLUMNS = "id, application_id, name, comments, config, created_at, updated_at"

INSERT = f"""
INSERT INTO configurations (id, application_id, name, comments, config, created_at, updated_at)
VALUES (%(id)s, %(application_id)s, %(name)s, %(comments)s, %(config)s, %(now)s, %(now)s)
RETURNING {COLUMNS}
"""

SELECT_ONE = f"SELECT {COLUMNS} FROM configurations WHERE id = %(id)s"

APPLICATION_EXISTS = "SELECT 1 FROM applications WHERE id = %(application_id)s"

SELECT_PAGE = f"""
SELECT {COLUMNS} FROM configurations
WHERE application_id = %(application_id)s
  AND (%(cursor)s::varchar IS NULL OR id > %(cursor)s)
  AND (%(name)s::varchar IS NULL OR name = %(name)s)
ORDER BY id
LIMIT %(limit)s
"""

UPDATE = f"""
UPDATE configurations SET name = %(name)s, comments = %(comments)s, config = %(config)s, updated_at = %(now)s
WHERE id = %(id)s
RETURNING {COLUMNS}
"""

DELETE = "DELETE FROM configurations WHERE id = %(id)s RETURNING id"

NAME_TAKEN = "This application has a configuration with this name."
MISSING = "No configuration has this id."
NO_APPLICATION = "No application has this id."


def create(cur, *, application_id: str, name: str, comments: str | None, config: dict[str, Any]) -> Row:
    now = datetime.now(UTC)
    params = {"id": ulids.new(now), "application_id": application_id, "name": name, "comments": comments,
              "config": Json(config), "now": now}
    try:
        cur.execute(INSERT, params)
    except psycopg2.errors.UniqueViolation:
        raise Conflict(NAME_TAKEN) from None
    except psycopg2.errors.ForeignKeyViolation:
        raise Unprocessable.at("/application_id", NO_APPLICATION) from None
    return cur.fetchone()


def get(cur, id: str) -> Row:
    cur.execute(SELECT_ONE, {"id": id})
    row = cur.fetchone()
    if row is None:
        raise NotFound(MISSING)
    return row


def page_of_application(cur, application_id: str, *, limit: int, cursor: str | None = None,
                        name: str | None = None) -> tuple[list[Row], str | None]:
    """One page of an application's configurations in id order, and the next cursor (None on the last page)."""
    cur.execute(APPLICATION_EXISTS, {"application_id": application_id})
    if cur.fetchone() is None:
        raise NotFound(NO_APPLICATION)
    cur.execute(SELECT_PAGE, {"application_id": application_id, "cursor": cursor, "name": name, "limit": limit + 1})
    return pages.split(cur.fetchall(), limit)


def update(cur, id: str, *, name: str, comments: str | None, config: dict[str, Any]) -> Row:
    params = {"id": id, "name": name, "comments": comments, "config": Json(config), "now": datetime.now(UTC)}
    try:
        cur.execute(UPDATE, params)
    except psycopg2.errors.UniqueViolation:
        raise Conflict(NAME_TAKEN) from None
    row = cur.fetchone()
    if row is None:
        raise NotFound(MISSING)
    return row


def delete(cur, id: str) -> None:
    cur.execute(DELETE, {"id": id})
    if cur.fetchone() is None:
        raise NotFound(MISSING)
