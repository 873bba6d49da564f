"""Issue 25 through the HTTP API of a real service of two workers: every operation of the contract answered to keys
of each kind of scope as the rules say (the access matrix), listings and the change feed cut to a key's scope, key
management's bad input (a problem each, nothing written) and its audit.

The rules, as a key sees them: what is outside its scope answers exactly what something that does not exist answers
(404; 422 at `/application_id` for a new configuration's application); what it sees but may not do answers 403.
Every request goes over a connection of its own, so both workers answer the matrix; a write sends the same body
each time, and what a delete removed is made again, so the order of the matrix does not matter. The work is counted
(no timing is asserted); the only deadline is `HANG`, which only a hang reaches."""

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg2
import pytest
import yaml

from app import CONTRACT
from tools import harness
from tools.harness import APPS, CONFIGS, HANG, assert_problem, until

pytestmark = pytest.mark.integration

ROOT = "root-admin-" + "r" * 24  # the settings' admin key
ENVS = "/api/v1/environments"
KEYS = "/api/v1/keys"
AUDIT = "/api/v1/audit/keys"
MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"  # no application or configuration has this id
NOWHERE = "01JD3C0F5G6H7J8K9M0N1P2Q3R"  # no environment has this id
NO_NAME = "acc-nothing"  # no application or environment has this name
RUN = uuid.uuid4().hex[:6]  # key names are unique among keys not revoked, and keys outlive a test's tables

CONFIG = {"A": {"host": "a.internal", "port": 5432}, "B": {"host": "b.internal", "port": 5433}}
PATCH = {("A", "E"): {"host": "a.e"}, ("A", "F"): {"port": 6000},
         ("B", "E"): {"host": "b.e"}, ("B", "F"): {"port": 7000}}

# The keys of the matrix: (actions, applications, environments), "A", "B", "E", "F" standing for the ids.
KINDS: dict[str, tuple[list[str], list[str] | None, list[str] | None]] = {
    "read-all": (["read"], None, None),
    "write-all": (["read", "write"], None, None),
    "read-A": (["read"], ["A"], None),
    "write-A": (["read", "write"], ["A"], None),
    "write-A-in-E": (["read", "write"], ["A"], ["E"]),
    "read-in-E": (["read"], None, ["E"]),
    "write-in-E": (["read", "write"], None, ["E"]),
    "manage-only": (["manage"], None, None),
    "manage-A": (["read", "manage"], ["A"], None),
}


# -- the service and what the tests share -------------------------------------------------------------------------
def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def without_instance(body: dict) -> dict:
    return {name: value for name, value in body.items() if name != "instance"}


@dataclass
class World:
    """The service, and what the matrix reads and writes: applications A and B, each with a configuration
    (`confs`) overridden in E and in F (a child of E); G, an environment nothing holds; and a key of each kind."""

    base: str
    client: httpx.Client
    database_url: str = ""
    apps: dict[str, dict] = field(default_factory=dict)
    confs: dict[str, dict] = field(default_factory=dict)
    envs: dict[str, dict] = field(default_factory=dict)
    keys: dict[str, dict] = field(default_factory=dict)

    def call(self, secret: str, method: str, path: str, *, params: dict | None = None, json: Any = None,
             headers: dict | None = None) -> httpx.Response:
        """One request over a connection of its own (the client keeps none open): each new connection goes to
        either worker."""
        return self.client.request(method, self.base + path, params=params, json=json,
                                   headers=auth(secret) | (headers or {}))

    def position(self, application_id: str) -> int:
        """The application's last feed position (what a read of the past may name)."""
        with psycopg2.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT last_change FROM applications WHERE id = %s", (application_id,))
            found = cur.fetchone()
        conn.close()
        return found[0] if found else 0

    def root(self, method: str, path: str, status: int | None = None, **kwargs: Any) -> httpx.Response:
        response = self.call(ROOT, method, path, **kwargs)
        if status is not None:
            assert response.status_code == status, f"{method} {path}: {response.text}"
        return response

    def make_configuration(self, x: str) -> None:
        """Application x's configuration, overridden in E and F (made again after a delete)."""
        made = self.root("POST", CONFIGS, 201, json={"application_id": self.apps[x]["id"], "name": "db",
                                                     "config": CONFIG[x]}).json()
        self.confs[x] = made
        for y in ("E", "F"):
            self.put_override(x, y)

    def put_override(self, x: str, y: str) -> None:
        response = self.root("PUT", f"{CONFIGS}/{self.confs[x]['id']}/overrides/{self.envs[y]['id']}",
                             json={"patch": PATCH[x, y]})
        assert response.status_code in (200, 201), response.text

    def make_environment(self, name: str, parent: str | None = None) -> dict:
        return self.root("POST", ENVS, 201, json={"name": name, "parent_id": parent}).json()

    def make_key(self, name: str, actions: list[str], applications: list[str] | None,
                 environments: list[str] | None, *, by: str = ROOT) -> dict:
        """A key with these rights; "A", "B", "E", "F" name the world's."""
        def ids(letters, table):
            return None if letters is None else [table[letter]["id"] for letter in letters]
        body = {"name": name, "actions": actions, "applications": ids(applications, self.apps),
                "environments": ids(environments, self.envs)}
        response = self.call(by, "POST", KEYS, json=body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="module")
def world(database_url):
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn, conn.cursor() as cur:
        cur.execute("TRUNCATE applications, configurations, environments CASCADE")
    conn.close()
    service = harness.Service(database_url, 2, API_KEYS=f"root:admin:{ROOT}")
    client = httpx.Client(timeout=HANG, limits=httpx.Limits(max_keepalive_connections=0))
    try:
        made = World(service.base, client, database_url)
        for x in ("A", "B"):
            made.apps[x] = made.root("POST", APPS, 201, json={"name": f"acc-{x.lower()}"}).json()
        made.envs["E"] = made.make_environment("acc-e")
        made.envs["F"] = made.make_environment("acc-f", made.envs["E"]["id"])
        made.envs["G"] = made.make_environment("acc-g")
        for x in ("A", "B"):
            made.make_configuration(x)
        for kind, rights in KINDS.items():
            made.keys[kind] = made.make_key(f"acc-{kind}-{RUN}", *rights)
        yield made
    finally:
        client.close()
        service.stop()


# -- the rules, as the matrix states them ---------------------------------------------------------------------------
HIDDEN = {  # where an operation names what may be out of scope: what answers when nothing had that id or name
    "application": (404, "No application has this id."),
    "configuration": (404, "No configuration has this id."),
    "new": (422, "No application has this id."),
    "application-name": (404, "No application has this name."),
    "environment": (404, "No environment has this id."),
    "environment-name": (404, "No environment has this name."),
}


@dataclass(frozen=True)
class Target:
    """What one request names: an application (and its configuration) and an environment."""

    app: str = ""
    app_name: str = ""
    conf: str = ""
    conf_name: str = "db"
    config: dict = field(default_factory=dict)
    env: str = ""
    env_name: str = ""
    env_parent: str | None = None
    patch: dict = field(default_factory=dict)
    e: str = ""  # E's id, for a comparison from another environment to E
    seq: int = 0  # the application's last feed position, for a read of the past


@dataclass(frozen=True)
class Op:
    """One operation of the contract as the matrix sends it. `path` is the contract's; `{id}` is the application's,
    the configuration's or the environment's, as `id_of` says. `scope` names what the key must see (`HIDDEN`'s
    positions; "application..." and "configuration" are of X, "environment..." of Y); `needs` what it must be
    allowed: read, write, shared (write, on every environment), everywhere (write, on every application and
    environment)."""

    id: str
    method: str
    path: str
    id_of: str | None = None
    scope: tuple[str, ...] = ()
    needs: str | None = None
    ok: int = 200
    params: Callable[[Target], dict] | None = None
    body: Callable[[Target], Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    xs: tuple[str | None, ...] = (None,)
    ys: tuple[str | None, ...] = (None,)
    form: str = ""  # which form of a read: the fast path's, or the router's

    @property
    def positions(self) -> list[tuple[str | None, str | None]]:
        return [(x, y) for x in self.xs for y in self.ys]

    def url(self, t: Target) -> str:
        ids = {"application": t.app, "configuration": t.conf, "environment": t.env, None: ""}
        return self.path.format(id=ids[self.id_of], environment_id=t.env, version=1)


AB, EF = ("A", "B"), ("E", "F")
ROUTED = {"route": "1"}  # a parameter the contract lacks: the fast path leaves the read to the route, which ignores it


def unique(what: str) -> str:
    return f"acc-{what}-{uuid.uuid4().hex[:10]}"


MATRIX = [
    Op("listApplications", "GET", APPS, needs="read"),
    Op("createApplication", "POST", APPS, needs="everywhere", ok=201, body=lambda t: {"name": unique("app")}),
    Op("getApplication", "GET", APPS + "/{id}", "application", ("application",), xs=AB),
    Op("updateApplication", "PUT", APPS + "/{id}", "application", ("application",), "shared",
       body=lambda t: {"name": t.app_name}, xs=AB),
    # Deleting A or B would take what every other cell reads: `If-None-Match: *` makes the delete refuse an
    # application that exists (412) after the gate has let it through; the real delete has a test of its own.
    Op("deleteApplication", "DELETE", APPS + "/{id}", "application", ("application",), "shared", ok=412,
       headers={"If-None-Match": "*"}, xs=AB),
    Op("listApplicationConfigurations", "GET", APPS + "/{id}/configurations", "application", ("application",),
       xs=AB),
    Op("listApplicationChanges", "GET", APPS + "/{id}/changes", "application", ("application",), xs=AB),
    Op("createConfiguration", "POST", CONFIGS, None, ("new",), "shared", ok=201,
       body=lambda t: {"application_id": t.app, "name": unique("conf"), "config": {}}, xs=AB),
    Op("getConfiguration", "GET", CONFIGS + "/{id}", "configuration", ("configuration",), xs=AB, form="fast path"),
    Op("getConfiguration", "GET", CONFIGS + "/{id}", "configuration", ("configuration",), xs=AB,
       params=lambda t: {"wait": "1"}, form="fast path, held"),
    Op("getConfiguration", "GET", CONFIGS + "/{id}", "configuration", ("configuration",), xs=AB,
       params=lambda t: ROUTED, form="router"),
    Op("updateConfiguration", "PUT", CONFIGS + "/{id}", "configuration", ("configuration",), "shared",
       body=lambda t: {"name": t.conf_name, "config": t.config}, xs=AB),
    Op("patchConfiguration", "PATCH", CONFIGS + "/{id}", "configuration", ("configuration",), "shared",
       body=lambda t: {"config": {"patched": True}}, xs=AB),
    Op("deleteConfiguration", "DELETE", CONFIGS + "/{id}", "configuration", ("configuration",), "shared", ok=204,
       xs=AB),
    Op("listConfigurationRevisions", "GET", CONFIGS + "/{id}/revisions", "configuration", ("configuration",), xs=AB),
    Op("getConfigurationRevision", "GET", CONFIGS + "/{id}/revisions/{version}", "configuration",
       ("configuration",), xs=AB),
    Op("restoreConfigurationRevision", "POST", CONFIGS + "/{id}/revisions/{version}/restore", "configuration",
       ("configuration",), "shared", xs=AB),
    Op("listConfigurationOverrides", "GET", CONFIGS + "/{id}/overrides", "configuration", ("configuration",), xs=AB),
    Op("getOverride", "GET", CONFIGS + "/{id}/overrides/{environment_id}", "configuration",
       ("configuration", "environment"), xs=AB, ys=EF),
    Op("putOverride", "PUT", CONFIGS + "/{id}/overrides/{environment_id}", "configuration",
       ("configuration", "environment"), "write", body=lambda t: {"patch": t.patch}, xs=AB, ys=EF),
    Op("deleteOverride", "DELETE", CONFIGS + "/{id}/overrides/{environment_id}", "configuration",
       ("configuration", "environment"), "write", ok=204, xs=AB, ys=EF),
    Op("listOverrideRevisions", "GET", CONFIGS + "/{id}/overrides/{environment_id}/revisions", "configuration",
       ("configuration", "environment"), xs=AB, ys=EF),
    Op("getOverrideRevision", "GET", CONFIGS + "/{id}/overrides/{environment_id}/revisions/{version}",
       "configuration", ("configuration", "environment"), xs=AB, ys=EF),
    Op("restoreOverrideRevision", "POST", CONFIGS + "/{id}/overrides/{environment_id}/revisions/{version}/restore",
       "configuration", ("configuration", "environment"), "write", xs=AB, ys=EF),
    Op("getEffectiveConfiguration", "GET", CONFIGS + "/{id}/effective", "configuration",
       ("configuration", "environment"), params=lambda t: {"environment_id": t.env}, xs=AB, ys=EF,
       form="fast path"),
    Op("getEffectiveConfiguration", "GET", CONFIGS + "/{id}/effective", "configuration",
       ("configuration", "environment"), params=lambda t: {"environment_id": t.env, "wait": "1"}, xs=AB, ys=EF,
       form="fast path, held"),
    Op("getEffectiveConfiguration", "GET", CONFIGS + "/{id}/effective", "configuration",
       ("configuration", "environment"), params=lambda t: {"environment_id": t.env, **ROUTED}, xs=AB, ys=EF,
       form="router"),
    Op("getEffectiveApplication", "GET", APPS + "/{id}/effective", "application", ("application", "environment"),
       params=lambda t: {"environment_id": t.env}, xs=AB, ys=EF),
    Op("findEffective", "GET", "/api/v1/effective", None, ("application-name", "environment-name"),
       params=lambda t: {"application": t.app_name, "environment": t.env_name}, xs=AB, ys=EF),
    Op("compareConfiguration", "GET", CONFIGS + "/{id}/compare", "configuration", ("configuration", "environment"),
       params=lambda t: {"to": t.env}, xs=AB, ys=EF, form="own config to Y"),
    Op("compareConfiguration", "GET", CONFIGS + "/{id}/compare", "configuration", ("configuration", "environment"),
       params=lambda t: {"from": t.env, "to": t.e}, xs=AB, ys=EF, form="Y to E"),
    Op("compareApplication", "GET", APPS + "/{id}/compare", "application", ("application", "environment"),
       params=lambda t: {"to": t.env}, xs=AB, ys=EF),
    Op("listEnvironments", "GET", ENVS, needs="read"),
    Op("createEnvironment", "POST", ENVS, needs="everywhere", ok=201, body=lambda t: {"name": unique("env")}),
    Op("getEnvironment", "GET", ENVS + "/{id}", "environment", ("environment",), ys=EF),
    Op("updateEnvironment", "PUT", ENVS + "/{id}", "environment", ("environment",), "everywhere",
       body=lambda t: {"name": t.env_name, "parent_id": t.env_parent}, ys=EF),
    Op("getConfigurationDiff", "GET", CONFIGS + "/{id}/diff", "configuration", ("configuration",),
       params=lambda t: {"from": "1"}, xs=AB),
    Op("getOverrideDiff", "GET", CONFIGS + "/{id}/overrides/{environment_id}/diff", "configuration",
       ("configuration", "environment"), params=lambda t: {"from": "1"}, xs=AB, ys=EF),
    Op("getConfigurationSnapshot", "GET", CONFIGS + "/{id}/snapshot", "configuration", ("configuration",),
       params=lambda t: {"seq": str(t.seq)}, xs=AB, form="fast path"),
    Op("getConfigurationSnapshot", "GET", CONFIGS + "/{id}/snapshot", "configuration", ("configuration",),
       params=lambda t: {"seq": str(t.seq), **ROUTED}, xs=AB, form="router"),
    Op("getApplicationSnapshot", "GET", APPS + "/{id}/snapshot", "application", ("application",),
       params=lambda t: {"seq": str(t.seq)}, xs=AB),
    Op("getEffectiveSnapshot", "GET", CONFIGS + "/{id}/effective/snapshot", "configuration",
       ("configuration", "environment"), params=lambda t: {"environment_id": t.env, "seq": str(t.seq)}, xs=AB,
       ys=EF),
    # An export, and an import's plan, hold every environment's overrides.
    Op("exportApplication", "GET", APPS + "/{id}/export", "application", ("application",), "every-environment",
       xs=AB),
    Op("planImport", "POST", APPS + "/{id}/import/plan", "application", ("application",), "every-environment",
       body=lambda t: {"document": {"configurations": [{"name": t.conf_name, "config": t.config}]}}, xs=AB),
    # A token no plan gave, and an If-Match no version has: refused (412) once the gate has let them through.
    Op("applyImport", "POST", APPS + "/{id}/import/apply", "application", ("application",), "shared", ok=412,
       body=lambda t: {"document": {"configurations": [{"name": t.conf_name, "config": t.config}]},
                       "token": "0" * 64}, xs=AB),
    Op("applyChangeSet", "POST", APPS + "/{id}/changesets", "application", ("application",), "shared", ok=412,
       body=lambda t: {"changes": [{"action": "update", "configuration_id": t.conf, "name": t.conf_name,
                                    "config": t.config, "if_match": f'"{t.conf}.999999"'}]}, xs=AB),
    # E and F hold overrides (409): G, which nothing holds, is deleted and made again.
    Op("deleteEnvironment", "DELETE", ENVS + "/{id}", "environment", ("environment",), "everywhere", ok=204,
       ys=("G",)),
]
# Tested by the tests of key management below, and public.
KEY_OPERATIONS = {"createKey", "listKeys", "getKey", "updateKey", "revokeKey", "getCurrentKey", "listKeyAudit"}
PUBLIC = {"getHealth", "headHealth", "getLiveness", "headLiveness"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def expect(op: Op, kind: str, x: str | None, y: str | None) -> tuple[int, str | None]:
    """The status the rules give key `kind` for `op` on x's resources in y; and, when what it names is out of the
    key's scope, the position (`HIDDEN`) that answers as if it did not exist."""
    actions, applications, environments = KINDS[kind]
    read, write = "read" in actions, "write" in actions
    for position in op.scope:
        if position.startswith("environment"):
            if not (read and (environments is None or y in environments)):
                return HIDDEN[position][0], position
        elif not (read and (applications is None or x in applications)):
            return HIDDEN[position][0], position
    everywhere = applications is None and environments is None
    allowed = {None: True, "read": read, "write": write, "shared": write and environments is None,
               "everywhere": write and everywhere, "every-environment": read and environments is None}[op.needs]
    return (op.ok if allowed else 403), None


def contract_operations() -> dict[str, tuple[set[str], set[str]]]:
    """operationId: ({"METHOD path", ...}, its tags), from the contract."""
    spec = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    found: dict[str, tuple[set[str], set[str]]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                entry = found.setdefault(operation["operationId"], (set(), set()))
                entry[0].add(f"{method.upper()} {path}")
                entry[1].update(operation.get("tags", []))
    return found


def test_the_matrix_lists_every_operation_of_the_contract_as_the_contract_spells_it():
    operations = contract_operations()
    assert {op.id for op in MATRIX} == set(operations) - KEY_OPERATIONS - PUBLIC
    assert {id for id, (_, tags) in operations.items() if "keys" in tags} == KEY_OPERATIONS
    for op in MATRIX:
        assert f"{op.method} {op.path}" in operations[op.id][0], op.id


# -- the matrix ---------------------------------------------------------------------------------------------------
def target(world: World, x: str | None, y: str | None, hidden: str | None = None) -> Target:
    """What a request on x's resources in y names; with `hidden`, that position names what does not exist."""
    app = world.apps.get(x or "A")
    conf = world.confs.get(x or "A")
    env = world.envs.get(y or "E")
    found = Target(app=app["id"], app_name=app["name"], conf=conf["id"], config=CONFIG[x or "A"], env=env["id"],
                   env_name=env["name"], env_parent=env["parent_id"], patch=PATCH.get((x, y), {}),
                   e=world.envs["E"]["id"], seq=world.position(app["id"]))
    if hidden is None:
        return found
    if hidden.startswith("environment"):
        return replace(found, env=NOWHERE, env_name=NO_NAME)
    return replace(found, app=MISSING, app_name=NO_NAME, conf=MISSING)


def send(world: World, secret: str, op: Op, t: Target) -> httpx.Response:
    return world.call(secret, op.method, op.url(t), params=op.params(t) if op.params else None,
                      json=op.body(t) if op.body else None, headers=op.headers)


def made_again(world: World, op: Op, x: str | None, y: str | None, response: httpx.Response) -> None:
    """Undo what an allowed write took away or added, so that every cell reads the same world."""
    if op.id == "deleteConfiguration":
        world.make_configuration(x)
    elif op.id == "deleteOverride":
        world.put_override(x, y)
    elif op.id == "deleteEnvironment":
        world.envs["G"] = world.make_environment("acc-g")
    elif op.id in ("createApplication", "createConfiguration", "createEnvironment"):
        world.root("DELETE", response.headers["Location"], 204)


def test_every_operation_answers_each_key_as_the_rules_say(world):
    """Each key × each operation × A's and B's resources in E and F: the status the rules give; each 404 (or 422)
    of something out of scope is, apart from `instance`, the very problem that the same key, and the admin key,
    get for an id (or name) that nothing has in that position. Reads are sent twice, over new connections."""
    wrong: list[str] = []
    cells = 0
    for op in MATRIX:
        for kind, key in world.keys.items():
            for x, y in op.positions:
                status, hidden = expect(op, kind, x, y)
                where = f"{op.id}{f' ({op.form})' if op.form else ''} by {kind} on {x or '-'}/{y or '-'}"
                for _ in range(2 if op.method == "GET" else 1):
                    cells += 1
                    response = send(world, key["secret"], op, target(world, x, y))
                    if response.status_code != status:
                        wrong.append(f"{where}: {response.status_code}, the rules say {status}: {response.text}")
                        continue
                    if 200 <= status < 300:
                        made_again(world, op, x, y, response)
                        continue
                    body = assert_problem(response, status)
                    if hidden is None:
                        continue
                    if body.get("detail") != HIDDEN[hidden][1] or (
                            status == 422 and body["errors"][0]["pointer"] != "/application_id"):
                        wrong.append(f"{where}: {response.text}, as if missing: {HIDDEN[hidden]}")
                    for who, secret in (("itself", key["secret"]), ("the admin key", ROOT)):
                        missing = send(world, secret, op, target(world, x, y, hidden))
                        if (missing.status_code, without_instance(missing.json())) != (status, without_instance(body)):
                            wrong.append(f"{where}: {response.text}; with no such {hidden}, {who} gets "
                                         f"{missing.status_code} {missing.text}")
    assert not wrong, f"{len(wrong)} of {cells} answers break the rules:\n" + "\n".join(wrong)
    assert cells == sum(len(op.positions) * (2 if op.method == "GET" else 1) for op in MATRIX) * len(KINDS)


def test_new_connections_reach_both_workers(world):
    """What spreads the matrix over both workers: one worker holds a request (its /health counts it), and /health
    asked over new connections answers both from a worker that holds it and from one that does not."""
    url = f"{CONFIGS}/{world.confs['B']['id']}"
    current = world.root("GET", url, 200)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(world.call, ROOT, "GET", url, params={"wait": "60"},
                           headers={"If-None-Match": current.headers["ETag"]})
        seen: set[int] = set()
        until(lambda: seen.add(harness.health(world.base).get("waiters", -1)) or {0, 1} <= seen,
              "a worker holding the request and one not holding it, each answering a new connection")
        world.root("PUT", url, 200, json={"name": "db", "config": CONFIG["B"]})
        assert held.result().status_code == 200


def test_each_key_reads_its_own_rights(world):
    for kind, key in world.keys.items():
        current = world.call(key["secret"], "GET", "/api/v1/key")
        assert current.status_code == 200, current.text
        assert current.json() == {"open": False, "id": key["id"], "name": key["name"], "source": "managed",
                                  "actions": key["actions"], "applications": key["applications"],
                                  "environments": key["environments"], "expires_at": None}
    assert world.call(ROOT, "GET", "/api/v1/key").json()["source"] == "settings"
    assert world.call("csk_" + "x" * 43, "GET", "/api/v1/key").status_code == 401


def test_an_application_is_deleted_only_by_a_key_that_may_write_it_in_every_environment(world):
    mine, other = (world.root("POST", APPS, 201, json={"name": unique("app")}).json() for _ in range(2))
    writer = world.make_key(unique("key"), ["read", "write"], None, None)
    body = {"name": unique("key"), "actions": ["read", "write"], "applications": [mine["id"]], "environments": None}
    scoped = world.root("POST", KEYS, 201, json=body).json()
    in_e = world.root("POST", KEYS, 201, json=body | {"name": unique("key"),
                                                      "environments": [world.envs["E"]["id"]]}).json()
    hidden = world.call(scoped["secret"], "DELETE", f"{APPS}/{other['id']}")
    missing = world.call(scoped["secret"], "DELETE", f"{APPS}/{MISSING}")
    assert without_instance(assert_problem(hidden, 404)) == without_instance(assert_problem(missing, 404))
    assert_problem(world.call(world.keys["read-all"]["secret"], "DELETE", f"{APPS}/{mine['id']}"), 403)
    assert_problem(world.call(in_e["secret"], "DELETE", f"{APPS}/{mine['id']}"), 403)
    assert world.call(scoped["secret"], "DELETE", f"{APPS}/{mine['id']}").status_code == 204
    assert world.call(writer["secret"], "DELETE", f"{APPS}/{other['id']}").status_code == 204
    for gone in (mine, other):
        assert_problem(world.root("GET", f"{APPS}/{gone['id']}"), 404)


# -- listings and the change feed -------------------------------------------------------------------------------
def listed(world: World, secret: str, path: str, key: str = "id", **params: Any) -> list[str] | int:
    """Every item's `key` over every page (two items a page, to read on with cursors); the status when not 200."""
    found, cursor = [], None
    while True:
        response = world.call(secret, "GET", path, params={"limit": 2, **params} | ({"cursor": cursor} if cursor
                                                                                     else {}))
        if response.status_code != 200:
            return response.status_code
        page = response.json()
        found += [item[key] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            return found


def test_listings_show_only_what_is_in_the_keys_scope(world):
    apps = listed(world, ROOT, APPS)
    envs = listed(world, ROOT, ENVS)
    ids = {letter: item["id"] for letter, item in (world.apps | world.envs).items()}
    assert {ids["A"], ids["B"]} <= set(apps) and {ids["E"], ids["F"], ids["G"]} <= set(envs)
    for kind, key in world.keys.items():
        actions, applications, environments = KINDS[kind]
        if "read" not in actions:
            assert listed(world, key["secret"], APPS) == listed(world, key["secret"], ENVS) == 403, kind
            assert listed(world, key["secret"], f"{CONFIGS}/{world.confs['A']['id']}/overrides") == 404, kind
            continue
        assert listed(world, key["secret"], APPS) == [
            id for id in apps if applications is None or id in {ids[a] for a in applications}], kind
        assert listed(world, key["secret"], ENVS) == [
            id for id in envs if environments is None or id in {ids[e] for e in environments}], kind
        for x in AB:
            overrides = listed(world, key["secret"], f"{CONFIGS}/{world.confs[x]['id']}/overrides", "environment_id")
            if applications is not None and x not in applications:
                assert overrides == 404, kind
            else:
                assert overrides == [ids[e] for e in EF if environments is None or e in environments], kind
    # a name out of scope finds nothing, as a name that nothing has
    reader = world.keys["read-A"]["secret"]
    assert listed(world, reader, APPS, name=world.apps["B"]["name"]) == []
    assert listed(world, world.keys["read-in-E"]["secret"], ENVS, name=world.envs["F"]["name"]) == []


def feed(world: World, secret: str, x: str, after: int = 0, limit: int = 500) -> dict:
    response = world.call(secret, "GET", f"{APPS}/{world.apps[x]['id']}/changes",
                          params={"after": after, "limit": limit})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_feed_leaves_out_other_environments_but_reads_past_them(world):
    """The last change of A's feed is F's override: a key limited to E reads past it (`next_after`), page by page
    too, without seeing it."""
    world.put_override("A", "E")
    world.put_override("A", "F")
    everything = feed(world, ROOT, "A")
    last = everything["items"][-1]
    assert last["environment_id"] == world.envs["F"]["id"] and everything["next_after"] == last["seq"]
    for kind in ("read-in-E", "write-A-in-E"):
        secret = world.keys[kind]["secret"]
        shown = feed(world, secret, "A")
        assert shown["items"] == [change for change in everything["items"]
                                  if change["environment_id"] in (None, world.envs["E"]["id"])], kind
        assert shown["next_after"] == everything["next_after"] > shown["items"][-1]["seq"], kind
        after, seen = 0, []
        while after < everything["next_after"]:  # a page of one change at a time (or one transaction's changes,
            page = feed(world, secret, "A", after, limit=1)  # which a page never splits): F's are read past, unseen
            assert page["next_after"] > after, kind
            seen += page["items"]
            after = page["next_after"]
        assert seen == shown["items"] and feed(world, secret, "A", after) == {
            "items": [], "next_after": after, "epoch": shown["epoch"]}, kind
    assert feed(world, world.keys["read-A"]["secret"], "A")["items"] == everything["items"]
    assert_problem(world.call(world.keys["read-A"]["secret"], "GET", f"{APPS}/{world.apps['B']['id']}/changes"), 404)


def test_the_feed_names_the_key_of_each_write(world):
    writer, url = world.keys["write-A"], f"{CONFIGS}/{world.confs['A']['id']}"
    body = {"name": "db", "config": CONFIG["A"]}
    assert world.call(writer["secret"], "PUT", url, json=body).status_code == 200
    world.root("PUT", url, 200, json=body)
    *_, by_key, by_root = feed(world, ROOT, "A")["items"]
    assert (by_key["by"], by_key["by_key_id"]) == (writer["name"], writer["id"])
    assert (by_root["by"], by_root["by_key_id"]) == ("root", None)


def test_revisions_name_the_key_that_made_them_by_id(world):
    """A revision names its key by id as well as by name (a name may be a revoked key's, or look like another's):
    PUT through the write lane, PATCH, a restore and an override's PUT, by a managed key and by the settings'."""
    writer, url = world.keys["write-A"], f"{CONFIGS}/{world.confs['A']['id']}"
    in_e = world.keys["write-A-in-E"]
    override = f"{url}/overrides/{world.envs['E']['id']}"
    body = {"name": "db", "config": CONFIG["A"]}
    assert world.call(writer["secret"], "PUT", url, json=body).status_code == 200
    assert world.call(writer["secret"], "PATCH", url, json={"config": {"patched": True}},
                      headers={"Content-Type": "application/merge-patch+json"}).status_code == 200
    assert world.call(writer["secret"], "POST", f"{url}/revisions/1/restore").status_code == 200
    world.root("PUT", url, 200, json=body)
    made = [(r["created_by"], r["created_by_key_id"]) for r in world.root("GET", f"{url}/revisions", 200).json()["items"]]
    assert made[:4] == [("root", None)] + [(writer["name"], writer["id"])] * 3, made
    assert world.call(in_e["secret"], "PUT", override, json={"patch": {"x": 1}}).status_code in (200, 201)
    world.root("PUT", override, 200, json={"patch": {"x": 2}})
    made = [(r["created_by"], r["created_by_key_id"])
            for r in world.root("GET", f"{override}/revisions", 200).json()["items"]]
    assert made[:2] == [("root", None), (in_e["name"], in_e["id"])], made


def test_a_managed_key_cannot_take_the_name_of_a_key_of_the_settings(world):
    """`root` is the settings' admin: a manager making or renaming a key to it (in any case) is refused, so that the
    history's `created_by: root` is that key's."""
    manager = world.keys["manage-only"]["secret"]
    rights = {"actions": ["manage"], "applications": None, "environments": None, "expires_at": None, "comments": None}
    for name in ("root", "ROOT"):
        assert_problem(world.call(manager, "POST", KEYS, json={"name": name, **rights}), 409)
    other = world.call(manager, "POST", KEYS, json={"name": f"not-root-{RUN}", **rights})
    assert other.status_code == 201, other.text
    renamed = world.call(manager, "PUT", f"{KEYS}/{other.json()['id']}", json={"name": "Root", **rights},
                         headers={"If-Match": other.headers["ETag"]})
    assert_problem(renamed, 409)
    assert "settings" in renamed.json()["detail"]


# -- key management: bad input, and the audit ------------------------------------------------------------------------
def keys_and_audit(world: World) -> tuple[list, list]:
    """Every key as the admin key lists it (id, version, revoked or not), and every audit entry."""
    keys = [(key["id"], key["version"], key["revoked_at"]) for key in
            world.root("GET", KEYS, 200, params={"limit": 500}).json()["items"]]
    assert len(keys) < 500
    entries, after = [], 0
    while page := world.root("GET", AUDIT, 200, params={"after": after, "limit": 500}).json()["items"]:
        entries += page
        after = page[-1]["seq"]
    return keys, entries


def rights(world: World, actions=("read",), applications: list[str] | None = None,
           environments: list[str] | None = None, **more: Any) -> dict:
    """A key's body; "A", "B", "E", "F" name the world's, other ids are sent as they are."""
    def ids(given, table):
        return None if given is None else [table[id]["id"] if id in table else id for id in given]
    return {"name": unique("key"), "actions": list(actions), "applications": ids(applications, world.apps),
            "environments": ids(environments, world.envs)} | more


PAST = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
BAD = [  # (what, the key that sends it, the body's rights, status, pointer)
    ("an unknown action", ROOT, {"actions": ["read", "delete"]}, 422, "/actions/1"),
    ("the same action twice", ROOT, {"actions": ["read", "read"]}, 422, "/actions/1"),
    ("write without read", ROOT, {"actions": ["write"]}, 422, "/actions"),
    ("the same application twice", ROOT, {"applications": ["A", "B", "A"]}, 422, "/applications/2"),
    ("an application that does not exist", ROOT, {"applications": ["A", MISSING]}, 422, "/applications/1"),
    ("an environment that does not exist", ROOT, {"environments": [NOWHERE]}, 422, "/environments/0"),
    ("an expiry in the past", ROOT, {"expires_at": PAST}, 422, "/expires_at"),
    ("a manager of A granting B", "manage-A", {"applications": ["B"]}, 403, None),
    ("a manager of A granting every application", "manage-A", {"applications": None}, 403, None),
    ("a manager of A granting an action it lacks", "manage-A", {"actions": ["read", "write"], "applications": ["A"]},
     403, None),
    ("a manager of A granting what does not exist", "manage-A", {"applications": [MISSING]}, 403, None),
    ("a key that may not manage", "write-all", {}, 403, None),
]


@pytest.mark.parametrize("what, by, given, status, pointer", BAD, ids=[row[0] for row in BAD])
def test_bad_input_to_create_a_key_is_a_problem_and_writes_nothing(world, what, by, given, status, pointer):
    before = keys_and_audit(world)
    secret = ROOT if by == ROOT else world.keys[by]["secret"]
    body = rights(world, **{"applications": ["A"] if by == "manage-A" else None} | given)
    problem = assert_problem(world.call(secret, "POST", KEYS, json=body), status)
    assert problem["detail"]
    if pointer is not None:
        assert [error["pointer"] for error in problem["errors"]] == [pointer]
    changed = rights(world, **{"applications": ["A"] if by == "manage-A" else None} | given)
    victim = world.keys["read-A"]
    if by == ROOT or by == "manage-A":  # the same rights as a change of a key it may see
        again = world.call(secret, "PUT", f"{KEYS}/{victim['id']}", json=changed | {"name": victim["name"]})
        assert assert_problem(again, status).get("errors") == problem.get("errors")
    assert keys_and_audit(world) == before


def test_a_name_that_a_key_not_revoked_has_is_taken(world):
    before = keys_and_audit(world)
    taken = world.keys["read-A"]["name"]
    assert_problem(world.root("POST", KEYS, json=rights(world) | {"name": taken}), 409)
    other = world.keys["read-all"]
    assert_problem(world.root("PUT", f"{KEYS}/{other['id']}", json=rights(world) | {"name": taken}), 409)
    assert keys_and_audit(world) == before


def test_a_revoked_key_is_revoked_once_and_cannot_be_changed(world):
    key = world.root("POST", KEYS, 201, json=rights(world)).json()
    keys, entries = keys_and_audit(world)
    for _ in range(2):
        assert world.root("DELETE", f"{KEYS}/{key['id']}").status_code == 204
    assert world.call(key["secret"], "GET", "/api/v1/key").status_code == 401
    assert_problem(world.root("PUT", f"{KEYS}/{key['id']}", json=rights(world)), 409)
    after_keys, after_entries = keys_and_audit(world)
    assert [entry["action"] for entry in after_entries[len(entries):]] == ["revoked"]
    assert after_entries[-1]["key"] == {"id": key["id"], "name": key["name"]}
    revoked = [row for row in after_keys if row[0] == key["id"]]
    assert len(revoked) == 1 and revoked[0][1] == 2 and revoked[0][2] is not None
    # its name is free again
    assert world.root("POST", KEYS, json=rights(world) | {"name": key["name"]}).status_code == 201


def test_a_service_whose_settings_key_is_rw_manages_no_keys(serve, world):
    secret = "writer-" + "w" * 24
    base = serve(API_KEYS=f"writer:rw:{secret}")
    for method, path, body in (("POST", KEYS, rights(world)), ("GET", KEYS, None), ("GET", AUDIT, None),
                               ("GET", f"{KEYS}/{world.keys['read-A']['id']}", None),
                               ("DELETE", f"{KEYS}/{world.keys['read-A']['id']}", None)):
        refused = httpx.request(method, base + path, json=body, headers=auth(secret), timeout=HANG)
        assert "may not manage keys" in assert_problem(refused, 403)["detail"], path
    assert world.root("GET", f"{KEYS}/{world.keys['read-A']['id']}", 200).json()["revoked_at"] is None


def test_the_audit_names_who_did_each_change_and_no_answer_but_the_creation_shows_a_secret(world):
    _, entries = keys_and_audit(world)
    manager = world.root("POST", KEYS, 201, json=rights(world, ["read", "write", "manage"])).json()
    made = world.call(manager["secret"], "POST", KEYS, json=rights(world, applications=["A"]))
    assert made.status_code == 201, made.text
    key = made.json()
    changed = rights(world, ["read", "write"], ["A"], ["E"]) | {"name": key["name"]}
    assert world.call(manager["secret"], "PUT", f"{KEYS}/{key['id']}", json=changed).status_code == 200
    for _ in range(2):
        assert world.call(manager["secret"], "DELETE", f"{KEYS}/{key['id']}").status_code == 204
    assert world.root("DELETE", f"{KEYS}/{manager['id']}").status_code == 204  # the settings' admin key remains

    keys, after = keys_and_audit(world)
    root, by_manager = {"id": None, "name": "root"}, {"id": manager["id"], "name": manager["name"]}
    manager_rights = {"name": manager["name"], "actions": ["read", "write", "manage"], "applications": None,
                      "environments": None, "expires_at": None}
    of_key = {"id": key["id"], "name": key["name"]}
    before_rights = {"name": key["name"], "actions": ["read"], "applications": [world.apps["A"]["id"]],
                     "environments": None, "expires_at": None}
    after_rights = {"name": key["name"], "actions": ["read", "write"], "applications": [world.apps["A"]["id"]],
                    "environments": [world.envs["E"]["id"]], "expires_at": None}
    assert [(e["action"], e["key"], e["by"], e["before"], e["after"]) for e in after[len(entries):]] == [
        ("created", by_manager, root, None, manager_rights),
        ("created", of_key, by_manager, None, before_rights),
        ("updated", of_key, by_manager, before_rights, after_rights),
        ("revoked", of_key, by_manager, after_rights, after_rights),
        ("revoked", by_manager, root, manager_rights, manager_rights)]
    assert [row for row in keys if row[0] == key["id"]][0][2] is not None

    # no answer about keys shows a secret, but the answer that created it
    secrets = [k["secret"] for k in (*world.keys.values(), manager, key)]
    answers = [world.root("GET", KEYS, 200, params={"limit": 500}).text,
               world.root("GET", AUDIT, 200, params={"limit": 500}).text]
    answers += [world.root("GET", f"{KEYS}/{k['id']}", 200).text for k in (*world.keys.values(), manager, key)]
    answers += [world.call(k["secret"], "GET", "/api/v1/key").text for k in world.keys.values()]
    answers += [world.call(world.keys["manage-A"]["secret"], "GET", path, params={"limit": 500}).text
                for path in (KEYS, AUDIT)]
    assert not [secret for secret in secrets for text in answers if secret in text]


def test_a_manager_sees_the_keys_and_audit_entries_within_its_rights(world):
    manager = world.keys["manage-A"]
    ids = {key["id"] for key in world.call(manager["secret"], "GET", KEYS, params={"limit": 500}).json()["items"]}
    within = {kind for kind, (actions, applications, _) in KINDS.items()
              if set(actions) <= {"read", "manage"} and applications == ["A"]}
    assert {kind for kind, key in world.keys.items() if key["id"] in ids} == within == {"read-A", "manage-A"}
    audit = world.call(manager["secret"], "GET", AUDIT, params={"limit": 500}).json()["items"]
    assert {entry["key"]["id"] for entry in audit} <= ids
    assert_problem(world.call(manager["secret"], "GET", f"{KEYS}/{world.keys['read-all']['id']}"), 404)
    assert world.call(manager["secret"], "GET", f"{KEYS}/{world.keys['read-A']['id']}").status_code == 200


def test_a_key_that_expires_grants_and_sees_only_keys_that_expire_no_later(world):
    """Time is one of a key's rights: a manager that expires cannot make a key that outlives it, nor lift or push
    back its own expiry, and it does not see keys that would outlive it (a security trial: a time-boxed manager
    made itself, and a new key, permanent)."""
    soon = datetime.now(UTC) + timedelta(minutes=10)
    manager = world.root("POST", KEYS, 201, json=rights(world, ["read", "write", "manage"], ["A"],
                                                           expires_at=soon.isoformat())).json()
    before = keys_and_audit(world)
    for later in (None, (soon + timedelta(seconds=1)).isoformat()):
        for method, path, body in (("POST", KEYS, rights(world, ["read"], ["A"], expires_at=later)),
                                   ("PUT", f"{KEYS}/{manager['id']}",
                                    rights(world, ["read", "write", "manage"], ["A"], expires_at=later)
                                    | {"name": manager["name"]})):
            refused = assert_problem(world.call(manager["secret"], method, path, json=body), 403)
            assert "beyond its expiry" in refused["detail"], refused
    assert keys_and_audit(world) == before
    # No later than itself: made, and seen; read-A (which never expires) is not seen, and cannot be changed.
    made = world.call(manager["secret"], "POST", KEYS, json=rights(world, ["read"], ["A"], expires_at=soon.isoformat()))
    assert made.status_code == 201, made.text
    listed = {key["id"] for key in world.call(manager["secret"], "GET", KEYS, params={"limit": 500}).json()["items"]}
    assert {manager["id"], made.json()["id"]} <= listed and world.keys["read-A"]["id"] not in listed
    assert_problem(world.call(manager["secret"], "GET", f"{KEYS}/{world.keys['read-A']['id']}"), 404)
    for key in (manager, made.json()):
        world.root("DELETE", f"{KEYS}/{key['id']}")


def test_a_managers_key_pages_name_only_keys_it_sees_and_its_audit_only_rights_within_its_own(world):
    """Paging a key that sees few keys, one at a time: each cursor is a key of its own pages (it was the last key
    read, seen or not: the id of a key out of its sight). An audit entry shows the rights before and after a
    change: a key narrowed into a manager's sight does not show the manager what it reached before."""
    manager = world.keys["manage-A"]
    seen, cursor, pages = [], None, 0
    while True:
        page = world.call(manager["secret"], "GET", KEYS, params={"limit": 1} | ({"cursor": cursor} if cursor else {}))
        body = page.json()
        assert len(body["items"]) == 1 or body["next_cursor"] is None, body
        seen += [key["id"] for key in body["items"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            break
        assert cursor == seen[-1]
    every = [key["id"] for key in world.call(manager["secret"], "GET", KEYS, params={"limit": 500}).json()["items"]]
    assert seen == every and pages == len(every)
    wide = world.root("POST", KEYS, 201, json=rights(world, ["read"], ["A", "B"])).json()
    world.root("PUT", f"{KEYS}/{wide['id']}", 200, json=rights(world, ["read"], ["A"]) | {"name": wide["name"]})
    assert world.call(manager["secret"], "GET", f"{KEYS}/{wide['id']}").status_code == 200  # within its rights now
    _, entries = keys_and_audit(world)
    assert [e["action"] for e in entries if e["key"]["id"] == wide["id"]] == ["created", "updated"]
    shown = world.call(manager["secret"], "GET", AUDIT, params={"limit": 500}).json()["items"]
    assert not [e for e in shown if e["key"]["id"] == wide["id"]]
    assert all(world.apps["B"]["id"] not in ((e.get(side) or {}).get("applications") or [])
               for e in shown for side in ("before", "after"))
    world.root("DELETE", f"{KEYS}/{wide['id']}")


def test_effective_by_names_answers_an_application_out_of_scope_as_a_name_nothing_has(world):
    """The names are resolved before the key's check: an application it may not see answered "no environment has
    this name" for a wrong environment name, and so told that the application's name exists."""
    key = world.keys["read-A"]["secret"]
    answers = [without_instance(assert_problem(world.call(key, "GET", "/api/v1/effective", params={
        "application": application, "environment": environment}), 404))
        for application, environment in ((world.apps["B"]["name"], "acc-zzz"), (NO_NAME, "acc-zzz"),
                                          (world.apps["B"]["name"], world.envs["E"]["name"]))]
    assert answers[0] == answers[1] == answers[2] and answers[0]["detail"] == "No application has this name."
    mine = assert_problem(world.call(key, "GET", "/api/v1/effective", params={
        "application": world.apps["A"]["name"], "environment": "acc-zzz"}), 404)
    assert mine["detail"] == "No environment has this name."


def test_a_change_set_of_overrides_in_its_environments_is_open_to_a_key_limited_to_them(world):
    """A key limited to environment E may write, in one set, overrides in E; an override in an environment it may
    not see answers, in its turn, what one that does not exist answers; a change of a configuration's own
    `config` (every environment's) is 403. Nothing of a refused set is written."""
    key, a = world.keys["write-A-in-E"]["secret"], world.confs["A"]["id"]
    e, f = world.envs["E"]["id"], world.envs["F"]["id"]
    url = f"{APPS}/{world.apps['A']['id']}/changesets"
    try:
        was = world.root("GET", f"{CONFIGS}/{a}/overrides/{e}", 200).json()["version"]
        written = world.call(key, "POST", url, json={"changes": [
            {"action": "set_override", "configuration_id": a, "environment_id": e, "patch": {"host": "a.e2"}},
            {"action": "set_override", "name": "db", "environment_id": e, "patch": {"host": "a.e3"}}]})
        assert written.status_code == 200, written.text
        assert [r["version"] for r in written.json()["results"]] == [was + 1, was + 2]
        answers = []
        for other in (f, "0" * 26):  # F, which it may not see; an id no environment has
            answer = world.call(key, "POST", url, json={"changes": [
                {"action": "set_override", "configuration_id": a, "environment_id": e, "patch": {"host": "x"}},
                {"action": "delete_override", "configuration_id": a, "environment_id": other}]})
            answers.append((answer.status_code, answer.json()["detail"], answer.json()["errors"]))
        assert answers[0] == answers[1] and answers[0][0] == 404, answers
        own = world.call(key, "POST", url, json={"changes": [
            {"action": "set_override", "configuration_id": a, "environment_id": e, "patch": {}},
            {"action": "update", "configuration_id": a, "name": "db", "config": CONFIG["A"]}]})
        assert_problem(own, 403)
        override = world.root("GET", f"{CONFIGS}/{a}/overrides/{e}", 200).json()
        assert override["patch"] == {"host": "a.e3"} and override["version"] == was + 2
        assert world.root("GET", f"{CONFIGS}/{a}/overrides/{f}", 200).json()["patch"] == PATCH["A", "F"]
    finally:
        world.put_override("A", "E")  # as the world had it
