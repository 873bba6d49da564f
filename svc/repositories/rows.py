"""What the repositories share: one row or a 404, a write whose taken name is a 409, and telling a gone row
from a changed one."""

from typing import Any

import psycopg2.errors

import etags
from problems import Conflict, NotFound, PreconditionFailed

Row = dict[str, Any]


def one(cur, query: str, params: dict[str, Any], missing: str) -> Row:
    """The single row `query` finds, or NotFound(`missing`)."""
    cur.execute(query, params)
    row = cur.fetchone()
    if row is None:
        raise NotFound(missing)
    return row


def write(cur, query: str, params: dict[str, Any], name_taken: str) -> Row | None:
    """Run a write that returns its row; a unique name already taken becomes Conflict(`name_taken`)."""
    try:
        cur.execute(query, params)
    except psycopg2.errors.UniqueViolation:
        raise Conflict(name_taken) from None
    return cur.fetchone()


def missing_or_stale(cur, version_query: str, id: str, missing: str, otherwise: Exception | None = None) -> None:
    """A conditional write touched no row: the row is gone (404), or `otherwise`, or it was changed since the
    version If-Match named (412, with the current ETag)."""
    version = one(cur, version_query, {"id": id}, missing)["version"]
    raise otherwise or PreconditionFailed(etags.make(id, version))
