"""schemathesis hooks (SCHEMATHESIS_HOOKS=tools.fuzz_hooks): positive cases name resources that exist.

A random, well-formed ULID names nothing, so without this almost every positive case of an operation on an id
answers 404, an unknown `application_id` or `parent_id` 422 and a random `If-Match` 412, and the writes are barely
fuzzed past validation. Just before a positive case is sent, `before_call` gives it the id of a real resource (a
fresh one for writes, which may delete or rename it) and, when the case sends `If-Match`, that resource's current
ETag. Overrides and effective views are read in a shared environment (under a shared root environment, both with an
override of the shared configuration, so that its view has three layers); an override is written in a fresh
configuration, in which one exists already when the operation needs one. Compare goes from the root to the shared
environment, and findEffective asks by the shared resources' names. A positive case of the change feed that sends
`epoch` sends the one its feed names (a database never promoted wrote every change in epoch 1).
A `Cache-Control` that accepts a stale answer is dropped from every case (`current_reads`).
Every eighth positive case of an operation keeps what was generated, so the 404, 410 and 412 paths stay fuzzed; every
positive case of createConfiguration names a real application, and every `parent_id` of an environment's create or
update names the shared root (or, for the root itself, none), so that positive_data_acceptance holds them to 2xx
(or 409 for a name taken): a body the contract allows and the server refuses fails the run.
API keys: getKey reads a shared key, updateKey and revokeKey write a fresh one (the hooks' keys may read only:
the fuzzer authenticates with the settings' `admin` key, which no operation can revoke or narrow, so whatever a
case does to a managed key never locks the fuzzer out). Every positive createKey and updateKey body, in every phase,
names rights the service grants, as createConfiguration's names a real application: a list of `applications` or
`environments` names the shared ones instead (as many as the list had, up to the ones there are; an empty list and
`null` stay), an `expires_at` not in the future (or in the year 10000 in UTC: a 422) becomes a day from now,
`write` brings `read`, and a key that holds the name the body asks for is revoked first. Every such body then
answers 2xx (or 412 for a generated precondition), so that positive_data_acceptance holds them to it.
Negative cases and the stateful phase (which follows the contract's links to real resources itself) are left
as generated, but for what no link can give: createConfiguration's application, an environment's parent, the
environment of a putOverride whose configuration a link gave, and a key's rights. The service is reached at
CONFIG_SERVICE_URL with CONFIG_SERVICE_API_KEY.
"""

import itertools
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import schemathesis
from schemathesis import GenerationMode
from schemathesis.generation.meta import TestPhase

from wire import headers

API = "/api/v1"
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
IDEMPOTENCY_KEY = re.compile(r'[!#-\[\]-~][ !#-\[\]-~]{0,254}|"[!#-\[\]-~][ !#-\[\]-~]{0,254}"')
KEYS = itertools.count(1)
KEEP_GENERATED_EVERY = 8

APPLICATION_READS = {"getApplication", "listApplicationConfigurations", "listApplicationChanges",
                     "getApplicationSnapshot", "exportApplication"}
APPLICATION_WRITES = {"updateApplication", "deleteApplication", "planImport", "applyImport", "applyChangeSet"}
CONFIGURATION_READS = {"getConfiguration", "listConfigurationRevisions", "getConfigurationRevision",
                       "getConfigurationDiff", "getConfigurationSnapshot"}
CONFIGURATION_WRITES = {"updateConfiguration", "patchConfiguration", "deleteConfiguration", "restoreConfigurationRevision"}
ENVIRONMENT_READS = {"getEnvironment"}
ENVIRONMENT_WRITES = {"updateEnvironment", "deleteEnvironment"}
OVERRIDE_READS = {"listConfigurationOverrides", "getOverride", "listOverrideRevisions", "getOverrideRevision",
                  "getOverrideDiff"}
OVERRIDE_WRITES = {"putOverride", "deleteOverride", "restoreOverrideRevision"}
CONFIGURATION_VIEWS = {"getEffectiveConfiguration", "compareConfiguration", "getEffectiveSnapshot"}
APPLICATION_VIEWS = {"getEffectiveApplication", "compareApplication"}
KEY_READS = {"getKey"}
KEY_WRITES = {"updateKey", "revokeKey"}
# History: a point-in-time read asks for the present moment (when the shared resources exist), a diff for their first
# revision.
SNAPSHOTS = {"getApplicationSnapshot", "getConfigurationSnapshot", "getEffectiveSnapshot", "exportApplication"}
# Documents and change sets written into a fresh application: see give_document.
DOCUMENTS = {"planImport", "applyImport", "applyChangeSet"}
DIFFS = {"getConfigurationDiff", "getOverrideDiff"}
WRITES = APPLICATION_WRITES | CONFIGURATION_WRITES | ENVIRONMENT_WRITES | OVERRIDE_WRITES | KEY_WRITES
PARENTED = {"createEnvironment", "updateEnvironment"}
RIGHTS = {"createKey", "updateKey"}  # bodies that name applications and environments
# A configuration's first content, and the overrides of the shared configuration in the root and the environment.
CONFIG = {"host": "db", "port": 5432, "tags": ["a", "b"], "pool": {"min": 1, "max": 10}}
ROOT_PATCH = {"host": "db.root", "pool": {"max": 20}}
ENVIRONMENT_PATCH = {"port": None, "pool": {"min": 2}, "tls": True}


@dataclass
class Target:
    """What a positive case is pointed at."""

    id: str  # the path's `id` (createConfiguration: its body's `application_id`)
    etag: str | None = None  # the current ETag of what a write writes: its If-Match
    environment: str | None = None  # `environment_id` (in the path or the query) and compare's `to`
    parent: str | None = None  # compare's `from`
    names: dict[str, str] = field(default_factory=dict)  # findEffective's query
    epoch: int | None = None  # the change feed's `epoch`


class Service:
    """Creates the resources the cases are pointed at, through the API itself."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.serial = itertools.count(1)
        self._shared: dict[str, tuple[str, str]] = {}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[dict, str | None]:
        """The answer's JSON and ETag; HTTPError for any status but 2xx."""
        request = urllib.request.Request(
            self.url + path, data=None if body is None else json.dumps(body).encode(), method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return (json.load(response) if response.status != 204 else {}), response.headers["ETag"]

    def post(self, path: str, body: dict) -> tuple[str, str]:
        """POST `body`; returns the created resource's id and ETag."""
        created, etag = self.call("POST", path, body)
        return created["id"], etag

    def exists(self, path: str) -> bool:
        try:
            self.call("GET", path)
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            return False
        return True

    def named(self, resource: str, name: str) -> tuple[str, str] | None:
        """The application, environment, or shared application's configuration that holds `name`: (id, ETag), or
        None."""
        listing = {"application": f"{API}/applications", "environment": f"{API}/environments",
                   "configuration": f"{API}/applications/{self.shared('application')[0]}/configurations"}[resource]
        page, _ = self.call("GET", f"{listing}?name={urllib.parse.quote(name, safe='')}")
        if not page["items"]:
            return None
        found = page["items"][0]["id"]
        _, etag = self.call("GET", f"{API}/{resource}s/{found}")
        return found, etag

    def name(self, kind: str) -> str:
        """The current name of the shared resource of `kind` (a write that a case named it by may have renamed it)."""
        resource = "environment" if kind == "root" else kind
        return self.call("GET", f"{API}/{resource}s/{self.shared(kind)[0]}")[0]["name"]

    def application(self) -> tuple[str, str]:
        """A new application: (id, ETag)."""
        return self.post(f"{API}/applications", {"name": f"fuzz-app-{os.getpid()}-{next(self.serial)}"})

    def configuration(self) -> tuple[str, str]:
        """A new configuration, of the shared application: (id, ETag)."""
        owner, _ = self.shared("application")
        return self.post(f"{API}/configurations", {
            "application_id": owner, "name": f"fuzz-config-{next(self.serial)}", "config": CONFIG})

    def environment(self, parent: str | None) -> tuple[str, str]:
        """A new environment under `parent`: (id, ETag). A child of the root has no child, so that the case may
        delete it or give it any parent."""
        return self.post(f"{API}/environments", {"name": f"fuzz-env-{os.getpid()}-{next(self.serial)}",
                                                 "parent_id": parent})

    def api_key(self) -> tuple[str, str]:
        """A new API key that may read everything: (id, ETag). Its secret is never used."""
        return self.post(f"{API}/keys", {"name": f"fuzz-key-{os.getpid()}-{next(self.serial)}", "actions": ["read"],
                                         "applications": None, "environments": None})

    def free(self, name: str, keep: str | None = None) -> None:
        """Revoke the key not revoked that holds `name`, if one does and it is not `keep` (only managed keys are
        listed: never the fuzzer's own)."""
        cursor = None
        while True:
            query = "?limit=500" + ("" if cursor is None else f"&cursor={urllib.parse.quote(cursor, safe='')}")
            page, _ = self.call("GET", f"{API}/keys{query}")
            for key in page["items"]:
                if key["name"] == name and key["revoked_at"] is None:
                    if key["id"] != keep:
                        self.call("DELETE", f"{API}/keys/{key['id']}")
                    return
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def override(self, configuration: str, environment: str, patch: dict) -> str:
        """Set the configuration's override in the environment; its ETag."""
        return self.call("PUT", f"{API}/configurations/{configuration}/overrides/{environment}", {"patch": patch})[1]

    def epoch(self) -> int:
        """The epoch the shared application's change feed names (of its first change)."""
        page, _ = self.call("GET", f"{API}/applications/{self.shared('application')[0]}/changes?limit=1")
        return page["epoch"]

    def shared(self, kind: str) -> tuple[str, str]:
        """One resource of `kind` for the reads ('application', 'configuration', 'root': a root environment,
        'environment': a child of the root, 'key'), which the hooks never point a write at (the fuzzed writes go to
        fresh ones), and made again when gone: schemathesis also sends ids it saw in answers, to deletes too (a key
        is never gone: a revoked one stays readable)."""
        resource = "environment" if kind == "root" else kind
        if kind in self._shared:
            try:
                return self._shared[kind][0], self.call("GET", f"{API}/{resource}s/{self._shared[kind][0]}")[1]
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
        if kind == "application":
            self._shared[kind] = self.application()
        elif kind == "configuration":
            self._shared[kind] = self.configuration()
        elif kind == "key":
            self._shared[kind] = self.api_key()
        else:
            self._shared[kind] = self.environment(None if kind == "root" else self.shared("root")[0])
        return self._shared[kind]

    def layered(self) -> tuple[str, str, str]:
        """The shared configuration, with an override in the shared root and one in the shared environment below
        it (set again when gone): (configuration, root, environment)."""
        configuration, root, environment = (self.shared(kind)[0] for kind in ("configuration", "root", "environment"))
        if not self.exists(f"{API}/configurations/{configuration}/overrides/{environment}"):
            self.override(configuration, root, ROOT_PATCH)
            self.override(configuration, environment, ENVIRONMENT_PATCH)
        return configuration, root, environment


SERVICE: Service | None = None
SEEN: defaultdict[str, int] = defaultdict(int)


def service() -> Service:
    global SERVICE
    if SERVICE is None:
        SERVICE = Service(os.environ["CONFIG_SERVICE_URL"], os.environ["CONFIG_SERVICE_API_KEY"])
    return SERVICE


def target(operation_id: str) -> str | None:
    """Which resource a positive case of `operation_id` is pointed at: 'fresh application', 'shared application',
    'fresh configuration', 'shared configuration', 'fresh environment', 'shared environment', 'fresh override',
    'shared override', 'shared view' (of a configuration), 'shared views' (of an application), 'shared names',
    'shared key', 'fresh key', or None for an operation whose cases are kept as generated (createKey's body is
    given its rights by give_rights)."""
    if operation_id in APPLICATION_READS or operation_id == "createConfiguration":
        return "shared application"
    if operation_id in APPLICATION_WRITES:
        return "fresh application"
    if operation_id in CONFIGURATION_READS:
        return "shared configuration"
    if operation_id in CONFIGURATION_WRITES:
        return "fresh configuration"
    if operation_id in ENVIRONMENT_READS:
        return "shared environment"
    if operation_id in ENVIRONMENT_WRITES:
        return "fresh environment"
    if operation_id in OVERRIDE_READS:
        return "shared override"
    if operation_id in OVERRIDE_WRITES:
        return "fresh override"
    if operation_id in CONFIGURATION_VIEWS:
        return "shared view"
    if operation_id in APPLICATION_VIEWS:
        return "shared views"
    if operation_id == "findEffective":
        return "shared names"
    if operation_id in KEY_READS:
        return "shared key"
    if operation_id in KEY_WRITES:
        return "fresh key"
    return None


def resolve(case, operation_id: str) -> Target:
    """Make or find what a chosen positive case of `operation_id` is pointed at."""
    kind = target(operation_id)
    freshness, resource = kind.split()
    one = service()
    epoch = one.epoch() if operation_id == "listApplicationChanges" else None
    if resource == "key":
        return Target(*(one.shared("key") if freshness == "shared" else one.api_key()))
    if resource in ("application", "configuration", "environment"):
        name = case.body.get("name") if isinstance(case.body, dict) and operation_id.startswith("update") else None
        # A rename to a name another resource holds is a 409 (tested as generated by every eighth case): the
        # update goes to the holder of the name instead, which renames it to its own name.
        holder = one.named(resource, name) if isinstance(name, str) else None
        if holder is not None:
            return Target(*holder, epoch=epoch)
        if freshness == "shared":
            return Target(*one.shared(resource), epoch=epoch)
        if resource == "environment":
            return Target(*one.environment(one.shared("root")[0]))
        return Target(*(one.application() if resource == "application" else one.configuration()))
    if resource == "override" and freshness == "fresh":
        # In a configuration of its own, so that a delete or a restore leaves the shared views as they were. A
        # putOverride without preconditions creates the override; the other writes (and a put with If-Match or
        # If-None-Match) find one there, at version 1.
        configuration, _ = one.configuration()
        environment, _ = one.shared("environment")
        preconditions = {name.lower() for name in case.headers or {}} & {"if-match", "if-none-match"}
        etag = None
        if operation_id != "putOverride" or preconditions:
            etag = one.override(configuration, environment, {"host": f"db.{next(one.serial)}"})
        return Target(configuration, etag, environment)
    configuration, root, environment = one.layered()
    if resource == "override":
        return Target(configuration, environment=environment)
    if resource == "view":
        return Target(configuration, environment=environment, parent=root)
    if resource == "views":
        return Target(one.shared("application")[0], environment=environment, parent=root)
    return Target("", names={"application": one.name("application"), "environment": one.name("environment"),
                             "configuration": one.name("configuration")})


def retarget(case, operation_id: str, to: Target) -> None:
    """Point the case at `to`, wherever the case names a resource, send its ETag as the case's If-Match (and, on a
    write, a version it does not have yet as its If-None-Match), and `epoch` as the change feed's `epoch` when the
    case sends one."""
    if operation_id == "createConfiguration":
        if isinstance(case.body, dict) and ULID.match(str(case.body.get("application_id", ""))):
            case.body["application_id"] = to.id
        return
    parameters = case.path_parameters or {}
    if ULID.match(str(parameters.get("id", ""))):
        parameters["id"] = to.id
    if to.environment is not None and ULID.match(str(parameters.get("environment_id", ""))):
        parameters["environment_id"] = to.environment
    if "version" in parameters:
        parameters["version"] = 1  # every configuration and every override has its first revision
    query = case.query or {}
    for name, value in (("environment_id", to.environment), ("to", to.environment), ("from", to.parent),
                        *to.names.items()):
        if value is not None and name in query:
            query[name] = value
    if to.etag is not None and case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = to.etag
    if to.etag is not None and case.headers and "If-None-Match" in case.headers and operation_id in WRITES:
        # On a write, If-None-Match refuses the versions it names (`*`: all of them). The case names the next
        # version instead (in the same epoch), which the resource does not have yet: the write goes ahead.
        named, _, epoch_part = to.etag.strip('"').partition("~")
        resource, version = named.rsplit(".", 1)
        case.headers["If-None-Match"] = f'"{resource}.{int(version) + 1}{"~" + epoch_part if epoch_part else ""}"'
    if to.epoch is not None and "epoch" in query:
        query["epoch"] = to.epoch
    if operation_id in SNAPSHOTS and case.query is not None:
        query.pop("seq", None)
        query.pop("epoch", None)  # (the epoch of a `seq`: none with `at`)
        query["at"] = datetime.now(UTC).isoformat()
    if operation_id in DIFFS:
        for name in ("from", "to"):
            if name in query:
                query[name] = 1


def give_parent(case, operation_id: str) -> None:
    """An environment's create or update that names a parent names the shared root, the one environment with
    children (or none, when the update is of the root itself): a random ULID is a 422, and a parent found in an
    answer could make a cycle or a chain too deep, each a 422 for a body the contract allows."""
    if not isinstance(case.body, dict) or not ULID.match(str(case.body.get("parent_id", ""))):
        return
    root, _ = service().shared("root")
    itself = (case.path_parameters or {}).get("id") if operation_id == "updateEnvironment" else None
    case.body["parent_id"] = None if itself == root else root


def future(value: object, now: datetime) -> bool:
    """Whether `value` is an RFC 3339 time after `now` that UTC can write (not in the year 10000 there)."""
    try:
        parsed = datetime.fromisoformat(str(value))
        return parsed.tzinfo is not None and parsed.astimezone(UTC) > now
    except (ValueError, OverflowError):
        return False


def rights(body: dict, applications: list[str], environments: list[str], now: datetime) -> None:
    """Make a key's body name rights the service grants: lists of ids name real ones (as many as the list had, up
    to the ones given), `expires_at` is in the future, and `write` brings `read`."""
    for name, real in (("applications", applications), ("environments", environments)):
        if isinstance(body.get(name), list) and body[name]:
            body[name] = real[:len(body[name])]
    if "expires_at" in body and body["expires_at"] is not None and not future(body["expires_at"], now):
        body["expires_at"] = (now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    actions = body.get("actions")
    if isinstance(actions, list) and "write" in actions and "read" not in actions:
        actions.append("read")


def give_rights(case) -> None:
    """A positive createKey or updateKey, of any phase, asks for rights the service grants, under a name no key
    holds (the holder is revoked, unless it is the key updated): see `rights`."""
    if not isinstance(case.body, dict):
        return
    one = service()
    rights(case.body, [one.shared("application")[0]], [one.shared(kind)[0] for kind in ("root", "environment")],
           datetime.now(UTC))
    if isinstance(case.body.get("name"), str):
        one.free(case.body["name"], keep=(case.path_parameters or {}).get("id"))


DOCUMENT_CONFIGURATIONS = 100


def give_document(case, operation_id: str, application_id: str) -> None:
    """A document's configurations get distinct names and their overrides the shared environment (a generated
    environment name names none: 422), and an applyImport the token of its document's plan (a generated one is
    412); a change set's changes become creates of new names (a generated update names no configuration of the
    application). What the server then refuses is a body the contract allows, and fails the run."""
    body = case.body
    if not isinstance(body, dict):
        return
    one = service()
    if operation_id == "applyChangeSet":
        for change in body.get("changes") or []:
            if isinstance(change, dict):
                change.update(action="create", name=f"fuzz-set-{os.getpid()}-{next(one.serial)}")
                change.setdefault("config", {})
        return
    document = body.get("document")
    if not isinstance(document, dict) or not isinstance(document.get("configurations"), list):
        return
    # An import's time grows with its configurations (about a millisecond each on a quiet machine, several times
    # that on a busy one): one of the contract's 10,000 would outlast the fuzzer's request timeout. The fuzzing is
    # of shapes; make bench times an import of 1,000.
    del document["configurations"][DOCUMENT_CONFIGURATIONS:]
    environment = one.name("environment")
    for index, configuration in enumerate(document["configurations"]):
        if isinstance(configuration, dict):
            configuration["name"] = f"fuzz-document-{index}"
            if isinstance(configuration.get("overrides"), dict) and configuration["overrides"]:
                configuration["overrides"] = {environment: next(iter(configuration["overrides"].values()))}
    if operation_id == "applyImport":
        plan, _ = one.call("POST", f"{API}/applications/{application_id}/import/plan",
                           {"document": document, "mode": body.get("mode", "merge")})
        body["token"] = plan["token"]


def give_environment(case) -> None:
    """A stateful putOverride whose configuration a link gave (createConfiguration's `CreateOverrideOfConfiguration`)
    gets the shared environment when its generated `environment_id` names none: no link gives both."""
    parameters = case.path_parameters or {}
    environment = str(parameters.get("environment_id", ""))
    if ULID.match(environment) and not service().exists(f"{API}/environments/{environment}"):
        parameters["environment_id"] = service().shared("environment")[0]


def chosen(case, operation_id: str) -> bool:
    """Whether this case is pointed at a real resource: positive, not stateful, and not every eighth one."""
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return False
    # The stateful phase follows the contract's links to real resources; no link can give createConfiguration's
    # body an application (a link's requestBody is one runtime expression, not an object).
    if meta.phase.name == TestPhase.STATEFUL and operation_id != "createConfiguration":
        return False
    if operation_id == "createConfiguration":
        return True  # every one: its 422 for an unknown application is not in the accepted statuses
    SEEN[operation_id] += 1
    return SEEN[operation_id] % KEEP_GENERATED_EVERY != 0


def positive(case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def stateful(case) -> bool:
    return case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL


def fresh_idempotency_key(case) -> None:
    """A well-formed Idempotency-Key becomes a new one in every case, of every phase: a client uses a new key for
    each change it means to make once, and a key the generator repeats with another body is rightly 422 (its
    reuse is tested in test_idempotency.py). A malformed one is left to be refused."""
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and IDEMPOTENCY_KEY.fullmatch(headers[name]):
            headers[name] = f"fuzz-{next(KEYS)}-{os.getpid()}"


NOTHING = "0" * 26  # a ULID no resource has


def no_null_ids(case) -> None:
    """A stateful case whose link read its path id from a field that was null (a Change's `environment_id` for a
    change of the configuration itself; links are also inferred from the response schemas) names no resource: it
    names an id that nothing has (404), not the text "None", which no client sends and the contract refuses (422)."""
    parameters = case.path_parameters or {}
    for name, value in parameters.items():
        if value is None or value == "None":
            parameters[name] = NOTHING


def current_reads(case) -> None:
    """A `Cache-Control` that accepts a stale answer (`headers.staleness`) is dropped: such a read may answer what
    was kept a moment ago, a resource deleted or changed by the case just before it included, as the header asks,
    and schemathesis's checks of what a read must see after a write (use after free, resource availability) would
    call that a failure. Every other value, which accepts none, is sent as generated: the parser is fuzzed."""
    value = (case.headers or {}).get("Cache-Control")
    if isinstance(value, str) and headers.staleness(
            {"headers": [(b"cache-control", value.encode("latin-1", "ignore"))]}) is not None:
        del case.headers["Cache-Control"]


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    fresh_idempotency_key(case)
    current_reads(case)
    if stateful(case):
        no_null_ids(case)
    operation_id = case.operation.definition.raw.get("operationId", "")
    try:
        if target(operation_id) is not None and chosen(case, operation_id):
            to = resolve(case, operation_id)
            retarget(case, operation_id, to)
            if operation_id in DOCUMENTS:
                give_document(case, operation_id, to.id)
        if operation_id in PARENTED and positive(case):
            give_parent(case, operation_id)  # after retarget: it depends on which environment is updated
        if operation_id in RIGHTS and positive(case):
            give_rights(case)
        if operation_id == "putOverride" and positive(case) and stateful(case):
            give_environment(case)
    except (urllib.error.URLError, OSError):
        return  # the service is down: the case goes as generated, and the run reports what it answers
