"""SQL for environments: named once for the whole service, a tree through `parent_id`. Every function takes a cursor
first and owns no connection.

The tree's rules (no cycle, a chain of at most `MAX_DEPTH` environments) are about several rows, so the writes that
could break them (create, re-parent, delete) take one transaction-scoped advisory lock first and check, then write:
two re-parentings cannot each pass the check and together make a cycle. Such writes are rare; reads never wait
for it. They run in a transaction (`transaction=True`).
"""

from datetime import UTC, datetime

from db.database import idempotent
from repositories.rows import PAGE_AFTER_CURSOR, Row, holds, one, split, write
from wire import ulids
from wire.etags import UNCONDITIONAL, Preconditions
from wire.problems import Conflict, Unprocessable

MAX_DEPTH = 8  # environments in one chain, root to leaf
COLUMNS = "id, name, parent_id, comments, created_at, updated_at, version, epoch"
LOCK = "SELECT pg_advisory_xact_lock(hashtext('config-service environments tree'))"

INSERT = f"""
INSERT INTO environments (id, name, parent_id, comments, created_at, updated_at, version)
VALUES (%(id)s, %(name)s, %(parent_id)s, %(comments)s, %(now)s, %(now)s, 1)
RETURNING {COLUMNS}
"""
SELECT_ONE = f"SELECT {COLUMNS} FROM environments WHERE id = %(id)s"
SELECT_VERSION = "SELECT version, epoch FROM environments WHERE id = %(id)s"
LOCK_ONE = "SELECT version, epoch FROM environments WHERE id = %(id)s FOR UPDATE"
SELECT_PAGE = f"SELECT {COLUMNS} FROM environments WHERE {PAGE_AFTER_CURSOR}"
# The chain from `id` up to its root, `id` first.
ANCESTORS = """
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT id, parent_id, 1 FROM environments WHERE id = %(id)s
    UNION ALL
    SELECT e.id, e.parent_id, up.depth + 1 FROM environments e JOIN up ON e.id = up.parent_id WHERE up.depth <= 64
)
SELECT id FROM up ORDER BY depth
"""
# `id` and everything below it, with each one's distance from `id` (0 for itself).
DESCENDANTS = """
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM environments WHERE id = %(id)s
    UNION ALL
    SELECT e.id, down.depth + 1 FROM environments e JOIN down ON e.parent_id = down.id WHERE down.depth <= 64
)
SELECT id, depth FROM down
"""
UPDATE = f"""
UPDATE environments
SET name = %(name)s, parent_id = %(parent_id)s, comments = %(comments)s, updated_at = %(now)s, version = version + 1
WHERE id = %(id)s
RETURNING {COLUMNS}
"""
HOLDERS = """
SELECT (SELECT array_agg(name ORDER BY name) FROM (SELECT name FROM environments WHERE parent_id = %(id)s
                                                 ORDER BY name LIMIT 5) first) AS children,
       (SELECT count(*) FROM environments WHERE parent_id = %(id)s) AS child_count,
       (SELECT count(*) FROM overrides WHERE environment_id = %(id)s) AS override_count,
       (SELECT array_agg(label ORDER BY label) FROM (
            SELECT a.name || '/' || c.name AS label
            FROM overrides o JOIN configurations c ON c.id = o.configuration_id
                             JOIN applications a ON a.id = c.application_id
            WHERE o.environment_id = %(id)s ORDER BY label LIMIT 5) first) AS overridden
"""
# Deleted, it is kept with the name it has now, for the reads of the past that name it (a trigger: migration 0023).
DELETE = "DELETE FROM environments WHERE id = %(id)s"

NAME_TAKEN = "An environment with this name exists."
MISSING = "No environment has this id."
NO_PARENT = "No environment has this id."


def _parent_chain(cur, parent_id: str) -> list[str]:
    cur.execute(ANCESTORS, {"id": parent_id})
    chain = [row["id"] for row in cur.fetchall()]
    if not chain:
        raise Unprocessable.at("/parent_id", NO_PARENT)
    return chain


def _too_deep(depth: int) -> Unprocessable:
    return Unprocessable.at("/parent_id", f"This parent would make a chain of {depth} environments; a chain holds at "
                                          f"most {MAX_DEPTH}.")


def create(cur, *, name: str, parent_id: str | None, comments: str | None) -> Row:
    cur.execute(LOCK)
    if parent_id is not None and (depth := len(_parent_chain(cur, parent_id)) + 1) > MAX_DEPTH:
        raise _too_deep(depth)
    now = datetime.now(UTC)
    return write(cur, INSERT, {"id": ulids.new(now), "name": name, "parent_id": parent_id, "comments": comments,
                               "now": now}, NAME_TAKEN)


def _locked(cur, id: str, when: Preconditions) -> int:
    """The environment's version, its row locked; 404 when it does not exist, 412 when `when` refuses it."""
    row = one(cur, LOCK_ONE, {"id": id}, MISSING)
    holds(id, row, when)
    return row["version"]


@idempotent
def get(cur, id: str) -> Row:
    return one(cur, SELECT_ONE, {"id": id}, MISSING)


@idempotent
def page(cur, *, limit: int, cursor: str | None = None, name: str | None = None,
         ids: list[str] | None = None) -> tuple[list[Row], str | None]:
    """One page in id order (of those in `ids` only, when given), and the cursor of the next (None on the last)."""
    cur.execute(SELECT_PAGE, {"cursor": cursor, "name": name, "ids": ids, "limit": limit + 1})
    return split(cur.fetchall(), limit)


def update(cur, id: str, *, name: str, parent_id: str | None, comments: str | None,
           when: Preconditions = UNCONDITIONAL) -> Row:
    cur.execute(LOCK)
    _locked(cur, id, when)
    if parent_id is not None:
        cur.execute(DESCENDANTS, {"id": id})
        below = {row["id"]: row["depth"] for row in cur.fetchall()}
        if parent_id in below:
            raise Unprocessable.at("/parent_id", "An environment cannot inherit itself or one of its descendants.")
        depth = len(_parent_chain(cur, parent_id)) + 1 + max(below.values())
        if depth > MAX_DEPTH:
            raise _too_deep(depth)
    return write(cur, UPDATE, {"id": id, "name": name, "parent_id": parent_id, "comments": comments,
                               "now": datetime.now(UTC)}, NAME_TAKEN)


def delete(cur, id: str, *, when: Preconditions = UNCONDITIONAL) -> None:
    cur.execute(LOCK)
    _locked(cur, id, when)
    cur.execute(HOLDERS, {"id": id})
    held = cur.fetchone()
    reasons = []
    if held["child_count"]:
        named = ", ".join(held["children"]) + (", ..." if held["child_count"] > len(held["children"]) else "")
        reasons.append(f"{held['child_count']} child environment(s) ({named}): re-parent or delete them")
    if held["override_count"]:  # (named: the key that deletes an environment sees every application)
        named = ", ".join(held["overridden"]) + (", ..." if held["override_count"] > len(held["overridden"]) else "")
        reasons.append(f"{held['override_count']} override(s) of configurations in it ({named}): delete them")
    if reasons:
        raise Conflict("This environment is still in use: " + "; ".join(reasons) + ".")
    cur.execute(DELETE, {"id": id})
