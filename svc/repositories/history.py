"""History: diffs between revisions, and what an application's configurations were at a point of its change feed.

A point is a feed position `seq` of the application (0: before its first change). The state at `seq` is exactly the
changes numbered up to it (a position inside the changes of one transaction reads the position before them, a state
that was committed): for each configuration (and override) its last change at or before `seq`, which names the
revision it made current, unless it was a deletion. Positions follow the commits of the application (writes number
their change under its row lock, held to the commit), so every position is a state that existed, consistent across
the application's configurations. A time maps to the last position of the last transaction whose changes were all
recorded at or before it (`changes.recorded_at` and `changes.txid`, migration 0010), once every write that could
have recorded one by then has committed.

These read the database only: the read cache holds the present, not the past.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from db.database import idempotent, prepared
from jsondoc.patch import diff
from repositories import applications
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
NOW = "SELECT clock_timestamp() AS now"
# Waits for the writes that hold the application's row (each holds it from before it records its change until it
# commits); releases it at once (autocommit).
SETTLED = prepared("SELECT 1 FROM applications WHERE id = %(id)s FOR SHARE")
# The last position of the last transaction whose changes were all recorded by %(at)s. (The changes of one
# statement are not recorded in the order of their numbers; those of two transactions are.) As a definition, this
# reads every change of the application (those before `at`, and those after it, to hash); `position` asks it only
# for a time before migration 0010's changes (no `txid`; their `recorded_at` is when their write began).
POSITION_AT_EVERY = """
SELECT coalesce(max(c.seq), 0) AS seq FROM changes c
WHERE c.application_id = %(id)s AND c.recorded_at <= %(at)s
  AND NOT EXISTS (SELECT 1 FROM changes t WHERE t.application_id = c.application_id AND t.txid = c.txid
                                            AND t.recorded_at > %(at)s)
"""
# The same position in a few index reads, however long the history. The transactions of an application record
# their changes one after the other (each from after it locked the application's row until it commits), so its
# changes recorded by `at` are those of the transactions before some transaction T, and some or all of T's: T is
# that of the change recorded last by then (of changes recorded at the same moment, the last numbered), and its
# changes are numbered consecutively. The answer is T's last position when T had recorded all of its changes by
# then, else the position before its first. No row: no change recorded by then; `txid` null: a change from before
# migration 0010, for POSITION_AT_EVERY.
POSITION_AT = prepared("""
WITH e AS (
    SELECT txid FROM changes WHERE application_id = %(id)s AND recorded_at <= %(at)s
    ORDER BY recorded_at DESC, seq DESC LIMIT 1
)
SELECT e.txid, (SELECT CASE WHEN bool_or(t.recorded_at > %(at)s) THEN min(t.seq) - 1 ELSE max(t.seq) END
                FROM changes t WHERE t.application_id = %(id)s AND t.txid = e.txid) AS seq
FROM e
""")
# The position before the first change of the transaction that recorded change %(seq)s, when that transaction
# recorded changes after it too (see migration 0010); else %(seq)s.
COMMITTED = prepared("""
WITH b AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM changes n WHERE n.application_id = c.application_id
                                                       AND n.seq = c.seq + 1 AND n.txid = c.txid)
                THEN (SELECT min(t.seq) - 1 FROM changes t WHERE t.application_id = c.application_id
                                                             AND t.txid = c.txid)
                ELSE c.seq END AS seq
    FROM changes c WHERE c.application_id = %(id)s AND c.seq = %(seq)s
)
SELECT b.seq, (SELECT recorded_at FROM changes r WHERE r.application_id = %(id)s AND r.seq = b.seq) AS recorded_at
FROM b
""")

# The last change up to %(seq)s of each configuration of application %(application_id)s (of %(id)s only, when
# given), not a deletion: the revisions current at that position.
def _configurations_at(which: str) -> str:
    return f"""
WITH last AS (
    SELECT DISTINCT ON (configuration_id) configuration_id, kind, version FROM changes
    WHERE application_id = %(application_id)s AND seq <= %(seq)s AND environment_id IS NULL
      AND {which}
    ORDER BY configuration_id, seq DESC
)
SELECT {names(REVISION_COLUMNS, of="r")}
FROM last JOIN configuration_revisions r ON r.configuration_id = last.configuration_id AND r.version = last.version
WHERE last.kind <> 'deleted'
ORDER BY r.configuration_id
"""


CONFIGURATIONS_AT = prepared(_configurations_at("(%(id)s::varchar IS NULL OR configuration_id = %(id)s)"))
# The same, of configuration %(id)s: a statement of its own, whose plan PostgreSQL keeps (the one above, by the
# value of %(id)s, looks the configuration up or reads the application's changes, so it is planned every time).
CONFIGURATION_AT = prepared(_configurations_at("configuration_id = %(id)s"))
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
NOT_RECORDED = "The application's change feed does not have this position (it began after it)."


@idempotent
def owner(cur, id: str) -> str:
    """The id of the application that configuration `id` belongs to, or belonged to before its deletion."""
    return one(cur, OWNER, {"id": id}, NO_CONFIGURATION)["application_id"]


@idempotent
def override_owner(cur, id: str, environment_id: str) -> str:
    """The application of the configuration whose override in `environment_id` has (or had) revisions."""
    return one(cur, OVERRIDE_OWNER, {"id": id, "environment_id": environment_id}, NO_OVERRIDE)["application_id"]


def position(cur, application_id: str, *, seq: int | None = None, at: datetime | None = None) -> Row:
    """The feed position a read asks for, by `seq` or by time `at` (exactly one): {seq, recorded_at}. Unprocessable
    for a position beyond the end, a time in the future or before the application existed; NotFound for no
    application, or a position whose history was pruned."""
    if (seq is None) == (at is None):
        raise Unprocessable.at("#/query/seq", "Give exactly one of `seq` (a feed position) and `at` (a time).")
    if at is not None:
        # The clock first, then wait for the writes holding the application's row: a change recorded by `now` has
        # then committed, and one recorded later is later than `at` (so it is not in the answer either way).
        now = one(cur, NOW, {}, "")["now"]
        if at > now:
            raise Unprocessable.at("#/query/at", "This time is in the future.")
        one(cur, SETTLED, {"id": application_id}, applications.MISSING)
    app = one(cur, APPLICATION, {"id": application_id}, applications.MISSING)
    if at is not None:
        if at < app["created_at"]:
            raise Unprocessable.at("#/query/at", "The application did not exist at this time.")
        cur.execute(POSITION_AT, {"id": application_id, "at": at})
        last = cur.fetchone()
        if last is not None and last["txid"] is None:
            last = one(cur, POSITION_AT_EVERY, {"id": application_id, "at": at}, "")
        seq = 0 if last is None else last["seq"]
    assert seq is not None
    if seq > app["last_change"]:
        raise NotFound(f"The application's change feed ends at position {app['last_change']}.")
    point = {"seq": 0, "recorded_at": None}
    if seq > 0:
        point = one(cur, COMMITTED, {"id": application_id, "seq": seq}, NOT_RECORDED)
    if point["seq"] < app["history_from"]:
        raise NotFound(PRUNED.format(app["history_from"]))
    return point


def _states(cur, application_id: str, seq: int, id: str | None = None) -> list[Row]:
    cur.execute(CONFIGURATIONS_AT if id is None else CONFIGURATION_AT,
                {"application_id": application_id, "seq": seq, "id": id})
    return cur.fetchall()


@idempotent
def configuration_at(cur, application_id: str, id: str, *, seq: int | None = None,
                     at: datetime | None = None) -> Row:
    """Configuration `id` (of application `application_id`) as it was at a point: {application_id, seq,
    recorded_at, configuration}; NotFound when it did not exist then."""
    point = position(cur, application_id, seq=seq, at=at)
    states = _states(cur, application_id, point["seq"], id)
    if not states:
        raise NotFound(NOT_THEN)
    return {"application_id": application_id, **point, "configuration": states[0]}


@idempotent
def owned_configuration_at(cur, id: str, allowed: Callable[[str], None], *, seq: int | None = None,
                           at: datetime | None = None) -> Row:
    """`configuration_at` of configuration `id` in the application it belongs (or belonged) to, in one unit of
    work: `allowed(application_id)` raises (a 404, a 403) when the caller may not see that application, before
    anything else is read."""
    application_id = owner(cur, id)
    allowed(application_id)
    return configuration_at(cur, application_id, id, seq=seq, at=at)


@idempotent
def application_at(cur, application_id: str, *, seq: int | None = None, at: datetime | None = None) -> Row:
    """Every configuration of the application as it was at a point, in id order."""
    point = position(cur, application_id, seq=seq, at=at)
    return {"application_id": application_id, **point,
            "configurations": _states(cur, application_id, point["seq"])}


@idempotent
def effective_at(cur, application_id: str, id: str, environment_id: str, *, seq: int | None = None,
                 at: datetime | None = None) -> dict[str, Any]:
    """The effective view of configuration `id` in the environment at a point: its `config` and its overrides as
    they were then, along the environment's chain as it is now (environments are the service's, not history)."""
    environment = one(cur, ENVIRONMENT, {"environment_id": environment_id}, "No environment has this id.")
    point = position(cur, application_id, seq=seq, at=at)
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
    old = one(cur, SELECT_REVISION, {**key, "version": first}, f"This configuration has no revision {first}.")
    if second is None:
        new = one(cur, SELECT_CURRENT, key, "This configuration was deleted: name the revision `to`.")
    else:
        new = one(cur, SELECT_REVISION, {**key, "version": second}, f"This configuration has no revision {second}.")
    return {"configuration_id": id, "from_version": first, "to_version": new["version"], "from_name": old["name"],
            "to_name": new["name"], "patch": diff(_document(old["config"]), _document(new["config"]))}


@idempotent
def override_diff(cur, application_id: str, id: str, environment_id: str, first: int,
                  second: int | None) -> dict[str, Any]:
    """The JSON Patch from revision `first` of the override to revision `second` (None: its current state)."""
    key = {"id": id, "environment_id": environment_id, "application_id": application_id}
    old = one(cur, SELECT_OVERRIDE_REVISION, {**key, "version": first}, f"This override has no revision {first}.")
    if second is None:
        new = one(cur, SELECT_OVERRIDE_CURRENT, key, "This override was deleted: name the revision `to`.")
    else:
        new = one(cur, SELECT_OVERRIDE_REVISION, {**key, "version": second},
                  f"This override has no revision {second}.")
    return {"configuration_id": id, "environment_id": environment_id, "from_version": first,
            "to_version": new["version"], "patch": diff(_document(old["patch"]), _document(new["patch"]))}


# Pruning, per application: its cut is the last position of the last transaction whose changes were all recorded
# at or before the time given (as POSITION_AT); the states from the
# cut on stay readable, those before it do not (`history_from`, which only moves forward). A revision goes when a
# later change of the same configuration (or override) at or before the cut replaced or deleted it: no state from
# the cut on shows it. The last revision of an override stays (an override set again continues its numbering after
# it, so an old ETag never matches the new one); the change feed stays whole (it is the record of who changed what,
# and its followers rely on it having no gaps).
PRUNE = """
WITH cut AS (
    SELECT a.id, (SELECT max(c.seq) FROM changes c
                  WHERE c.application_id = a.id AND c.recorded_at <= %(before)s
                    AND NOT EXISTS (SELECT 1 FROM changes t WHERE t.application_id = c.application_id
                                                              AND t.txid = c.txid AND t.recorded_at > %(before)s)
                 ) AS seq
    FROM applications a
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


def prune(cur, before: datetime) -> Row:
    """Drop the history that no state recorded at or after `before` needs (never the current state): how many
    applications moved their `history_from`, and how many revisions of each kind went."""
    cur.execute(PRUNE, {"before": before})
    return cur.fetchone()
