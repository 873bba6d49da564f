"""SQL for configurations and their revisions. Every function takes a cursor first and owns no connection.

Every create, update, restore and delete writes the configuration, its revision and its entry in the application's
change feed in one statement. The feed's number comes from `applications.last_change`, raised in that statement:
the application's row lock, held to the commit, makes the numbers follow the commits, without gaps. Creating or
deleting a configuration also bumps its application's version, since the application's representation (its
`configuration_ids`) changed.

One lock order everywhere: the application's row first, then its configurations' rows. Deleting an application
takes them so (its row, then the cascade), and so does every write here: creating one raises `last_change` before it
inserts, and the others lock the owner (`OWNER`) before they touch the configuration. A write that held its
configuration while it waited for the application would deadlock with that deletion, and with a create or rename
waiting on its name.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg2.errors

from db import loop
from db.database import Database, idempotent, prepared
from jsondoc.merge import applied
from wire import jsontext, ulids
from wire.etags import UNCONDITIONAL, Named, Preconditions
from wire.problems import Conflict, NotFound, ServiceUnavailable, Unprocessable
from repositories import applications, changes
from repositories.rows import (NOW, PAGE_AFTER_CURSOR, Row, assign, conditions, copy_into, fields, holds,
                               missing_or_stale, names, one, split, write, written_key)

# The columns a client writes (the contract's ConfigurationUpdate; ConfigurationCreate adds `application_id`), which
# every revision keeps and a restore brings back: a new one is added here and, in one migration, to
# `configurations` and `configuration_revisions`; every statement below reads, writes and copies it.
FIELDS = ("name", "comments", "config")
STORED = ("id", "application_id", *FIELDS, "created_at", "updated_at", "version")
# As read: with the epoch each version was written in (migration 0020), which its ETag names.
COLUMNS = (*STORED, "epoch")
# A revision of the configuration a write returns as the CTE `c`, as the write left it: {column: value}.
REVISION = {"configuration_id": "id", "application_id": "application_id", "version": "version", **{field: field for field in FIELDS},
            "created_at": "updated_at", "created_by": "%(actor)s"}
# As read: with the managed key that made it (migration 0022: the column's default names the key of the transaction).
REVISION_COLUMNS = (*REVISION, "created_by_key_id")
MANY_REVISION = {**REVISION, "created_by": "actor"}
PRECONDITIONS = conditions("c.version", "c.epoch")  # If-Match and If-None-Match, checked in the write itself
# The columns a write sets to the change's time, the clock once it holds the application's row (`changes.ENTRY`).
TIMES = ("created_at", "updated_at")
# The same, for each write of many (`UPDATE_MANY`), from its row `i` of them.
MANY_PRECONDITIONS = (f"(i.versions IS NULL OR {written_key('c.version', 'c.epoch')} = ANY(i.versions::bigint[]))"
                      f" AND i.refused IS NOT NULL AND {written_key('c.version', 'c.epoch')} <> ALL(i.refused::bigint[])")
# The first CTE of a write to an existing configuration: its application's row, locked before the configuration's
# (see the module's docstring). A configuration never moves, so its `application_id` read here stays true. The
# write's `c` joins it, so its rows are locked only once this has locked the owner; a missing configuration (or one
# deleted with its application meanwhile) locks nothing and writes nothing.
OWNER = """
WITH owner AS MATERIALIZED (
    SELECT id FROM applications WHERE id = (SELECT application_id FROM configurations WHERE id = %(id)s)
    FOR NO KEY UPDATE
)
"""
# Appended to a CTE `c` returning the changed configuration and a CTE `a` returning its application's `id` and
# `last_change` (already raised): records the change in the feed.
WITH_CHANGE = f"""
, f AS (
    {copy_into("changes", changes.ENTRY)} FROM c JOIN a ON a.id = c.application_id
)
"""
# Appended to CTEs `c` and `a` as above: records the change and the revision, answers the configuration.
WITH_CHANGE_AND_REVISION = f"""{WITH_CHANGE}
, r AS (
    {copy_into("configuration_revisions", REVISION)} FROM c
)
SELECT {names(COLUMNS)} FROM c
"""
# Appended to a CTE `c` returning a changed configuration of an unchanged application: numbers the change first,
# at the time the configuration took (`changes.ENTRY`).
WITH_REVISION = """
, a AS (
    UPDATE applications SET last_change = last_change + 1 WHERE id = (SELECT application_id FROM c)
    RETURNING id, last_change, (SELECT updated_at FROM c) AS at
)
""" + WITH_CHANGE_AND_REVISION

INSERT = prepared(f"""
WITH a AS (
    UPDATE applications SET version = version + 1, last_change = last_change + 1 WHERE id = %(application_id)s
    RETURNING id, last_change, {NOW} AS at
), c AS (
    INSERT INTO configurations ({names(STORED)})
    SELECT {", ".join("a.at" if column in TIMES else f"%({column})s" for column in STORED)}
    FROM a
    RETURNING {names(COLUMNS)}
)
""" + WITH_CHANGE_AND_REVISION)

SELECT_ONE = prepared(f"SELECT {names(COLUMNS)} FROM configurations WHERE id = %(id)s")

SELECT_VERSION = prepared("SELECT version, epoch FROM configurations WHERE id = %(id)s")

SELECT_PAGE = f"SELECT {names(COLUMNS)} FROM configurations WHERE application_id = %(application_id)s AND {PAGE_AFTER_CURSOR}"

UPDATE = prepared(OWNER + f"""
, c AS (
    UPDATE configurations c
    SET {assign(FIELDS)}, updated_at = {NOW}, version = c.version + 1
    FROM owner
    WHERE c.id = %(id)s AND c.application_id = owner.id AND {PRECONDITIONS}
    RETURNING {names(COLUMNS, of="c")}
)
""" + WITH_REVISION)

# `UPDATE` for many configurations at once (db/loop.py's `batched`): each parameter an array of one element per
# write (`i`, numbered `n`). One write per application is made (`j`'s `rank` 1, the first to come): its change is its
# own in the application's feed, as a statement of its own would make it, and the others of that application are
# answered `deferred`, unwritten, for the next statement. The statement waits for no lock: an application another
# transaction holds is skipped, its write answered `busy`, unwritten (it runs alone, and waits there); so is a
# rename to a name taken (alone, it is refused by the unique index: one such write never undoes the others). Each
# configuration is changed where its own preconditions hold. Answers each write found: deferred, busy, or written
# (its row), or none of these (refused by its preconditions), and the application it is of (`owner`); a write of a
# configuration missing is not answered. `applications_first`, which no part uses, makes PostgreSQL lock
# `applications` before `configurations` as it reads the statement, as the other writes and a TRUNCATE of both do:
# else preparing it on a new connection while one ran deadlocked with it.
# Each step reaches the rows of the step before it through a key (`owner` carries the writes whose application it
# locked, `a` the changes of the applications it numbered), never by matching two of the statement's own lists: the
# generic plan expects one row of each, so such a match was a loop of every row of one over every row of the other,
# 32 x 32 comparisons twice in a statement of 32 writes (1.41-1.47 ms against 1.57-1.60, one connection, 2026-12-05).
# `owner` has the columns of `j` (its `id` is the configuration's; the application's is `application_id`), one row
# per application (rank 1): `a` raises each application's `last_change` once, and returns the one change of it.
UPDATE_MANY = f"""
WITH applications_first AS (SELECT FROM applications WHERE false), i AS (
    SELECT * FROM unnest(%(id)s::varchar[], %(name)s::varchar[], %(comments)s::varchar[], %(config)s::text[],
                         %(versions)s::text[], %(refused)s::text[], %(actor)s::varchar[], %(kind)s::varchar[])
        WITH ORDINALITY AS i(id, name, comments, config, versions, refused, actor, kind, n)
), j AS (
    SELECT i.*, cf.application_id, row_number() OVER (PARTITION BY cf.application_id ORDER BY i.n) AS rank,
           CASE WHEN i.name = cf.name THEN false  -- (a name kept is its own: the unique index says no other has it)
                ELSE EXISTS (SELECT 1 FROM configurations x WHERE x.application_id = cf.application_id
                                                              AND x.name = i.name AND x.id <> i.id) END AS taken
    FROM i JOIN configurations cf ON cf.id = i.id
), owner AS MATERIALIZED (
    SELECT i.* FROM j i JOIN applications ap ON ap.id = i.application_id WHERE i.rank = 1
    FOR NO KEY UPDATE OF ap SKIP LOCKED
), c AS (
    UPDATE configurations c
    SET name = i.name, comments = i.comments, config = i.config::jsonb, updated_at = {NOW},
        version = c.version + 1
    FROM owner i
    WHERE NOT i.taken AND c.id = i.id AND c.application_id = i.application_id AND {MANY_PRECONDITIONS}
    RETURNING {names(COLUMNS, of="c")}, i.n, i.actor, i.kind
), a AS (
    UPDATE applications ap SET last_change = ap.last_change + 1 FROM c WHERE ap.id = c.application_id
    RETURNING ap.id, ap.last_change, c.kind, c.id AS configuration_id, c.name, c.version, c.updated_at, c.actor
), f AS (
    INSERT INTO changes (application_id, seq, kind, configuration_id, name, version, changed_at, recorded_at,
                         changed_by)
    SELECT id, last_change, kind, configuration_id, name, version, updated_at, updated_at, actor FROM a
), r AS (
    {copy_into("configuration_revisions", MANY_REVISION)} FROM c
)
SELECT j.n, j.rank > 1 AS deferred,
       j.rank = 1 AND (j.application_id NOT IN (SELECT application_id FROM owner) OR j.taken) AS busy,
       c.n IS NOT NULL AS written, j.application_id AS owner,
       {names(COLUMNS, of="c")}
FROM j LEFT JOIN c ON c.n = j.n
"""
loop.batched(UPDATE, UPDATE_MANY, lists=("versions", "refused"))

RESTORE = prepared(OWNER + f"""
, source AS (
    SELECT {names(FIELDS)} FROM configuration_revisions
    WHERE configuration_id = %(id)s AND version = %(revision)s
), c AS (
    UPDATE configurations c
    SET {assign(FIELDS, of="s")}, updated_at = {NOW}, version = c.version + 1
    FROM source s, owner
    WHERE c.id = %(id)s AND c.application_id = owner.id AND {PRECONDITIONS}
    RETURNING {names(COLUMNS, of="c")}
)
""" + WITH_REVISION)

# A deletion deletes the configuration's overrides first, each with its own feed entry (in environment id order),
# then the configuration's entry, numbered last.
DELETE = prepared(OWNER + f"""
, c AS (
    DELETE FROM configurations c USING owner
    WHERE c.id = %(id)s AND c.application_id = owner.id AND {PRECONDITIONS}
    RETURNING c.id, c.application_id, c.name, c.version
), od AS (
    DELETE FROM overrides o WHERE o.configuration_id = (SELECT id FROM c)
    RETURNING o.environment_id, o.version
), a AS (
    UPDATE applications SET version = version + 1, last_change = last_change + 1 + (SELECT count(*) FROM od)
    WHERE id = (SELECT application_id FROM c)
    RETURNING id, last_change, {NOW} AS at
), fo AS (
    INSERT INTO changes (application_id, seq, kind, configuration_id, name, version, changed_at, recorded_at,
                         changed_by, environment_id, environment)
    SELECT a.id, a.last_change - row_number() OVER (ORDER BY od.environment_id DESC), 'deleted', c.id, c.name,
           od.version, a.at, a.at, %(actor)s, od.environment_id, e.name
    FROM od JOIN environments e ON e.id = od.environment_id, a, c
)
{WITH_CHANGE}
SELECT application_id FROM c
""")

SELECT_REVISIONS = f"""
SELECT {names(REVISION_COLUMNS)} FROM configuration_revisions
WHERE configuration_id = %(id)s AND (%(cursor)s::int IS NULL OR version < %(cursor)s::int)
ORDER BY version DESC
LIMIT %(limit)s
"""

SELECT_REVISION = f"SELECT {names(REVISION_COLUMNS)} FROM configuration_revisions WHERE configuration_id = %(id)s AND version = %(version)s"

ANY_REVISION = "SELECT 1 FROM configuration_revisions WHERE configuration_id = %(id)s LIMIT 1"

NAME_TAKEN = "This application has a configuration with this name."
MISSING = "No configuration has this id."
# A restore of a revision of a configuration deleted since: its revisions are kept, but it is not made again in place.
DELETED = ("This configuration was deleted; its revisions are kept (GET its revisions), but it is not restored in "
           "place: create it again with a revision's content (POST /api/v1/configurations), or import an export "
           "of a position before the deletion.")
NO_REVISION = "This configuration has no revision with this version."
PRUNED_REVISION = ("This revision was pruned: its configuration's history before a time an operator chose was "
                   "dropped (`make prune`).")
# The last version a configuration had: live or deleted (its revisions), None when it never existed or its history
# went with its application.
LATEST = """SELECT greatest((SELECT version FROM configurations WHERE id = %(id)s),
                             (SELECT max(version) FROM configuration_revisions WHERE configuration_id = %(id)s)) AS latest"""


def create(cur, *, application_id: str, actor: str | None = None, **given: Any) -> Row:
    """A new configuration of application `application_id`, of the fields a client sent (FIELDS)."""
    now = datetime.now(UTC)
    values = {"id": ulids.new(now), "application_id": application_id, **fields(given, FIELDS), "version": 1,
              "actor": actor, "kind": "created"}
    row = write(cur, INSERT, values, NAME_TAKEN)
    if row is None:
        raise Unprocessable.at("/application_id", applications.MISSING)
    return row


@idempotent
def get(cur, id: str) -> Row:
    return one(cur, SELECT_ONE, {"id": id}, MISSING)


@idempotent
def touch(cur, id: str) -> None:
    """Read configuration `id`'s version, and nothing else of it: the read `get` makes of an id that is no
    configuration's, for one a key may not see (`live/scopes.as_missing`)."""
    cur.execute(SELECT_VERSION, {"id": id})
    cur.fetchall()


@idempotent
def page(cur, application_id: str, *, limit: int, cursor: str | None = None,
                        name: str | None = None) -> tuple[list[Row], str | None]:
    """One page of an application's configurations in id order, and the next cursor (None on the last page)."""
    applications.require(cur, application_id)
    cur.execute(SELECT_PAGE, {"application_id": application_id, "cursor": cursor, "name": name, "ids": None,
                              "limit": limit + 1})
    return split(cur.fetchall(), limit)


def update(cur, id: str, *, when: Preconditions = UNCONDITIONAL, actor: str | None = None, **given: Any) -> Row:
    """Configuration `id` with the fields a client sent (FIELDS), if `when` holds; a new revision."""
    row = write(cur, UPDATE, _update_values(id, when, actor, given), NAME_TAKEN)
    if row is None:
        missing_or_stale(cur, SELECT_VERSION, id, MISSING, when)
    return row


async def update_now(db: Database, id: str, *, when: Preconditions = UNCONDITIONAL, actor: str | None = None,
                     key_id: str | None = None, **given: Any) -> Row:
    """`update`, its statement on the event loop (db/loop.py); `key_id`: the managed API key that makes it."""
    try:
        row = await loop.first_row(db, UPDATE, lambda: _update_values(id, when, actor, given), key_id=key_id,
                                   item=id)
    except psycopg2.errors.UniqueViolation:
        raise Conflict(NAME_TAKEN) from None
    if row is None:
        await db.run(_missing_or_stale, id, when)
    return row


update.now = update_now  # type: ignore[attr-defined]


# How many times a PATCH merges and writes: the first try merges into the version it read and writes only if that is
# still the current one; if not, it locks the configuration's application as every write does first (`LOCK_OWNER`),
# and the next try merges under that lock, and writes. A third is for a write not made through the service, which may
# not lock the application first; past it, 503.
PATCH_TRIES = 3
LOCK_OWNER = prepared("SELECT 1 FROM applications WHERE id = (SELECT application_id FROM configurations WHERE id = %(id)s) "
                      "FOR NO KEY UPDATE")
CHANGED_UNDER_PATCH = "The configuration changed under each try of this patch; try again."


def patch(cur, id: str, *, patch: dict[str, Any], when: Preconditions = UNCONDITIONAL, actor: str | None = None,
          check: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = lambda merged, current: merged) -> Row:
    """Configuration `id` with `patch`, an RFC 7396 merge patch of its fields (FIELDS: `config` merged key by key,
    `null` removing), applied to its current version if `when` holds for it; a new revision. Run in a transaction:
    the merge is written with the UPDATE of a PUT, conditional on the version it was made from, so a write that
    landed in between is merged into on the next try, under the application's lock taken then (as every write takes
    it, before the configuration's): no lock is held while merging uncontended.
    Patches and writes of one configuration so take their turns, none lost. `check(merged, current)` refuses merged
    fields the limits do not allow, and returns them as they are written."""
    for _ in range(PATCH_TRIES):
        row = get(cur, id)
        holds(id, row, when)
        current = {"name": row["name"], "comments": row["comments"], "config": jsontext.loads(row["config"])}
        merged = check(applied(current, patch), current)
        read = Preconditions(match=[Named(row["version"], row["epoch"])])
        written = write(cur, UPDATE, _update_values(id, read, actor, merged), NAME_TAKEN)
        if written is not None:
            return written
        cur.execute(LOCK_OWNER, {"id": id})  # (the statement's own lock is not taken when it finds no row to write)
    raise ServiceUnavailable(CHANGED_UNDER_PATCH)


def _update_values(id: str, when: Preconditions, actor: str | None, given: dict[str, Any]) -> dict[str, Any]:
    return {"id": id, **fields(given, FIELDS), **when.params(), "actor": actor, "kind": "updated"}


@idempotent
def _missing_or_stale(cur, id: str, when: Preconditions) -> None:
    missing_or_stale(cur, SELECT_VERSION, id, MISSING, when)


def restore(cur, id: str, revision: int, *, when: Preconditions = UNCONDITIONAL, actor: str | None = None) -> Row:
    """Make revision `revision`'s content current, as a new version and a new revision."""
    values = {"id": id, "revision": revision, **when.params(), "actor": actor, "kind": "restored"}
    row = write(cur, RESTORE, values, NAME_TAKEN)
    if row is None:
        cur.execute(SELECT_REVISION, {"id": id, "version": revision})
        gone = NotFound(no_revision(cur, id, revision) or NO_REVISION) if cur.fetchone() is None else None
        cur.execute(ANY_REVISION, {"id": id})
        missing_or_stale(cur, SELECT_VERSION, id, MISSING if cur.fetchone() is None else DELETED, when,
                         otherwise=gone)
    return row


def delete(cur, id: str, *, when: Preconditions = UNCONDITIONAL, actor: str | None = None) -> None:
    cur.execute(DELETE, {"id": id, **when.params(), "actor": actor, "kind": "deleted"})
    if cur.fetchone() is None:
        missing_or_stale(cur, SELECT_VERSION, id, MISSING, when)


@idempotent
def revision_page(cur, id: str, *, limit: int, cursor: str | None = None) -> tuple[list[Row], str | None]:
    """One page of a configuration's revisions, newest first (also of one deleted since: its history is kept), and
    the next cursor (None on the last page)."""
    cur.execute(SELECT_REVISIONS, {"id": id, "cursor": cursor, "limit": limit + 1})
    rows = cur.fetchall()
    if not rows:  # past its last page, or pruned: 404 only for an id no configuration has had
        cur.execute(ANY_REVISION, {"id": id})
        if cur.fetchone() is None:
            one(cur, SELECT_VERSION, {"id": id}, MISSING)
    return split(rows, limit, key="version")


@idempotent
def revision(cur, id: str, version: int) -> Row:
    cur.execute(SELECT_REVISION, {"id": id, "version": version})
    row = cur.fetchone()
    if row is None:  # 404 for the configuration first (never had, or its history gone), then for the revision
        raise NotFound(no_revision(cur, id, version) or MISSING)
    return row


def no_revision(cur, id: str, version: int) -> str | None:
    """Why configuration `id` has no revision `version`: pruned (PRUNED_REVISION), or never written (NO_REVISION);
    None when the configuration never was (or its history went with its application)."""
    cur.execute(LATEST, {"id": id})
    latest = cur.fetchone()["latest"]
    if latest is None:
        return None
    # Versions count 1, 2, 3, ... and only `make prune` drops a revision: one at or below the last is pruned.
    return PRUNED_REVISION if version <= latest else NO_REVISION
