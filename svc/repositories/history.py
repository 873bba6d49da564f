"""History: diffs between revisions, and what an application's configurations were at a point of its change feed.

A point is a feed position `seq` of the application (0: before its first change). The state at `seq` is exactly the
changes numbered up to it (a position inside the changes of one transaction reads the position before them, a state
that was committed): for each configuration (and override) its last change at or before `seq`, which names the
revision it made current, unless it was a deletion. Positions follow the commits of the application (writes number
their change under its row lock, held to the commit), so every position is a state that existed, consistent across
the application's configurations. A time maps to the last position of the last transaction whose changes were all
recorded at or before it (`changes.recorded_at` and `changes.txid`, migration 0010), once every write that could
have recorded one by then has committed. A change's recorded time is the time it shows (its entry's `at`, the
configuration's or override's `updated_at`, its revision's `created_at`: `repositories.changes.ENTRY`), so a read at
the time a change shows includes it.

These read the database only: the read cache holds the present, not the past.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from db.database import idempotent, prepared
from jsondoc.patch import diff
from repositories import applications, changes, configurations, overrides
from repositories.configurations import REVISION_COLUMNS
from repositories.effective import CHAIN, view
from repositories.overrides import REVISION_COLUMNS as OVERRIDE_REVISION_COLUMNS
from repositories.rows import Row, names, one
from wire import jsontext
from wire.problems import NotFound, Unprocessable

# The application a configuration belongs (or belonged) to: its row, or its revisions once it is deleted.
OWNER = prepared("""
SELECT application_id FROM configurations WHERE id = %(id)s
UNION ALL
(SELECT application_id FROM configuration_revisions WHERE configuration_id = %(id)s LIMIT 1)
LIMIT 1
""")
APPLICATION = prepared("SELECT id, name, created_at, last_change, history_from FROM applications WHERE id = %(id)s")
# The point a read asks for, and a configuration's state at it, each in one statement (migration 0011 holds their
# steps); a row's `problem` names why there is no answer, which `_point` raises.
# The epoch a position's change was written in (for position 0, the database's), which a client sends with it.
POSITION_EPOCH = ("coalesce((SELECT f.epoch FROM changes f WHERE f.application_id = {app} AND f.seq = {seq}), "
                  "config_service_epoch()) AS epoch")
POSITION = prepared("SELECT p.problem, p.seq, " + POSITION_EPOCH.format(app="%(id)s", seq="p.seq")
                    + ", p.recorded_at, p.last_change, p.history_from "
                    "FROM history_position(%(id)s, %(seq)s, %(at)s) p")
CONFIGURATION_AT = prepared(f"""
SELECT h.problem, h.application_id, h.seq, {POSITION_EPOCH.format(app="h.application_id", seq="h.seq")},
    h.recorded_at, h.last_change, h.history_from,
    {names(tuple(c for c in REVISION_COLUMNS if c != "application_id"), of="(h.revision)")}
FROM history_configuration_at(%(id)s, %(seq)s, %(at)s) h
""")

# The last change up to %(seq)s of each configuration of application %(application_id)s (of %(id)s only, when
# given), not a deletion: the revisions current at that position.
CONFIGURATIONS_AT = prepared(f"""
WITH last AS (
    SELECT DISTINCT ON (configuration_id) configuration_id, kind, version FROM changes
    WHERE application_id = %(application_id)s AND seq <= %(seq)s AND environment_id IS NULL
      AND (%(id)s::varchar IS NULL OR configuration_id = %(id)s)
    ORDER BY configuration_id, seq DESC
)
SELECT {names(REVISION_COLUMNS, of="r")}
FROM last JOIN configuration_revisions r ON r.configuration_id = last.configuration_id AND r.version = last.version
WHERE last.kind <> 'deleted'
ORDER BY r.configuration_id
""")
# The overrides at %(seq)s, as CONFIGURATIONS_AT (the CTE `past_overrides`).
OVERRIDES_AT = """
, past_overrides AS (
    SELECT r.configuration_id, r.environment_id, r.patch FROM (
        SELECT DISTINCT ON (configuration_id, environment_id) configuration_id, environment_id, kind, version
        FROM changes
        WHERE application_id = %(application_id)s AND seq <= %(seq)s AND environment_id IS NOT NULL
          AND (%(id)s::varchar IS NULL OR configuration_id = %(id)s)
        ORDER BY configuration_id, environment_id, seq DESC
    ) last JOIN override_revisions r USING (configuration_id, environment_id, version)
    WHERE last.kind <> 'deleted'
)
"""
# The layers of each configuration `c` at that position, root first (as effective.LAYERS does for the present).
EFFECTIVE_AT = prepared(CHAIN + OVERRIDES_AT + """
, past AS (""" + CONFIGURATIONS_AT + """)
SELECT c.configuration_id AS id, c.application_id, c.name, c.config,
    (SELECT jsonb_agg(jsonb_build_object('id', chain.id, 'name', chain.name, 'patch', o.patch) ORDER BY chain.depth DESC)
     FROM chain LEFT JOIN past_overrides o ON o.configuration_id = c.configuration_id AND o.environment_id = chain.id
    ) AS layers
FROM past c
ORDER BY c.configuration_id
""")
ENVIRONMENT = "SELECT id, name FROM environments WHERE id = %(environment_id)s"

# Revisions and current states, of the application resolved first (`owner`).
SELECT_REVISION = prepared(f"SELECT {names(REVISION_COLUMNS)} FROM configuration_revisions WHERE configuration_id = "
                           "%(id)s AND version = %(version)s AND application_id = %(application_id)s")
SELECT_CURRENT = prepared("SELECT id AS configuration_id, version, name, config FROM configurations "
                          "WHERE id = %(id)s AND application_id = %(application_id)s")
SELECT_OVERRIDE_REVISION = (f"SELECT {OVERRIDE_REVISION_COLUMNS} FROM override_revisions "
                            "WHERE configuration_id = %(id)s AND environment_id = %(environment_id)s "
                            "AND version = %(version)s AND application_id = %(application_id)s")
SELECT_OVERRIDE_CURRENT = ("SELECT version, patch FROM overrides WHERE configuration_id = %(id)s "
                           "AND environment_id = %(environment_id)s AND application_id = %(application_id)s")
OVERRIDE_OWNER = """
SELECT application_id FROM override_revisions WHERE configuration_id = %(id)s AND environment_id = %(environment_id)s
LIMIT 1
"""

NO_CONFIGURATION = "No configuration has this id."
NO_OVERRIDE = "This configuration has never had an override in this environment."
NOT_THEN = "This configuration did not exist at this point of its application's history."
PRUNED = "The history of this application before feed position {0} was pruned."
END = "SELECT last_change FROM applications WHERE id = %(id)s"
NOT_RECORDED = "The application's change feed does not have this position (it began after it)."


@idempotent
def owner(cur, id: str) -> str:
    """The id of the application that configuration `id` belongs to, or belonged to before its deletion."""
    return one(cur, OWNER, {"id": id}, NO_CONFIGURATION)["application_id"]


@idempotent
def override_owner(cur, id: str, environment_id: str) -> str:
    """The application of the configuration whose override in `environment_id` has (or had) revisions; else 404
    naming what is missing, as the override's other routes do: the configuration, the environment, or an override
    of the one in the other."""
    cur.execute(OVERRIDE_OWNER, {"id": id, "environment_id": environment_id})
    row = cur.fetchone()
    if row is not None:
        return row["application_id"]
    owner(cur, id)
    one(cur, overrides.ENVIRONMENT_EXISTS, {"environment_id": environment_id}, overrides.NO_ENVIRONMENT)
    raise NotFound(NO_OVERRIDE)


def position(cur, application_id: str, *, seq: int | None = None, at: datetime | None = None,
             epoch: int | None = None) -> Row:
    """The feed position a read asks for, by `seq` or by time `at` (at most one; neither: the feed's end now, read in
    the request's unit of work, so that every write acknowledged before it began is in it): {seq, epoch,
    recorded_at}. Unprocessable for a position beyond the end, a time in the future or before the application
    existed; NotFound for no application, or a position whose history was pruned; with `epoch` (the epoch of
    `seq`), EpochChanged first when the change at `seq` is not in the feed as it was written then
    (`changes.written`)."""
    _at_most_one(seq, at, epoch)
    if seq is None and at is None:
        seq = _end(cur, application_id)
    if epoch is not None:
        changes.written(cur, application_id, seq, epoch)
    cur.execute(POSITION, {"id": application_id, "seq": seq, "at": at})
    return _point(cur.fetchone())


def _at_most_one(seq: int | None, at: datetime | None, epoch: int | None = None) -> None:
    if seq is not None and at is not None:
        raise Unprocessable.at("#/query/seq", "Give one of `seq` (a feed position) and `at` (a time), not both "
                                              "(neither: now).")
    if epoch is not None and seq is None:
        raise Unprocessable.at("#/query/epoch", "`epoch` is the epoch of a feed position: send it with `seq`.")


def _end(cur, application_id: str, missing: str = applications.MISSING) -> int:
    """The position of the application's last change (0 before its first): a read of the past without a point reads
    there, and says it, so that a follower can go on from it (`after=<seq>&epoch=<epoch>`). NotFound (`missing`)
    for no application."""
    return one(cur, END, {"id": application_id}, missing)["last_change"]


def _point(row: Row) -> Row:
    """{seq, epoch, recorded_at} of a row of `history_position` (migration 0011), or the problem it names."""
    problem = row["problem"]
    if problem == "future":
        raise Unprocessable.at("#/query/at", "This time is in the future.")
    if problem == "no_application":
        raise NotFound(applications.MISSING)
    if problem == "before":
        raise Unprocessable.at("#/query/at", "The application did not exist at this time.")
    if problem == "beyond":
        raise NotFound(f"The application's change feed ends at position {row['last_change']}.")
    if problem == "not_recorded":
        raise NotFound(NOT_RECORDED)
    if problem == "pruned":
        raise NotFound(PRUNED.format(row["history_from"]))
    if problem is not None:
        raise AssertionError(f"history_position: unknown problem {problem!r}")
    return {"seq": row["seq"], "epoch": row["epoch"], "recorded_at": row["recorded_at"]}


def _state(row: Row) -> Row:
    """The revision of a row of CONFIGURATION_AT: its REVISION_COLUMNS (`application_id` is the point's)."""
    return {column: row[column] for column in REVISION_COLUMNS}


@idempotent
def owned_configuration_at(cur, id: str, allowed: Callable[[str], None], *, seq: int | None = None,
                           at: datetime | None = None, epoch: int | None = None) -> Row:
    """Configuration `id` as it was at a point of the history of the application it belongs (or belonged) to:
    {application_id, seq, recorded_at, configuration}; NotFound when it did not exist then. One statement (two
    more for now: its application, and where that application's feed ends);
    `allowed(application_id)` raises (a 404, a 403) when the caller may not see that application, before any
    answer that depends on what was read (naming neither point, or both, is refused first: it says nothing of the
    configuration); with `epoch`, a position lost in a failover is EpochChanged (`position`). Neither point: now
    (`position`)."""
    _at_most_one(seq, at, epoch)
    if seq is None and at is None:
        application_id = owner(cur, id)  # (404 as below for a configuration that never was, or whose application is
        allowed(application_id)  # gone; and what a key may not see answers so too, after as many statements)
        seq = _end(cur, application_id, NO_CONFIGURATION)
    cur.execute(CONFIGURATION_AT, {"id": id, "seq": seq, "at": at})
    row = cur.fetchone()
    if row["problem"] == "no_configuration":
        raise NotFound(NO_CONFIGURATION)
    allowed(row["application_id"])
    if epoch is not None:
        changes.written(cur, row["application_id"], seq, epoch)
    if row["problem"] == "not_then":
        raise NotFound(NOT_THEN)
    point = _point(row)
    return {"application_id": row["application_id"], **point, "configuration": _state(row)}


@idempotent
def application_at(cur, application_id: str, *, seq: int | None = None, at: datetime | None = None,
                   epoch: int | None = None) -> Row:
    """Every configuration of the application as it was at a point, in id order."""
    point = position(cur, application_id, seq=seq, at=at, epoch=epoch)
    cur.execute(CONFIGURATIONS_AT, {"application_id": application_id, "seq": point["seq"], "id": None})
    return {"application_id": application_id, **point, "configurations": cur.fetchall()}


@idempotent
def effective_at(cur, application_id: str, id: str, environment_id: str, *, seq: int | None = None,
                 at: datetime | None = None, epoch: int | None = None) -> dict[str, Any]:
    """The effective view of configuration `id` in the environment at a point: its `config` and its overrides as
    they were then, along the environment's chain as it is now (environments are the service's, not history)."""
    environment = one(cur, ENVIRONMENT, {"environment_id": environment_id}, "No environment has this id.")
    point = position(cur, application_id, seq=seq, at=at, epoch=epoch)
    cur.execute(EFFECTIVE_AT, {"application_id": application_id, "seq": point["seq"], "id": id,
                               "environment_id": environment_id})
    row = cur.fetchone()
    if row is None:
        raise NotFound(NOT_THEN)
    return {"application_id": application_id, **point, "view": view(row, environment)}


def _document(text: Any) -> Any:
    return jsontext.loads(text) if isinstance(text, str) else text


@idempotent
def configuration_diff(cur, application_id: str, id: str, first: int, second: int | None) -> dict[str, Any]:
    """The JSON Patch from revision `first` of configuration `id` to revision `second` (None: its current state)."""
    key = {"id": id, "application_id": application_id}
    old = _configuration_revision(cur, key, first)
    if second is None:
        new = one(cur, SELECT_CURRENT, key, "This configuration was deleted: name the revision `to`.")
    else:
        new = _configuration_revision(cur, key, second)
    return {"configuration_id": id, "from_version": first, "to_version": new["version"], "from_name": old["name"],
            "to_name": new["name"], "patch": diff(_document(old["config"]), _document(new["config"]))}


def _configuration_revision(cur, key: dict[str, str], version: int) -> Row:
    return _revision(cur, SELECT_REVISION, key, version, "configuration",
                     lambda: configurations.no_revision(cur, key["id"], version) == configurations.PRUNED_REVISION)


def _override_revision(cur, key: dict[str, str], version: int) -> Row:
    return _revision(cur, SELECT_OVERRIDE_REVISION, key, version, "override",
                     lambda: overrides.no_revision(cur, key["id"], key["environment_id"], version)
                     == overrides.PRUNED_REVISION)


def _revision(cur, query: str, key: dict[str, str], version: int, what: str, pruned: Callable[[], bool]) -> Row:
    """Revision `version` of the configuration or override (`what`) `key` names; NotFound saying whether it was
    pruned (`pruned()`, as reading the revision says) or never was."""
    cur.execute(query, {**key, "version": version})
    row = cur.fetchone()
    if row is None:
        if pruned():
            raise NotFound(f"Revision {version} of this {what} was pruned: its history before a time an operator "
                           f"chose was dropped (`make prune`).")
        raise NotFound(f"This {what} has no revision {version}.")
    return row


@idempotent
def override_diff(cur, application_id: str, id: str, environment_id: str, first: int,
                  second: int | None) -> dict[str, Any]:
    """The JSON Patch from revision `first` of the override to revision `second` (None: its current state)."""
    key = {"id": id, "environment_id": environment_id, "application_id": application_id}
    old = _override_revision(cur, key, first)
    if second is None:
        new = one(cur, SELECT_OVERRIDE_CURRENT, key, "This override was deleted: name the revision `to`.")
    else:
        new = _override_revision(cur, key, second)
    return {"configuration_id": id, "environment_id": environment_id, "from_version": first,
            "to_version": new["version"], "patch": diff(_document(old["patch"]), _document(new["patch"]))}


# Pruning, per application: its cut is the last position of the last transaction whose changes were all recorded
# at or before the time given (history_position_every, migration 0011); the states from the cut on stay readable,
# those before it do not (`history_from`, which only moves forward). A revision goes when a later change of the
# same configuration (or override) at or before the cut replaced or deleted it: no state from the cut on shows it. The last revision of an override stays (an override set again continues its numbering after
# it, so an old ETag never matches the new one); the change feed stays whole (it is the record of who changed what,
# and its followers rely on it having no gaps).
PRUNE = """
WITH cut AS (
    SELECT a.id, history_position_every(a.id, %(before)s) AS seq FROM applications a
), moved AS (
    UPDATE applications a SET history_from = cut.seq FROM cut
    WHERE a.id = cut.id AND cut.seq > a.history_from
    RETURNING a.id, a.history_from
), gone AS (
    SELECT ch.configuration_id, ch.environment_id, ch.version FROM (
        SELECT application_id, configuration_id, environment_id, version, kind,
               lead(seq) OVER (PARTITION BY configuration_id, environment_id ORDER BY seq) AS next
        FROM changes WHERE application_id IN (SELECT id FROM moved)
    ) ch JOIN moved ON moved.id = ch.application_id
    WHERE ch.next <= moved.history_from AND ch.kind <> 'deleted'
), pruned_configurations AS (
    DELETE FROM configuration_revisions r USING gone
    WHERE gone.environment_id IS NULL AND r.configuration_id = gone.configuration_id AND r.version = gone.version
    RETURNING 1
), pruned_overrides AS (
    DELETE FROM override_revisions r USING gone
    WHERE r.configuration_id = gone.configuration_id AND r.environment_id = gone.environment_id
      AND r.version = gone.version
      AND r.version < (SELECT max(version) FROM override_revisions m
                       WHERE m.configuration_id = r.configuration_id AND m.environment_id = r.environment_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS applications,
       (SELECT count(*) FROM pruned_configurations) AS configuration_revisions,
       (SELECT count(*) FROM pruned_overrides) AS override_revisions
"""


# A deleted environment (migration 0023) no revision names any more (its applications deleted since) is forgotten.
FORGET_RETIRED = """
DELETE FROM retired_environments WHERE id NOT IN (SELECT DISTINCT environment_id FROM override_revisions)
"""


def prune(cur, before: datetime) -> Row:
    """Drop the history that no state recorded at or after `before` needs (never the current state): how many
    applications moved their `history_from`, how many revisions of each kind went, and how many deleted
    environments no revision names any more were forgotten."""
    cur.execute(PRUNE, {"before": before})
    counts = cur.fetchone()
    cur.execute(FORGET_RETIRED)
    return {**counts, "retired_environments": cur.rowcount}
