"""Effective views: a configuration as an environment sees it, with the layer that set each value; and two views
compared. The SQL reads, in one statement, the configuration(s), the environment's chain root first and the
overrides along it; the merge itself (RFC 7396, `jsondoc.merge`) runs here, on exact numbers.
"""

from typing import Any

from db.database import idempotent, prepared
from jsondoc.merge import effective
from jsondoc.patch import diff
from jsondoc.pointer import split as split_pointer
from repositories.rows import Row, one
from wire import jsontext
from wire.problems import NotFound

# The chain of %(environment_id)s, from it (depth 1) up to its root.
CHAIN = """
WITH RECURSIVE chain (id, name, parent_id, depth) AS (
    SELECT id, name, parent_id, 1 FROM environments WHERE id = %(environment_id)s
    UNION ALL
    SELECT e.id, e.name, e.parent_id, chain.depth + 1 FROM environments e JOIN chain ON e.id = chain.parent_id
    WHERE chain.depth < 64
)
"""
# Per configuration `c`: the chain root first, each environment with its override's patch (null without one).
LAYERS = """
    (SELECT jsonb_agg(jsonb_build_object('id', chain.id, 'name', chain.name, 'patch', o.patch) ORDER BY chain.depth DESC)
     FROM chain LEFT JOIN overrides o ON o.configuration_id = c.id AND o.environment_id = chain.id) AS layers
"""
ONE = prepared(CHAIN + f"""
SELECT c.id, c.application_id, c.name, c.config, {LAYERS},
       (SELECT name FROM chain WHERE depth = 1) AS environment
FROM configurations c WHERE c.id = %(id)s AND EXISTS (SELECT 1 FROM chain)
""")
ALL = prepared(CHAIN + f"""
SELECT c.id, c.application_id, c.name, c.config, {LAYERS}
FROM configurations c WHERE c.application_id = %(id)s AND EXISTS (SELECT 1 FROM chain)
  AND (%(name)s::varchar IS NULL OR c.name = %(name)s)
ORDER BY c.id
""")
ENVIRONMENT = "SELECT id, name FROM environments WHERE id = %(environment_id)s"
ENVIRONMENT_NAMED = "SELECT id, name FROM environments WHERE name = %(name)s"
APPLICATION = "SELECT id, name FROM applications WHERE id = %(id)s"
APPLICATION_NAMED = "SELECT id, name FROM applications WHERE name = %(name)s"
CONFIGURATION = "SELECT 1 FROM configurations WHERE id = %(id)s"

NO_CONFIGURATION = "No configuration has this id."
NO_APPLICATION = "No application has this id."
NO_ENVIRONMENT = "No environment has this id."


def view(row: Row, environment: Row) -> dict[str, Any]:
    """The effective view of one configuration row read with `LAYERS`, in `environment` (its `id` and `name`)."""
    layers = jsontext.loads(row["layers"])
    names = {None: None} | {layer["id"]: layer["name"] for layer in layers}
    document, provenance, removed = effective(
        jsontext.loads(row["config"]), [(layer["id"], layer["patch"]) for layer in layers if layer["patch"] is not None])
    return {"configuration_id": row["id"], "application_id": row["application_id"], "name": row["name"],
            "environment_id": environment["id"], "environment": environment["name"], "config": document,
            "provenance": grouped(provenance, removed, [None, *(layer["id"] for layer in layers)], names)}


def grouped(provenance: dict[str, str | None], removed: dict[str, str | None], order: list[str | None],
            names: dict) -> list[dict[str, Any]]:
    """Pointer → layer, for what each layer set and what it removed, as the contract's `ProvenanceLayer`s: root
    first, only layers that set or removed something."""
    pointers: dict[str | None, list[str]] = {}
    removals: dict[str | None, list[str]] = {}
    for pointer, layer in provenance.items():
        pointers.setdefault(layer, []).append(pointer)
    for pointer, layer in removed.items():
        removals.setdefault(layer, []).append(pointer)
    return [{"environment_id": layer, "environment": names[layer], "pointers": pointers.get(layer, []),
             "removed": removals.get(layer, [])} for layer in order if layer in pointers or layer in removals]


def _environment(cur, environment_id: str) -> Row:
    return one(cur, ENVIRONMENT, {"environment_id": environment_id}, NO_ENVIRONMENT)


@idempotent
def configuration(cur, id: str, environment_id: str) -> dict[str, Any]:
    """The effective view of configuration `id` in the environment; 404 naming what does not exist."""
    cur.execute(ONE, {"id": id, "environment_id": environment_id})
    row = cur.fetchone()
    if row is None:  # one of them does not exist: say which
        one(cur, CONFIGURATION, {"id": id}, NO_CONFIGURATION)
        _environment(cur, environment_id)
    return view(row, {"id": environment_id, "name": row["environment"]})


def _application(cur, application: Row, environment: Row, name: str | None) -> dict[str, Any]:
    cur.execute(ALL, {"id": application["id"], "environment_id": environment["id"], "name": name})
    return {"application_id": application["id"], "application": application["name"],
            "environment_id": environment["id"], "environment": environment["name"],
            "configurations": [view(row, environment) for row in cur.fetchall()]}


@idempotent
def application(cur, id: str, environment_id: str, *, name: str | None = None) -> dict[str, Any]:
    """The effective views of all of application `id`'s configurations in the environment, in id order; with
    `name`, of the one with that name only (404 when it has none)."""
    found = one(cur, APPLICATION, {"id": id}, NO_APPLICATION)
    views = _application(cur, found, _environment(cur, environment_id), name)
    if name is not None and not views["configurations"]:
        raise NotFound("This application has no configuration with this name.")
    return views


NO_APPLICATION_NAMED = "No application has this name."
NO_ENVIRONMENT_NAMED = "No environment has this name."


@idempotent
def named(cur, *, application: str, environment: str) -> tuple[str | None, str | None]:
    """The ids of the application and of the environment with these names, None for a name nothing has: which
    404 answers is for the caller to say, once it knows what its key may see (`live/scopes.named`), so that an
    application it may not see answers as one that does not exist, whatever the environment's name."""
    cur.execute(APPLICATION_NAMED, {"name": application})
    found = cur.fetchone()
    cur.execute(ENVIRONMENT_NAMED, {"name": environment})
    env = cur.fetchone()
    return (None if found is None else found["id"]), (None if env is None else env["id"])




def _own(cur, id: str) -> dict[str, Any]:
    """A configuration's own `config` as a view without environment: every value set by `config`."""
    row = one(cur, "SELECT id, application_id, name, config FROM configurations WHERE id = %(id)s", {"id": id},
              NO_CONFIGURATION)
    document, provenance, _ = effective(jsontext.loads(row["config"]), [])
    return {"configuration_id": row["id"], "name": row["name"], "environment_id": None, "config": document,
            "provenance": grouped(provenance, {}, [None], {None: None})}


def compared(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """How view `second` differs from view `first`: the JSON Patch from one to the other, and each side's
    provenance restricted to the values the patch touches (at, under or above a path it names)."""
    patch = diff(first["config"], second["config"])
    paths = [operation["path"] for operation in patch]

    def touched(pointer: str) -> bool:
        return any(pointer == path or pointer.startswith(path + "/") or path.startswith(pointer + "/")
                   or path == "" or pointer == "" for path in paths)

    def side(view: dict[str, Any]) -> list[dict[str, Any]]:
        layers = ({**layer, "pointers": [pointer for pointer in layer["pointers"] if touched(pointer)],
                   "removed": [pointer for pointer in layer["removed"] if touched(pointer)]}
                  for layer in view["provenance"])
        return [layer for layer in layers if layer["pointers"] or layer["removed"]]

    return {"configuration_id": second["configuration_id"], "name": second["name"],
            "from_environment_id": first["environment_id"], "to_environment_id": second["environment_id"],
            "patch": patch, "from_provenance": side(first), "to_provenance": side(second)}


@idempotent
def compare(cur, id: str, *, first: str | None, second: str) -> dict[str, Any]:
    """Configuration `id` compared between environment `first` (its own `config` when None) and `second`."""
    before = _own(cur, id) if first is None else configuration(cur, id, first)
    return compared(before, configuration(cur, id, second))


@idempotent
def compare_application(cur, id: str, *, first: str | None, second: str) -> dict[str, Any]:
    """Every configuration of application `id` compared between two environments, in id order."""
    found = one(cur, APPLICATION, {"id": id}, NO_APPLICATION)
    after = _application(cur, found, _environment(cur, second), None)
    if first is None:
        befores = [_own(cur, view["configuration_id"]) for view in after["configurations"]]
    else:
        befores = _application(cur, found, _environment(cur, first), None)["configurations"]
    return {"application_id": id, "from_environment_id": first, "to_environment_id": second,
            "configurations": [compared(before, view) for before, view in zip(befores, after["configurations"])]}
