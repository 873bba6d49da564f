"""What the repositories share: one row or a 404, and telling a gone row from a changed one."""

from typing import Any

import etags
from problems import NotFound, PreconditionFailed

Row = dict[str, Any]


def one(cur, query: str, params: dict[str, Any], missing: str) -> Row:
    """The single row `query` finds, or NotFound(`missing`)."""
    cur.execute(query, params)
    row = cur.fetchone()
    if row is None:
        raise NotFound(missing)
    return row


def missing_or_stale(cur, version_query: str, id: str, missing: str, otherwise: Exception | None = None) -> None:
    """A conditional write touched no row: the row is gone (404), or `otherwise`, or it was changed since the
    version If-Match named (412, with the current ETag)."""
    version = one(cur, version_query, {"id": id}, missing)["version"]
    raise otherwise or PreconditionFailed(etags.make(id, version))
