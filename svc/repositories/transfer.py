"""An application as one document, and documents applied to an application: export, import as a plan and its
apply, and change sets (several configuration writes of one application, all or nothing).

The document names things, never ids, so it maps onto another application or another service: its configurations
by name, each override by its environment's name. It is sorted (configurations and environments by name, object
members by key) so that two exports compare line by line.

A plan is computed from the target's current state read in one statement, and carries a token: a hash of the
target application, its feed position (its last change, as written in its epoch) and the plan itself. Applying
recomputes the plan under the application's row lock, and writes it only when the token is the same (nothing in the
application changed, and the document and the environments it names mean what they meant): every write with its feed
entry, in one transaction.
"""

import hashlib
from typing import Any

from db.database import idempotent
from jsondoc.patch import canonical, diff, same
from repositories import applications, configurations, history, overrides
from repositories.rows import PIN_TIME, Row, one
from wire import etags, jsontext
from wire.problems import NotFound, PreconditionFailed, ProblemError, Unprocessable

# The application's configurations and their overrides now, in one statement (one snapshot).
CURRENT = """
SELECT a.id, a.name, a.last_change,
  (SELECT f.epoch FROM changes f WHERE f.application_id = a.id AND f.seq = a.last_change) AS last_epoch,
  config_service_epoch() AS epoch_now,
  coalesce((SELECT jsonb_agg(jsonb_build_object(
      'id', c.id, 'name', c.name, 'comments', c.comments, 'config', c.config, 'version', c.version,
      'overrides', coalesce((SELECT jsonb_agg(jsonb_build_object('environment_id', e.id, 'environment', e.name,
                                                                 'patch', o.patch, 'comments', o.comments,
                                                                 'version', o.version))
                             FROM overrides o JOIN environments e ON e.id = o.environment_id
                             WHERE o.configuration_id = c.id), '[]')))
    FROM configurations c WHERE c.application_id = a.id), '[]') AS configurations
FROM applications a WHERE a.id = %(id)s
"""
# The overrides at a position of the application's history, with their environments' names (as they are now; an
# environment deleted since, as it was when deleted: migration 0023).
PAST_OVERRIDES = "WITH point AS (SELECT 1)" + history.OVERRIDES_AT + """
SELECT p.configuration_id, e.id AS environment_id, e.name AS environment, e.retired, p.patch
FROM past_overrides p JOIN all_environments e ON e.id = p.environment_id
"""
LOCK = "SELECT id FROM applications WHERE id = %(id)s FOR NO KEY UPDATE"
ENVIRONMENTS = "SELECT id, name FROM environments WHERE name = ANY(%(names)s)"
OWNER = "SELECT application_id FROM configurations WHERE id = %(id)s"
BY_NAME = "SELECT id FROM configurations WHERE application_id = %(application_id)s AND name = %(name)s"
END = ("SELECT a.last_change AS seq, " + history.POSITION_EPOCH.format(app="a.id", seq="a.last_change")
       + " FROM applications a WHERE a.id = %(id)s")

STALE_PLAN = ("The token is not that of this document's plan ({mode}) at the application's position now (seq {seq}): "
              "the application changed since the plan was made (compare the plan's `seq`), or the document, the mode "
              "or the application is not the plan's. Make a new plan and review it.")
FORMAT = "config-service/application/1"


def ordered(value: Any) -> Any:
    """`value` with every object's members sorted by key."""
    if isinstance(value, dict):
        return {key: ordered(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [ordered(item) for item in value]
    return value


def _loads(value: Any) -> Any:
    return jsontext.loads(value) if isinstance(value, str) else value


def current(cur, application_id: str) -> Row:
    """{id, name, last_change, last_epoch (the epoch its feed's last change was written in, None for none),
    configurations: {name: {id, name, comments, config, version, overrides: {environment
    name: {environment_id, patch, comments, version}}}}}, read in one statement; NotFound for no application."""
    row = one(cur, CURRENT, {"id": application_id}, applications.MISSING)
    found = {}
    for configuration in _loads(row["configurations"]):
        configuration["overrides"] = {o["environment"]: o for o in configuration["overrides"]}
        found[configuration["name"]] = configuration
    return {"id": row["id"], "name": row["name"], "last_change": row["last_change"], "last_epoch": row["last_epoch"],
            "epoch": row["last_epoch"] or row["epoch_now"], "configurations": found}


def _document(name: str, seq: int, epoch: int, configurations: list[dict]) -> dict[str, Any]:
    """The export document of configurations {name, comments, config, overrides: {environment name: patch}}."""
    items = sorted(({"name": c["name"], "comments": c["comments"], "config": ordered(c["config"]),
                     "overrides": ordered(c["overrides"])} for c in configurations), key=lambda c: c["name"])
    used = sorted({environment for c in items for environment in c["overrides"]})
    return {"format": FORMAT, "application": name, "seq": seq, "epoch": epoch, "environments": used,
            "configurations": items}


@idempotent
def export(cur, application_id: str, *, seq: int | None = None, at: Any = None,
           epoch: int | None = None) -> dict[str, Any]:
    """The application as one document: now, or at a point of its history (by `seq`, with its `epoch` when given, or
    `at`)."""
    if seq is None and at is None and epoch is None:
        state = current(cur, application_id)
        return _document(state["name"], state["last_change"], state["epoch"], [
            {**c, "overrides": {name: o["patch"] for name, o in c["overrides"].items()}}
            for c in state["configurations"].values()])
    name = one(cur, history.APPLICATION, {"id": application_id}, applications.MISSING)["name"]
    point = history.position(cur, application_id, seq=seq, at=at, epoch=epoch)
    rows = history.application_at(cur, application_id, seq=point["seq"])["configurations"]
    cur.execute(PAST_OVERRIDES, {"application_id": application_id, "seq": point["seq"], "id": None})
    found = cur.fetchall()
    holders: dict[str, set[str]] = {}  # each name, the environments of this export that have it
    for row in found:
        holders.setdefault(row["environment"], set()).add(row["environment_id"])
    deleted = sorted({row["environment"] for row in found if row["retired"]})
    taken: set[str] = set()  # those of the names of deleted environments that an environment has now
    if deleted:
        cur.execute(ENVIRONMENTS, {"names": deleted})
        taken = {row["name"] for row in cur.fetchall()}
    patches: dict[str, dict[str, Any]] = {}
    for row in found:
        patches.setdefault(row["configuration_id"], {})[_past_name(row, holders, taken)] = _loads(row["patch"])
    return _document(name, point["seq"], point["epoch"], [
        {"name": r["name"], "comments": r["comments"], "config": _loads(r["config"]),
         "overrides": patches.get(r["configuration_id"], {})} for r in rows])


def _past_name(row: Row, holders: dict[str, set[str]], taken: set[str]) -> str:
    """The name an override of the past is exported under: its environment's, or for an environment deleted since
    whose name another environment has now (one created or renamed to it: `taken`), or another of the export's
    (deleted too), that name with its id, `"canary (deleted 01J...)"`: one name each, whatever order they are read
    in, no override lost, and none imported into the environment that has its name now, which is another (a trial
    found a past export's import planning to put a deleted environment's override on a new one of its name)."""
    name = row["environment"]
    if row["retired"] and (name in taken or len(holders[name]) > 1):
        return f"{name} (deleted {row['environment_id']})"
    return name


def _environments(cur, document: dict[str, Any], applying: bool = False) -> dict[str, str]:
    """The ids of the environments the document's overrides name; 422 at the first that names none (`applying`: 412,
    since a plan was made with it, the environment was renamed or deleted: the contract's "plan again")."""
    named = {name for c in document["configurations"] for name in (c.get("overrides") or {})}
    cur.execute(ENVIRONMENTS, {"names": sorted(named)})
    found = {row["name"]: row["id"] for row in cur.fetchall()}
    for index, c in enumerate(document["configurations"]):
        for name in c.get("overrides") or {}:
            if name not in found:
                pointer = "/document/configurations/{}/overrides/{}".format(
                    index, name.replace("~", "~0").replace("/", "~1"))
                if applying:
                    raise PreconditionFailed(None, detail=f"No environment is named {name!r} now (at {pointer}): it "
                                                          f"was renamed or deleted since the plan, or the document "
                                                          f"is not the one planned. Make a new plan and review it.")
                raise Unprocessable.at(pointer, "No environment has this name.")
    return found


def _override_changes(now: dict[str, dict], wanted: dict[str, Any], ids: dict[str, str],
                      exact: bool) -> list[dict[str, Any]]:
    changes = []
    for environment in sorted(set(now) | set(wanted)):
        if environment not in wanted:
            if exact:
                changes.append({"environment": environment, "environment_id": now[environment]["environment_id"],
                                "action": "deleted", "patch": []})
        elif environment not in now:
            changes.append({"environment": environment, "environment_id": ids[environment], "action": "created",
                            "patch": diff({}, wanted[environment])})
        elif not same(now[environment]["patch"], wanted[environment]):
            changes.append({"environment": environment, "environment_id": ids[environment], "action": "updated",
                            "patch": diff(now[environment]["patch"], wanted[environment])})
    return changes


def _plan(cur, application_id: str, document: dict[str, Any], exact: bool, applying: bool = False) -> dict[str, Any]:
    return _planned(cur, application_id, document, exact, applying)[0]


def _planned(cur, application_id: str, document: dict[str, Any], exact: bool,
             applying: bool = False) -> tuple[dict[str, Any], Row]:
    """The plan of `document`, and the application's state (`current`) it was made from."""
    seen: set[str] = set()
    for index, c in enumerate(document["configurations"]):
        if c["name"] in seen:
            raise Unprocessable.at(f"/document/configurations/{index}/name", "Two configurations have this name.")
        seen.add(c["name"])
    ids = _environments(cur, document, applying)
    state = current(cur, application_id)
    items = []
    for c in sorted(document["configurations"], key=lambda c: c["name"]):
        now, wanted = state["configurations"].get(c["name"]), c.get("overrides") or {}
        if now is None:
            items.append({"name": c["name"], "action": "created", "configuration_id": None,
                          "patch": diff({}, c["config"]), "comments_changed": c.get("comments") is not None,
                          "overrides": _override_changes({}, wanted, ids, exact)})
            continue
        changes = _override_changes(now["overrides"], wanted, ids, exact)
        patch = diff(now["config"], c["config"])
        comments_changed = now["comments"] != c.get("comments")
        items.append({"name": c["name"], "action": "updated" if patch or comments_changed or changes else "unchanged",
                      "configuration_id": now["id"], "patch": patch, "comments_changed": comments_changed,
                      "overrides": changes})
    if exact:
        for name in sorted(set(state["configurations"]) - seen):
            items.append({"name": name, "action": "deleted", "configuration_id": state["configurations"][name]["id"],
                          "patch": [], "comments_changed": False, "overrides": []})
    # The token binds the plan to the state it was made from (the feed's last change, as written: a failover that
    # lost it may number another change so) and to the document itself (a plan item says that the comments change,
    # not to what).
    token = hashlib.sha256(canonical({"application_id": application_id, "epoch": state["last_epoch"],
                                      "seq": state["last_change"], "exact": exact, "items": items,
                                      "document": sorted(document["configurations"], key=lambda c: c["name"])
                                      }).encode())
    return {"application_id": application_id, "mode": "exact" if exact else "merge", "seq": state["last_change"],
            "epoch": state["epoch"], "token": token.hexdigest(), "items": items}, state


@idempotent
def plan(cur, application_id: str, document: dict[str, Any], *, exact: bool = False) -> dict[str, Any]:
    """What applying `document` to the application would do, changing nothing, and the token to apply it with."""
    return _plan(cur, application_id, document, exact)


def apply(cur, application_id: str, document: dict[str, Any], token: str, *, exact: bool = False,
          actor: str | None = None) -> dict[str, Any]:
    """Write the plan of `document` if its token is still `token`, all in the caller's transaction; 412 if not."""
    one(cur, LOCK, {"id": application_id}, applications.MISSING)
    cur.execute(PIN_TIME)  # its changes show one time (`rows.NOW`)
    planned, state = _planned(cur, application_id, document, exact, applying=True)
    if planned["token"] != token:
        raise PreconditionFailed(None, detail=STALE_PLAN.format(mode=planned["mode"], seq=planned["seq"]))
    wanted = {c["name"]: c for c in document["configurations"]}
    for item in planned["items"]:
        if item["action"] == "deleted":
            configurations.delete(cur, item["configuration_id"], actor=actor)
    for item in planned["items"]:
        c = wanted.get(item["name"])
        if item["action"] == "created":
            item["configuration_id"] = configurations.create(
                cur, application_id=application_id, name=c["name"], comments=c.get("comments"), config=c["config"],
                actor=actor)["id"]
        elif item["action"] == "updated" and (item["patch"] or item["comments_changed"]):
            configurations.update(cur, item["configuration_id"], name=c["name"], comments=c.get("comments"),
                                  config=c["config"], actor=actor)
        for change in item["overrides"]:
            if change["action"] == "deleted":
                overrides.delete(cur, item["configuration_id"], change["environment_id"], actor=actor)
            else:  # (a document has no override's comments: an override updated keeps its own, as the plan says)
                now = state["configurations"].get(item["name"])
                kept = now["overrides"].get(change["environment"], {}).get("comments") if now is not None else None
                overrides.put(cur, item["configuration_id"], change["environment_id"],
                              patch=c["overrides"][change["environment"]], comments=kept, actor=actor)
    return {**planned, **_end(cur, application_id)}


def change_set(cur, application_id: str, changes: list[dict[str, Any]], *, actor: str | None = None,
               environments: Any = None) -> dict:
    """Several writes of the application's configurations and their overrides, each with its own `if_match` and
    `if_none_match`, in the caller's transaction: all of them, or (at the first that fails, its problem naming it)
    none. `environments`: those the key may see (None: all); another is, in its turn, one that does not exist."""
    one(cur, LOCK, {"id": application_id}, applications.MISSING)
    cur.execute(PIN_TIME)  # its changes show one time (`rows.NOW`)
    results = []
    for index, change in enumerate(changes):
        try:
            results.append(_change(cur, application_id, change, actor, environments))
        except ProblemError as error:
            error.detail = f"Change {index} ({change['action']}): {error.detail or error.title}"
            error.args = (error.detail,)
            if error.errors:
                error.errors = [{**e, "pointer": f"/changes/{index}{e['pointer']}"} if e["pointer"].startswith("/")
                                else e for e in error.errors]
            else:  # (a 404, 409 or 412: the change it was, for a program to find)
                error.errors = [{"pointer": f"/changes/{index}", "message": error.detail}]
            raise
    return {"application_id": application_id, **_end(cur, application_id), "results": results}


def _end(cur, application_id: str) -> dict[str, int]:
    """The application's feed position now, with its epoch: {seq, epoch}."""
    cur.execute(END, {"id": application_id})
    return cur.fetchone()


def _change(cur, application_id: str, change: dict[str, Any], actor: str | None,
            environments: Any = None) -> dict[str, Any]:
    action, id = change["action"], change.get("configuration_id")
    if action == "create":
        row = configurations.create(cur, application_id=application_id, name=change["name"],
                                    comments=change.get("comments"), config=change["config"], actor=actor)
        return {"action": action, "configuration_id": row["id"], "environment_id": None, "version": row["version"],
                "etag": etags.of_row(row)}
    if id is None:  # an override's configuration by name, as the set has left it
        cur.execute(BY_NAME, {"application_id": application_id, "name": change["name"]})
        found = cur.fetchone()
        if found is None:
            raise NotFound("This application has no configuration with this name.")
        id = found["id"]
    cur.execute(OWNER, {"id": id})
    owner = cur.fetchone()
    if owner is None or owner["application_id"] != application_id:
        raise NotFound("This application has no configuration with this id.")
    if action in ("set_override", "delete_override"):
        environment_id = change["environment_id"]
        if environments is not None and environment_id not in environments:
            raise NotFound(overrides.NO_ENVIRONMENT)  # (what one that does not exist answers, below)
        key = f"{id}.{environment_id}"
        when = etags.Preconditions(etags.accepted(change.get("if_match"), key),
                                   etags.refused(change.get("if_none_match"), key),
                                   current=change.get("if_match") is not None)
        if action == "delete_override":
            overrides.delete(cur, id, environment_id, when=when, actor=actor)
            return {"action": action, "configuration_id": id, "environment_id": environment_id, "version": None,
                    "etag": None}
        row = overrides.put(cur, id, environment_id, patch=change["patch"], comments=change.get("comments"),
                            when=when, actor=actor)
        return {"action": action, "configuration_id": id, "environment_id": environment_id,
                "version": row["version"], "etag": etags.make(key, row["version"], row["epoch"])}
    when = etags.Preconditions(etags.accepted(change.get("if_match"), id),
                               etags.refused(change.get("if_none_match"), id))
    if action == "delete":
        configurations.delete(cur, id, when=when, actor=actor)
        return {"action": action, "configuration_id": id, "environment_id": None, "version": None, "etag": None}
    row = configurations.update(cur, id, name=change["name"], comments=change.get("comments"),
                                config=change["config"], when=when, actor=actor)
    return {"action": action, "configuration_id": id, "environment_id": None, "version": row["version"],
            "etag": etags.of_row(row)}
