"""A linearizability check of versioned reads over real HTTP: writers and readers record each operation's start,
end and the version it saw; a read fails the check when it returns a version older than one whose write was
acknowledged before the read began (etcd's guarantee for its default reads).

`History.run` drives the load against a running service, `stale_reads` checks a history. Traffic goes only to the
service given (127.0.0.1), until a counted amount of work is done (bounded by a deadline only a hang reaches);
nothing is started here. `EffectiveHistory` does the same with effective views: every layer of a view is a key of
its own, whose version the view's document says.
"""

import asyncio
import bisect
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # "write" or "read"
    key: str
    start: float
    end: float
    version: int


def stale_reads(ops: list[Op]) -> list[tuple[Op, int]]:
    """Each read that returned a version older than the newest one acknowledged before it began, with that one."""
    acknowledged: dict[str, tuple[list[float], list[int]]] = {}
    for key in {op.key for op in ops}:
        writes = sorted((op.end, op.version) for op in ops if op.kind == "write" and op.key == key)
        ends, newest, best = [], [], 0
        for end, version in writes:
            best = max(best, version)
            ends.append(end)
            newest.append(best)
        acknowledged[key] = (ends, newest)
    stale = []
    for op in ops:
        if op.kind != "read":
            continue
        ends, newest = acknowledged[op.key]
        before = bisect.bisect_left(ends, op.start)  # writes that ended strictly before the read began
        if before and newest[before - 1] > op.version:
            stale.append((op, newest[before - 1]))
    return stale


@dataclass(frozen=True, slots=True)
class Answer:
    """A request's start, end (when its answer arrived) and status."""

    start: float
    end: float
    status: int


def misanswered(answers: list[Answer], begun: float, acknowledged: float, *, before: int,
                after: int) -> list[Answer]:
    """The answers that contradict a change of rights (a revocation, a narrowed scope) that began at `begun` and was
    acknowledged at `acknowledged`: of a request that ended before it began, any status but `before`; of one that
    began after it was acknowledged, any status but `after`. Those overlapping it may answer either."""
    return [answer for answer in answers
            if (answer.end < begun and answer.status != before)
            or (answer.start > acknowledged and answer.status != after)
            or answer.status not in (before, after)]


def version_of(etag: str) -> int:
    """The version an ETag of a resource names: `"<id>.<version>"`, or `"<id>.<version>~<epoch>"` (etags.py)."""
    return int(etag.strip('"').rsplit(".", 1)[1].partition("~")[0])


@dataclass
class History:
    """Operations recorded against one running service. `run` drives writers and readers until enough work is done
    (a count, never a time: a busy machine only makes the run longer), bounded by a deadline only a hang reaches."""

    base: str
    names: dict[str, str]  # configuration id -> its name (writes keep it)
    ops: list[Op] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    writes: int = 0
    reads: int = 0
    timed_out: bool = False  # the run ended at its deadline, not because its work was done
    goal: tuple[int, int] = (0, 0)  # (writes, reads) the last run was asked for

    def _failed(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1

    def _record(self, op: Op) -> None:
        self.ops.append(op)
        if op.kind == "write":
            self.writes += 1
        else:
            self.reads += 1

    async def reached(self, *, writes: int = 0, reads: int = 0) -> None:
        """Return once the run has done at least `writes` writes and `reads` reads (or has ended): what a
        disturbance waits for between its steps, so each step lands amid a known amount of work."""
        while (self.writes < writes or self.reads < reads) and not self._stop.is_set():
            await asyncio.sleep(0.01)

    async def _writer(self, http: httpx.AsyncClient, rng: random.Random, chase: httpx.AsyncClient | None = None) -> None:
        """PUT random keys; with `chase`, read the key through that other client (so, likely, on the other worker)
        as soon as the write is acknowledged: the read most likely to be stale if anything is."""
        while not self._stop.is_set():
            key = rng.choice(list(self.names))
            start = time.monotonic()
            try:
                response = await http.put(f"/api/v1/configurations/{key}",
                                          json={"name": self.names[key], "config": {"r": rng.random()}})
            except httpx.HTTPError as error:
                self._failed(type(error).__name__)
                await asyncio.sleep(0.05)
                continue
            end = time.monotonic()
            if response.status_code == 200:
                self._record(Op("write", key, start, end, version_of(response.headers["etag"])))
                if chase is not None:
                    await self._read(chase, key, {})
            else:
                self._failed(str(response.status_code))
                await asyncio.sleep(0.05)

    async def _read(self, http: httpx.AsyncClient, key: str, seen: dict[str, str], ask: bool = False) -> None:
        # Asking with the last ETag seen checks 304s too.
        headers = {"If-None-Match": seen[key]} if ask and key in seen else {}
        start = time.monotonic()
        try:
            response = await http.get(f"/api/v1/configurations/{key}", headers=headers)
        except httpx.HTTPError as error:
            self._failed(type(error).__name__)
            await asyncio.sleep(0.05)
            return
        end = time.monotonic()
        if response.status_code in (200, 304):
            etag = response.headers["etag"] if response.status_code == 200 else headers["If-None-Match"]
            if response.status_code == 200:
                assert response.json()["version"] == version_of(etag), "the body and the ETag disagree"
            seen[key] = etag
            self._record(Op("read", key, start, end, version_of(etag)))
        else:
            self._failed(str(response.status_code))
            await asyncio.sleep(0.05)

    async def _reader(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        seen: dict[str, str] = {}
        while not self._stop.is_set():
            await self._read(http, rng.choice(list(self.names)), seen, ask=rng.random() < 0.5)

    async def run(self, *, writes: int, reads: int, within: float = 300, writers: int = 10, readers: int = 20,
                  clients: int = 6, disturb: Callable[[], Awaitable[None]] | None = None, seed: int = 7) -> None:
        """Writers and readers spread over `clients` HTTP clients (so over many connections, which the workers
        share), and `disturb()` alongside, until `disturb()` has returned and at least `writes` writes and `reads`
        reads were acknowledged; or, if that takes `within` seconds (a hang), until then, with `timed_out` set."""
        self.goal = (writes, reads)
        self._stop = asyncio.Event()
        rng = random.Random(seed)
        # Idle connections are dropped after 2 s, before uvicorn closes them (5 s): with both at 5 s, a request sent
        # on a connection just as the server closes it fails as "disconnected without a response" (a client-side
        # race of keep-alive, seen once across a restart, when connections sit idle in back-offs).
        limits = httpx.Limits(max_connections=16, keepalive_expiry=2)
        https = [httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) for _ in range(clients)]

        async def until_done() -> None:
            try:
                if disturb is not None:
                    await disturb()
                await self.reached(writes=writes, reads=reads)
            finally:
                self._stop.set()

        async def deadline() -> None:
            await asyncio.sleep(within)
            self.timed_out = not self._stop.is_set()
            self._stop.set()

        try:
            tasks = [self._writer(https[i % clients], random.Random(rng.random()), https[(i + 1) % clients])
                     for i in range(writers)]
            tasks += [self._reader(https[i % clients], random.Random(rng.random())) for i in range(readers)]
            watchdog = asyncio.create_task(deadline())
            await asyncio.gather(until_done(), *tasks)
            watchdog.cancel()
        finally:
            for http in https:
                await http.aclose()

    def counts(self) -> dict[str, int]:
        return {"writes": self.writes, "reads": self.reads}


# The layers of an effective view's chain, root first: `root` > `left` or `right` (the leaf's parent, as it changes)
# > `leaf`. Each layer's override sets one member, its label, to the number of its last write; the configuration's
# own config sets `config`; and the leaf's name ends in the number of the last write to it, which names its parent.
LAYERS = ("root", "left", "right", "leaf")
PARENT = "parent"


@dataclass
class EffectiveHistory(History):
    """Operations on effective views (`GET /configurations/{id}/effective?environment_id=<leaf>`) while the
    configurations' config, their overrides in every environment of the chain and the leaf's parent change.

    A read records an operation per key the view shows: `<configuration>:config`, `<configuration>:<layer>` for each
    layer in its chain, and `parent`, each with the number of the last write it reflects. Writes to one key are made
    one at a time (a lock per key), numbered 1, 2, ... in the order they are sent, so each key's numbers grow in
    commit order, as versions do: a read older than an acknowledged write is then a read with a smaller number."""

    environments: dict[str, str] = field(default_factory=dict)  # layer -> environment id
    prefix: str = ""  # the leaf's name is `<prefix><n>`

    def __post_init__(self) -> None:
        self._keys = [f"{c}:{label}" for c in self.names for label in ("config", *LAYERS)] + [PARENT] * len(self.names)
        self._numbers = dict.fromkeys(self._keys, 0)
        self._locks = {key: asyncio.Lock() for key in self._keys}

    @classmethod
    def laid_out(cls, base: str, prefix: str, configurations: int = 2) -> "EffectiveHistory":
        """Make, on the service at `base`, an application of `configurations` configurations and the chain (the
        leaf under `left`), every layer's override of every configuration, all at number 0; their history."""
        with httpx.Client(base_url=base + "/api/v1", timeout=30) as http:
            def made(method: str, path: str, body: dict) -> dict:
                response = http.request(method, path, json=body)
                assert response.status_code in (200, 201), response.text
                return response.json()

            app_id = made("POST", "/applications", {"name": prefix + "app"})["id"]
            names = {made("POST", "/configurations", {"application_id": app_id, "name": f"c{i}",
                                                      "config": {"config": 0}})["id"]: f"c{i}"
                     for i in range(configurations)}
            root = made("POST", "/environments", {"name": prefix + "root"})["id"]
            environments = {"root": root}
            for label in ("left", "right"):
                environments[label] = made("POST", "/environments", {"name": prefix + label, "parent_id": root})["id"]
            environments["leaf"] = made("POST", "/environments", {"name": f"{prefix}0",
                                                                  "parent_id": environments["left"]})["id"]
            for config_id in names:
                for label, environment_id in environments.items():
                    made("PUT", f"/configurations/{config_id}/overrides/{environment_id}", {"patch": {label: 0}})
        return cls(base, names, environments=environments, prefix=prefix)

    def _parent(self, n: int) -> str:
        """The leaf's parent after the write numbered `n` to it."""
        return "left" if n % 2 == 0 else "right"

    def _write(self, http: httpx.AsyncClient, key: str, n: int) -> Awaitable[httpx.Response]:
        if key == PARENT:
            return http.put(f"/api/v1/environments/{self.environments['leaf']}",
                            json={"name": f"{self.prefix}{n}", "parent_id": self.environments[self._parent(n)]})
        config_id, label = key.split(":")
        if label == "config":
            return http.put(f"/api/v1/configurations/{config_id}", json={"name": self.names[config_id],
                                                                         "config": {"config": n}})
        return http.put(f"/api/v1/configurations/{config_id}/overrides/{self.environments[label]}",
                        json={"patch": {label: n}})

    async def _writer(self, http: httpx.AsyncClient, rng: random.Random, chase: httpx.AsyncClient | None = None) -> None:
        while not self._stop.is_set():
            key = rng.choice(self._keys)
            async with self._locks[key]:
                self._numbers[key] += 1  # sent, so never sent again, whatever the answer
                n = self._numbers[key]
                start = time.monotonic()
                try:
                    response = await self._write(http, key, n)
                except httpx.HTTPError as error:
                    self._failed(type(error).__name__)
                    response = None
                end = time.monotonic()
            if response is not None and response.status_code in (200, 201):
                self._record(Op("write", key, start, end, n))
                if chase is not None:
                    config_id = key.split(":")[0] if key != PARENT else rng.choice(list(self.names))
                    await self._read(chase, config_id, {})
            else:
                if response is not None:
                    self._failed(str(response.status_code))
                await asyncio.sleep(0.05)

    def numbers(self, view: dict) -> dict[str, int]:
        """What each key of a view says: the number of the last write it reflects."""
        document, n = view["config"], int(view["environment"].removeprefix(self.prefix))
        parent, other = self._parent(n), self._parent(n + 1)
        assert parent in document and other not in document, f"the leaf's name and its chain disagree: {view}"
        chain = [self.environments[label] for label in ("root", parent, "leaf")]
        assert [layer["environment_id"] for layer in view["provenance"]] == [None, *chain], view
        return {f"{view['configuration_id']}:{label}": number for label, number in document.items()} | {PARENT: n}

    async def _read(self, http: httpx.AsyncClient, key: str, seen: dict[str, tuple[str, dict[str, int]]],
                    ask: bool = False) -> None:
        # `key` is a configuration: its view in the leaf is read. Asking with the last ETag seen checks 304s too.
        headers = {"If-None-Match": seen[key][0]} if ask and key in seen else {}
        start = time.monotonic()
        try:
            response = await http.get(f"/api/v1/configurations/{key}/effective",
                                      params={"environment_id": self.environments["leaf"]}, headers=headers)
        except httpx.HTTPError as error:
            self._failed(type(error).__name__)
            await asyncio.sleep(0.05)
            return
        end = time.monotonic()
        if response.status_code == 200:
            seen[key] = (response.headers["etag"], self.numbers(response.json()))
        elif response.status_code != 304:
            self._failed(str(response.status_code))
            await asyncio.sleep(0.05)
            return
        self.ops += [Op("read", shown, start, end, number) for shown, number in seen[key][1].items()]
        self.reads += 1
