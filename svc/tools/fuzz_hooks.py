"""schemathesis hooks (SCHEMATHESIS_HOOKS=tools.fuzz_hooks): positive cases name resources that exist.

A random, well-formed ULID names nothing, so without this almost every positive case of an operation on an id
answers 404, an unknown `application_id` 422 and a random `If-Match` 412, and the writes are barely fuzzed past
validation. Just before a positive case is sent, `before_call` gives it the id of a real resource (a fresh one
for writes, which may delete or rename it) and, when the case sends `If-Match`, that resource's current ETag.
A positive case of the change feed that sends `epoch` sends the database's current one.
Every eighth positive case of an operation keeps what was generated, so the 404, 410 and 412 paths stay fuzzed; every
positive case of createConfiguration names a real application, so that positive_data_acceptance holds it to
2xx (or 409 for a name taken): a config the contract allows and the server refuses fails the run.
Negative cases and the stateful phase (which follows the contract's links to real resources itself) are left
as generated. The service is reached at CONFIG_SERVICE_URL with CONFIG_SERVICE_API_KEY.
"""

import itertools
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

import schemathesis
from schemathesis import GenerationMode
from schemathesis.generation.meta import TestPhase

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
IDEMPOTENCY_KEY = re.compile(r'[!#-\[\]-~][ !#-\[\]-~]{0,254}|"[!#-\[\]-~][ !#-\[\]-~]{0,254}"')
KEYS = itertools.count(1)
KEEP_GENERATED_EVERY = 8

APPLICATION_READS = {"getApplication", "listApplicationConfigurations", "listApplicationChanges"}
APPLICATION_WRITES = {"updateApplication", "deleteApplication"}
CONFIGURATION_READS = {"getConfiguration", "listConfigurationRevisions", "getConfigurationRevision"}
CONFIGURATION_WRITES = {"updateConfiguration", "deleteConfiguration", "restoreConfigurationRevision"}


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
            return json.load(response), response.headers["ETag"]

    def post(self, path: str, body: dict) -> tuple[str, str]:
        """POST `body`; returns the created resource's id and ETag."""
        created, etag = self.call("POST", path, body)
        return created["id"], etag

    def named(self, resource: str, name: str) -> tuple[str, str] | None:
        """The application, or the shared application's configuration, that holds `name`: (id, ETag), or None."""
        if resource == "application":
            listing = "/api/v1/applications"
        else:
            listing = f"/api/v1/applications/{self.shared('application')[0]}/configurations"
        page, _ = self.call("GET", f"{listing}?name={urllib.parse.quote(name, safe='')}")
        if not page["items"]:
            return None
        found = page["items"][0]["id"]
        _, etag = self.call("GET", f"/api/v1/{resource}s/{found}")
        return found, etag

    def application(self) -> tuple[str, str]:
        """A new application: (id, ETag)."""
        return self.post("/api/v1/applications", {"name": f"fuzz-app-{os.getpid()}-{next(self.serial)}"})

    def configuration(self) -> tuple[str, str]:
        """A new configuration, of the shared application: (id, ETag)."""
        owner, _ = self.shared("application")
        return self.post("/api/v1/configurations", {
            "application_id": owner, "name": f"fuzz-config-{next(self.serial)}",
            "config": {"host": "db", "port": 5432, "tags": ["a", "b"]}})

    def epoch(self) -> int:
        """The database's epoch, as the shared application's change feed names it."""
        page, _ = self.call("GET", f"/api/v1/applications/{self.shared('application')[0]}/changes?limit=1")
        return page["epoch"]

    def shared(self, kind: str) -> tuple[str, str]:
        """One resource of `kind` for the reads, which the hooks never point a write at (the fuzzed writes go to
        fresh ones), and made again when gone: schemathesis also sends ids it saw in answers, to deletes too."""
        if kind in self._shared:
            try:
                return self._shared[kind][0], self.call("GET", f"/api/v1/{kind}s/{self._shared[kind][0]}")[1]
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
        self._shared[kind] = self.application() if kind == "application" else self.configuration()
        return self._shared[kind]


SERVICE: Service | None = None
SEEN: defaultdict[str, int] = defaultdict(int)


def service() -> Service:
    global SERVICE
    if SERVICE is None:
        SERVICE = Service(os.environ["CONFIG_SERVICE_URL"], os.environ["CONFIG_SERVICE_API_KEY"])
    return SERVICE


def target(operation_id: str) -> str | None:
    """Which resource a positive case of `operation_id` is pointed at: 'fresh application', 'shared application',
    'fresh configuration', 'shared configuration', or None for an operation whose cases are kept as generated."""
    if operation_id in APPLICATION_READS or operation_id == "createConfiguration":
        return "shared application"
    if operation_id in APPLICATION_WRITES:
        return "fresh application"
    if operation_id in CONFIGURATION_READS:
        return "shared configuration"
    if operation_id in CONFIGURATION_WRITES:
        return "fresh configuration"
    return None


def retarget(case, operation_id: str, resource_id: str, etag: str, epoch: int | None = None) -> None:
    """Point the case at `resource_id`, wherever the case names a resource, send `etag` as its If-Match (and,
    on a write, a version it does not have yet as its If-None-Match), and `epoch` as the change feed's `epoch`
    when the case sends one."""
    if operation_id == "createConfiguration":
        if isinstance(case.body, dict) and ULID.match(str(case.body.get("application_id", ""))):
            case.body["application_id"] = resource_id
        return
    parameters = case.path_parameters or {}
    if ULID.match(str(parameters.get("id", ""))):
        parameters["id"] = resource_id
    if "version" in parameters:
        parameters["version"] = 1  # every configuration has its first revision
    if case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = etag
    if case.headers and "If-None-Match" in case.headers and operation_id in APPLICATION_WRITES | CONFIGURATION_WRITES:
        # On a write, If-None-Match refuses the versions it names (`*`: all of them). The case names the next
        # version instead (in the same epoch), which the resource does not have yet: the write goes ahead.
        named, _, epoch_part = etag.strip('"').partition("~")
        resource, version = named.rsplit(".", 1)
        case.headers["If-None-Match"] = f'"{resource}.{int(version) + 1}{"~" + epoch_part if epoch_part else ""}"'
    if epoch is not None and case.query and "epoch" in case.query:
        case.query["epoch"] = epoch


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


def fresh_idempotency_key(case) -> None:
    """A well-formed Idempotency-Key becomes a new one in every case, of every phase: a client uses a new key for
    each change it means to make once, and a key the generator repeats with another body is rightly 422 (its
    reuse is tested in test_idempotency.py). A malformed one is left to be refused."""
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and IDEMPOTENCY_KEY.fullmatch(headers[name]):
            headers[name] = f"fuzz-{next(KEYS)}-{os.getpid()}"


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    fresh_idempotency_key(case)
    operation_id = case.operation.definition.raw.get("operationId", "")
    kind = target(operation_id)
    if kind is None or not chosen(case, operation_id):
        return
    freshness, resource = kind.split()
    try:
        name = case.body.get("name") if isinstance(case.body, dict) and operation_id.startswith("update") else None
        # A rename to a name another resource holds is a 409 (tested as generated by every eighth case): the
        # update goes to the holder of the name instead, which renames it to its own name.
        holder = service().named(resource, name) if isinstance(name, str) else None
        if holder is not None:
            resource_id, etag = holder
        elif freshness == "fresh":
            resource_id, etag = service().application() if resource == "application" else service().configuration()
        else:
            resource_id, etag = service().shared(resource)
        epoch = service().epoch() if operation_id == "listApplicationChanges" else None
    except (urllib.error.URLError, OSError):
        return  # the service is down: the case goes as generated, and the run reports what it answers
    retarget(case, operation_id, resource_id, etag, epoch)


