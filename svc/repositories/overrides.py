"""SQL for overrides: a configuration's merge patch in one environment, with revisions and feed entries. Every
function takes a cursor first and owns no connection.

Writes follow the configurations' rules (repositories/configurations.py): one statement writes the override, its
revision and its entry in the application's change feed, after locking the application's row first (`OWNER`). An
override's numbering continues after its last revision, also when it was deleted and is set again.
"""

import functools
from typing import Any

import psycopg2.errors
from psycopg2.extras import Json

from db import loop
from db.database import Database, as_key, idempotent, prepared
from repositories.configurations import LOCK_OWNER, MANY_PRECONDITIONS, OWNER
from repositories.rows import NOW, Row, conditions, one, split, stale
from wire import jsontext
from wire.etags import UNCONDITIONAL, Preconditions
from wire.problems import NotFound, PreconditionFailed

COLUMNS = "configuration_id, environment_id, patch, comments, created_at, updated_at, version, epoch"
WRITTEN_REVISION_COLUMNS = "configuration_id, environment_id, version, patch, comments, created_at, created_by"
# As read: with the managed key that made it (migration 0022: the column's default names the key of the transaction).
REVISION_COLUMNS = WRITTEN_REVISION_COLUMNS + ", created_by_key_id"
KEY = "configuration_id = %(id)s AND environment_id = %(environment_id)s"


def _recorded(kind: str, *, guard: str = "true", revision: bool = True, at: str = "(SELECT updated_at FROM o)") -> str:
    """The CTEs after a CTE `o` that wrote one override (returning its columns and `application_id`): the change's
    number in its application's feed, its feed entry of `kind` (an SQL expression) naming the environment, where
    `guard` holds, and (with `revision`) its revision. `at`: the change's time, the override's `updated_at` (the
    clock once the write held its application's row, as `repositories.changes.ENTRY` says)."""
    tail = f"""
, a AS (
    UPDATE applications SET last_change = last_change + 1 WHERE id = (SELECT application_id FROM o)
    RETURNING id, last_change, {at} AS at
), f AS (
    INSERT INTO changes (application_id, seq, kind, configuration_id, name, version, changed_at, recorded_at,
                         changed_by, environment_id, environment)
    SELECT a.id, a.last_change, {kind}, o.configuration_id, c.name, o.version, a.at, a.at, %(actor)s,
           o.environment_id, e.name
    FROM o, a, configurations c, environments e
    WHERE c.id = o.configuration_id AND e.id = o.environment_id AND ({guard})
)"""
    if revision:
        tail += f"""
, r AS (
    INSERT INTO override_revisions ({WRITTEN_REVISION_COLUMNS}, application_id)
    SELECT configuration_id, environment_id, version, patch, comments, updated_at, %(actor)s, application_id FROM o
)"""
    return tail


# Appended to `OWNER` and a CTE `source` of one row (patch, comments): creates the override (when none exists and
# no If-Match was sent) or replaces it (when the preconditions accept its version), and records the
# revision and the feed entry, answering the override and whether it was created. `ON CONFLICT` decides between
# the two on the latest committed row, also when another write changed it while this one waited for the owner.
# With an If-Match (naming a version, or `*`: `current`) and no override to replace, the feed entry's guard raises
# `NO_CURRENT` (SQLSTATE CS412, migration 0008): the statement stops, nothing is written, and `put` answers 412.
UPSERT = f"""
, cfg AS (
    SELECT c.id, c.application_id, c.name, {NOW} AS at
    FROM configurations c JOIN owner ON owner.id = c.application_id
    WHERE c.id = %(id)s
), env AS (
    SELECT id, name FROM environments WHERE id = %(environment_id)s FOR KEY SHARE
), last AS (
    SELECT coalesce(max(version), 0) AS version FROM override_revisions WHERE {KEY}
), o AS (
    INSERT INTO overrides AS o (configuration_id, environment_id, application_id, patch, comments, created_at,
                                updated_at, version)
    SELECT cfg.id, env.id, cfg.application_id, source.patch, source.comments, cfg.at, cfg.at, last.version + 1
    FROM cfg, env, last, source
    ON CONFLICT (configuration_id, environment_id) DO UPDATE
    SET patch = EXCLUDED.patch, comments = EXCLUDED.comments, updated_at = EXCLUDED.updated_at,
        version = o.version + 1
    WHERE {conditions("o.version", "o.epoch")}
    RETURNING {", ".join("o." + column for column in COLUMNS.split(", "))}, o.application_id,
              o.created_at = o.updated_at AND o.version = (SELECT version FROM last) + 1 AS created
)""" + _recorded("CASE WHEN %(kind)s = 'restored' THEN 'restored' WHEN o.created THEN 'created' ELSE 'updated' END",
                   guard="NOT o.created OR (%(versions)s::bigint[] IS NULL AND NOT %(current)s::boolean) "
                         "OR config_service_refuse('CS412')") + f"""
SELECT {COLUMNS}, created FROM o
"""
PUT = prepared(OWNER + ", source AS (SELECT %(patch)s::jsonb AS patch, %(comments)s::varchar AS comments)" + UPSERT)
# What `PUT` does when the override exists and the preconditions accept its version, as an UPDATE (as a
# configuration's is): without the insert that `ON CONFLICT` tries first, the override's PUT costs what a
# configuration's does. Nothing when it does not exist, or when they refuse its version: `PUT` then decides.
REPLACE = prepared(OWNER + f"""
, o AS (
    UPDATE overrides o SET patch = %(patch)s::jsonb, comments = %(comments)s, updated_at = {NOW},
                           version = o.version + 1
    FROM owner
    WHERE o.configuration_id = %(id)s AND o.environment_id = %(environment_id)s AND o.application_id = owner.id
      AND {conditions("o.version", "o.epoch")}
    RETURNING {", ".join("o." + column for column in COLUMNS.split(", "))}, o.application_id
)""" + _recorded("'updated'") + f"""
SELECT {COLUMNS}, false AS created FROM o
""")
# `REPLACE` for many overrides at once (db/loop.py's `batched`), as configurations.UPDATE_MANY is `UPDATE`'s: one
# write per application, the others of it deferred; a write of an application another transaction holds, or in an
# environment one holds, busy (a revision referred to its environment until migration 0023, and waited for a change
# of it; alone, such a write now waits for nothing of the environment's). `applications_first`:
# `applications` locked before `configurations`, as UPDATE_MANY's; and, as there, each step reaches the rows of the
# step before it through a key, not by matching two of the statement's own lists.
REPLACE_MANY = f"""
WITH applications_first AS (SELECT FROM applications WHERE false), i AS (
    SELECT * FROM unnest(%(id)s::varchar[], %(environment_id)s::varchar[], %(patch)s::text[], %(comments)s::varchar[],
                         %(versions)s::text[], %(refused)s::text[], %(actor)s::varchar[])
        WITH ORDINALITY AS i(id, environment_id, patch, comments, versions, refused, actor, n)
), j AS (
    SELECT i.*, cf.application_id, row_number() OVER (PARTITION BY cf.application_id ORDER BY i.n) AS rank
    FROM i JOIN configurations cf ON cf.id = i.id
), owner AS MATERIALIZED (
    SELECT i.* FROM j i JOIN applications ap ON ap.id = i.application_id WHERE i.rank = 1
    FOR NO KEY UPDATE OF ap SKIP LOCKED
), env AS MATERIALIZED (
    SELECT id FROM environments WHERE id IN (SELECT environment_id FROM j WHERE rank = 1)
    FOR KEY SHARE SKIP LOCKED
), o AS (
    UPDATE overrides o SET patch = i.patch::jsonb, comments = i.comments, updated_at = {NOW},
                           version = o.version + 1
    FROM owner i, env
    WHERE o.configuration_id = i.id AND o.environment_id = i.environment_id
      AND o.application_id = i.application_id AND env.id = i.environment_id
      AND {MANY_PRECONDITIONS.replace("c.version", "o.version").replace("c.epoch", "o.epoch")}
    RETURNING {", ".join("o." + column for column in COLUMNS.split(", "))}, o.application_id, i.n, i.actor
), a AS (
    UPDATE applications ap SET last_change = ap.last_change + 1 FROM o WHERE ap.id = o.application_id
    RETURNING ap.id, ap.last_change, o.configuration_id, o.version, o.updated_at, o.actor, o.environment_id
), f AS (
    INSERT INTO changes (application_id, seq, kind, configuration_id, name, version, changed_at, recorded_at,
                         changed_by, environment_id, environment)
    SELECT a.id, a.last_change, 'updated', a.configuration_id, c.name, a.version, a.updated_at, a.updated_at,
           a.actor, a.environment_id, e.name
    FROM a JOIN configurations c ON c.id = a.configuration_id JOIN environments e ON e.id = a.environment_id
), r AS (
    INSERT INTO override_revisions ({WRITTEN_REVISION_COLUMNS}, application_id)
    SELECT configuration_id, environment_id, version, patch, comments, updated_at, actor, application_id FROM o
)
SELECT j.n, j.rank > 1 AS deferred,
       j.rank = 1 AND (j.application_id NOT IN (SELECT application_id FROM owner)
                       OR j.environment_id NOT IN (SELECT id FROM env))
           AS busy,
       o.n IS NOT NULL AS written, j.application_id AS owner,
       {", ".join("o." + column for column in COLUMNS.split(", "))}, false AS created
FROM j LEFT JOIN o ON o.n = j.n
"""
loop.batched(REPLACE, REPLACE_MANY, lists=("versions", "refused"))

RESTORE = prepared(OWNER + f""", source AS (
    SELECT patch, comments FROM override_revisions WHERE {KEY} AND version = %(revision)s
)""" + UPSERT)

DELETE = prepared(OWNER + f"""
, o AS (
    DELETE FROM overrides o USING owner
    WHERE o.configuration_id = %(id)s AND o.environment_id = %(environment_id)s AND o.application_id = owner.id
      AND {conditions("o.version", "o.epoch")}
    RETURNING o.configuration_id, o.environment_id, o.application_id, o.version
)""" + _recorded("'deleted'", revision=False, at=NOW) + f"""
SELECT version FROM o
""")

SELECT_ONE = prepared(f"SELECT {COLUMNS} FROM overrides WHERE {KEY}")
SELECT_VERSION = prepared(f"SELECT version, epoch FROM overrides WHERE {KEY}")
CONFIGURATION_EXISTS = "SELECT 1 FROM configurations WHERE id = %(id)s"
ENVIRONMENT_EXISTS = "SELECT 1 FROM environments WHERE id = %(environment_id)s"
SELECT_PAGE = f"""
SELECT {COLUMNS} FROM overrides
WHERE configuration_id = %(id)s AND (%(cursor)s::varchar IS NULL OR environment_id > %(cursor)s)
  AND (%(environments)s::varchar[] IS NULL OR environment_id = ANY(%(environments)s::varchar[]))
ORDER BY environment_id
LIMIT %(limit)s
"""
SELECT_REVISIONS = f"""
SELECT {REVISION_COLUMNS} FROM override_revisions
WHERE {KEY} AND (%(cursor)s::int IS NULL OR version < %(cursor)s::int)
ORDER BY version DESC
LIMIT %(limit)s
"""
SELECT_REVISION = f"SELECT {REVISION_COLUMNS} FROM override_revisions WHERE {KEY} AND version = %(version)s"
ANY_REVISION = f"SELECT 1 FROM override_revisions WHERE {KEY} LIMIT 1"

NO_CONFIGURATION = "No configuration has this id."
NO_ENVIRONMENT = "No environment has this id."
MISSING = "This configuration has no override in this environment."
NO_REVISION = "This override has no revision with this version."
PRUNED_REVISION = ("This revision was pruned: its override's history before a time an operator chose was dropped "
                   "(`make prune`).")
# The last version an override's revisions have: `make prune` keeps it, and only `make prune` drops one.
LATEST_REVISION = f"SELECT max(version) AS latest FROM override_revisions WHERE {KEY}"


def _key(id: str, environment_id: str) -> dict[str, str]:
    return {"id": id, "environment_id": environment_id}


def no_revision(cur, id: str, environment_id: str, version: int) -> str:
    """Why the override has no revision `version` (its override known to exist, or to have existed): pruned, when
    a later one is kept (versions count 1, 2, 3, ...), or never written."""
    cur.execute(LATEST_REVISION, _key(id, environment_id))
    latest = cur.fetchone()["latest"]
    return PRUNED_REVISION if latest is not None and version <= latest else NO_REVISION


def _exists(cur, id: str, environment_id: str) -> None:
    """404 naming what is missing: the configuration, or the environment."""
    one(cur, CONFIGURATION_EXISTS, {"id": id}, NO_CONFIGURATION)
    one(cur, ENVIRONMENT_EXISTS, {"environment_id": environment_id}, NO_ENVIRONMENT)


def _refused(cur, id: str, environment_id: str, when: Preconditions) -> None:
    """A write wrote nothing: say why. 404 for a missing configuration or environment; else the preconditions
    failed: 412 with the current ETag, or (no override, If-Match naming a version) 412 without one."""
    _exists(cur, id, environment_id)
    cur.execute(SELECT_VERSION, _key(id, environment_id))
    row = cur.fetchone()
    tag = f"{id}.{environment_id}"
    if row is None:
        raise PreconditionFailed(None, detail=PreconditionFailed.NO_CURRENT)
    stale(tag, row["version"], row["epoch"], when)


def _locked(cur, id: str) -> None:
    """Lock the application of configuration `id` in a statement of its own, before the one statement that writes
    the override where it may not exist, or may have been replaced (`PUT` creating, `RESTORE`, `DELETE`). Such a
    statement reads the override's revisions, or its row, as of its own start; locking in its own CTE, it waited
    for a write of the application to commit, and still read them as they were before that write. So:
    - a create or a restore queued behind another create and a delete of the override numbered its revision as the
      first had, and failed on the revisions' key (a trial: 952 answers 500 in minutes of concurrent PUT, DELETE
      and restore);
    - an unconditional DELETE queued behind a delete and a create found nothing to delete, then the new override:
      412, naming an If-None-Match it never sent (538 of 2,842).
    Statements run under READ COMMITTED, each reading as of its own start: one that begins once the lock is held
    reads every write that held it before. On the pool's connections the lock goes in one message with that
    statement (`Connection.prefix`: one message is one transaction, also in autocommit), at no round trip of its own,
    and is held until it ends; elsewhere (a repository test's plain connection) it runs first, in the caller's
    transaction."""
    if hasattr(cur.connection, "prefix"):
        cur.connection.prefix += cur.mogrify(LOCK_OWNER, {"id": id}).decode().replace("%", "%%") + ";"
    else:
        cur.execute(LOCK_OWNER, {"id": id})


def _upsert(cur, query: str, params: dict[str, Any]) -> Row | None:
    try:
        cur.execute(query, params)
    except psycopg2.Error as error:
        if error.pgcode != "CS412":
            raise
        raise PreconditionFailed(None, detail=PreconditionFailed.NO_CURRENT) from None
    return cur.fetchone()


def put(cur, id: str, environment_id: str, *, patch: dict[str, Any], comments: str | None,
        when: Preconditions = UNCONDITIONAL, actor: str | None = None) -> Row:
    """Create or replace the override; the row has `created`."""
    cur.execute(REPLACE, _put_params(id, environment_id, patch, comments, when, actor))
    row = cur.fetchone()
    if row is None:  # none to replace, or a version the preconditions refuse: create it, or say why not
        row = _create(cur, id, environment_id, patch, comments, when, actor)
    return row


async def put_now(db: Database, id: str, environment_id: str, *, patch: dict[str, Any], comments: str | None,
                  when: Preconditions = UNCONDITIONAL, actor: str | None = None, key_id: str | None = None) -> Row:
    """`put`, its replacement on the event loop (db/loop.py); a creation, or saying why not, through the executor.
    `key_id`: the managed API key that makes it."""
    row = await loop.first_row(db, REPLACE, lambda: _put_params(id, environment_id, patch, comments, when, actor),
                               key_id=key_id, item=(id, environment_id))
    if row is None:
        create = functools.partial(_create, id=id, environment_id=environment_id, patch=patch, comments=comments,
                                   when=when, actor=actor)
        row = await db.run(as_key(key_id, create) if key_id is not None else create)
    return row


put.now = put_now  # type: ignore[attr-defined]


def _put_params(id: str, environment_id: str, patch: dict[str, Any], comments: str | None, when: Preconditions,
                actor: str | None) -> dict[str, Any]:
    return {**_key(id, environment_id), "patch": Json(patch, dumps=jsontext.dumps), "comments": comments,
            **when.params(), "current": when.current, "actor": actor, "kind": "set"}


def _create(cur, id: str, environment_id: str, patch: dict[str, Any], comments: str | None, when: Preconditions,
            actor: str | None) -> Row:
    """The override, created where there was none to replace; else why not (404, 412). Its application locked first
    (`_locked`)."""
    _locked(cur, id)
    row = _upsert(cur, PUT, _put_params(id, environment_id, patch, comments, when, actor))
    if row is None:
        _refused(cur, id, environment_id, when)
    return row


def restore(cur, id: str, environment_id: str, revision: int, *, when: Preconditions = UNCONDITIONAL,
            actor: str | None = None) -> Row:
    """Make revision `revision` current, as a new version and a new revision (also of an override deleted since)."""
    params = {**_key(id, environment_id), "revision": revision, **when.params(), "current": when.current,
              "actor": actor, "kind": "restored"}
    _locked(cur, id)
    row = _upsert(cur, RESTORE, params)
    if row is None:
        _exists(cur, id, environment_id)
        cur.execute(SELECT_REVISION, {**_key(id, environment_id), "version": revision})
        if cur.fetchone() is None:
            raise NotFound(no_revision(cur, id, environment_id, revision))
        _refused(cur, id, environment_id, when)
    return row


def delete(cur, id: str, environment_id: str, *, when: Preconditions = UNCONDITIONAL,
           actor: str | None = None) -> None:
    _locked(cur, id)
    cur.execute(DELETE, {**_key(id, environment_id), **when.params(), "actor": actor})
    if cur.fetchone() is None:
        _exists(cur, id, environment_id)
        one(cur, SELECT_VERSION, _key(id, environment_id), MISSING)
        if when.match is None and when.none_match == []:
            # Unconditional, it deleted nothing: there was no override when it ran (under the lock: `_locked`), and
            # the one there now was created after it. Not a 412 naming an If-None-Match it never sent (a trial).
            raise NotFound(MISSING)
        _refused(cur, id, environment_id, when)


@idempotent
def get(cur, id: str, environment_id: str) -> Row:
    cur.execute(SELECT_ONE, _key(id, environment_id))
    row = cur.fetchone()
    if row is None:
        _exists(cur, id, environment_id)
        raise NotFound(MISSING)
    return row


@idempotent
def page(cur, id: str, *, limit: int, cursor: str | None = None,
         environments: list[str] | None = None) -> tuple[list[Row], str | None]:
    """One page of the configuration's overrides in environment id order (in `environments` only, when given), and
    the next cursor."""
    one(cur, CONFIGURATION_EXISTS, {"id": id}, NO_CONFIGURATION)
    cur.execute(SELECT_PAGE, {"id": id, "cursor": cursor, "environments": environments, "limit": limit + 1})
    return split(cur.fetchall(), limit, key="environment_id")


@idempotent
def revision_page(cur, id: str, environment_id: str, *, limit: int,
                  cursor: str | None = None) -> tuple[list[Row], str | None]:
    """One page of the override's revisions, newest first (also of one deleted since), and the next cursor."""
    cur.execute(ANY_REVISION, _key(id, environment_id))
    if cur.fetchone() is None:
        _exists(cur, id, environment_id)
        raise NotFound(MISSING)
    cur.execute(SELECT_REVISIONS, {**_key(id, environment_id), "cursor": cursor, "limit": limit + 1})
    return split(cur.fetchall(), limit, key="version")


@idempotent
def revision(cur, id: str, environment_id: str, version: int) -> Row:
    cur.execute(SELECT_REVISION, {**_key(id, environment_id), "version": version})
    row = cur.fetchone()
    if row is None:
        _exists(cur, id, environment_id)
        raise NotFound(no_revision(cur, id, environment_id, version))
    return row
