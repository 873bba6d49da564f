"""Revocations and changes of rights are linearizable, over real HTTP across worker processes (issue 25): once the
DELETE or PUT of a key is acknowledged, every request that begins afterwards, on any worker, is answered under the
new rights (401 for a revoked key, 404 for what left its scope), and the requests that key holds with `wait` end at
once instead of waiting out their wait.

The races run thousands of reads, each on a fresh connection so that both workers take them, while a key is revoked
or narrowed, several keys one after another; `tools/linearizability.misanswered` judges each history. As in F11,
what PostgreSQL sends the listeners arrives 50 ms late: a worker that trusted its key ring without a sync round
would let a revoked key in after the revocation was acknowledged through the other worker."""

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import pytest

from tools import harness
from tools.harness import APPS, CONFIGS, HANG, assert_problem, held, until_async, until_held
from tools.linearizability import Answer, misanswered

pytestmark = pytest.mark.integration

KEYS = "/api/v1/keys"
ROOT = "root-secret-" + "r" * 16
ROUNDS = 5  # keys changed one after another, each amid reads
BEFORE = 200  # reads answered before each change begins
AFTER = 200  # reads begun after each change was acknowledged
READERS = 48  # each read waits for a sync round through the 50-ms lag: the reads in flight set the pace
# How long a held request of a revoked key may take to end: only a hang reaches it, and it is far below their wait.
ENDS_WITHIN = 10.0
WAIT = 60


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _laid_out(root: httpx.AsyncClient) -> tuple[str, str, str, str]:
    """Two applications, A and B, and a configuration in each: ids of A, B, A's configuration, B's."""
    suffix = os.urandom(4).hex()
    made = []
    for name in ("a", "b"):
        app = await root.post(APPS, json={"name": f"{name}-{suffix}"})
        assert app.status_code == 201, app.text
        config = await root.post(CONFIGS, json={"application_id": app.json()["id"], "name": "db", "config": {"n": 1}})
        assert config.status_code == 201, config.text
        made.append((app.json()["id"], config.json()["id"]))
    (a, config_a), (b, config_b) = made
    return a, b, config_a, config_b


async def _key(root: httpx.AsyncClient, applications: list[str]) -> tuple[str, str, str]:
    """A managed key that reads `applications`: its id, name and secret."""
    name = "reader-" + os.urandom(6).hex()
    made = await root.post(KEYS, json={"name": name, "actions": ["read"], "applications": applications,
                                       "environments": None})
    assert made.status_code == 201, made.text
    return made.json()["id"], name, made.json()["secret"]


async def _race(base: str, path: str, secret: str, change: Callable[[], Awaitable[httpx.Response]],
                before: int) -> tuple[list[Answer], float, float]:
    """Readers GET `path` with `secret`, each request on a new connection, until `before` reads are answered; then
    `change()` (begun and acknowledged at the times returned), and reads go on until AFTER more began after it."""
    answers: list[Answer] = []
    done = asyncio.Event()
    times: list[float] = []

    address = urlsplit(base)
    request = (f"GET {path} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {secret}\r\n"
               "Connection: close\r\n\r\n").encode()

    async def reader() -> None:
        # Each read on a connection of its own (both workers take them), sent and read whole over a bare socket:
        # through httpx, the client's own work was most of this test's time on two cores it shares with the service.
        while not done.is_set():
            start = time.monotonic()
            async with asyncio.timeout(HANG):
                stream, writer = await asyncio.open_connection(address.hostname, address.port)
                try:
                    writer.write(request)
                    answer = await stream.read()  # to the end: the service closes the connection after it
                finally:
                    writer.close()
            answers.append(Answer(start, time.monotonic(), int(answer.split(b" ", 2)[1])))

    async def changer() -> None:
        try:
            await until_async(lambda: len(answers) >= before, f"{before} reads before the change")
            times.append(time.monotonic())
            response = await change()
            times.append(time.monotonic())
            assert response.status_code in (200, 204), response.text
            await until_async(lambda: sum(answer.start > times[1] for answer in answers) >= AFTER,
                              f"{AFTER} reads after the change")
        finally:
            done.set()

    await asyncio.gather(changer(), *(reader() for _ in range(READERS)))
    return answers, times[0], times[1]


def _judged(base: str, path_of: Callable[[str], str], narrow: bool) -> list[tuple[int, int, int, int]]:
    """ROUNDS races of reads against a revocation (or, `narrow`, a PUT moving the key from A to B), one key each;
    what each round counted: (answers, before the change began, after its acknowledgment, misanswered)."""

    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=HANG, headers=bearer(ROOT)) as root:
            a, b, config_a, _ = await _laid_out(root)
            counted = []
            for round in range(ROUNDS):
                key_id, name, secret = await _key(root, [a])

                def change() -> Awaitable[httpx.Response]:
                    if narrow:
                        return root.put(f"{KEYS}/{key_id}", json={"name": name, "actions": ["read"],
                                                                  "applications": [b], "environments": None})
                    return root.delete(f"{KEYS}/{key_id}")

                answers, begun, acknowledged = await _race(base, path_of(config_a), secret, change,
                                                           BEFORE + 37 * round)
                wrong = misanswered(answers, begun, acknowledged, before=200, after=404 if narrow else 401)
                counted.append((len(answers), sum(answer.end < begun for answer in answers),
                                sum(answer.start > acknowledged for answer in answers), len(wrong)))
                last = await root.get(path_of(config_a), headers=bearer(secret))
                if narrow:
                    assert assert_problem(last, 404)["detail"] == "No configuration has this id."
                else:
                    assert_problem(last, 401)
            return counted

    return asyncio.run(scenario())


PATHS = {
    "fast path": lambda id: f"{CONFIGS}/{id}",
    "router": lambda id: f"{CONFIGS}/{id}/revisions",
}


@pytest.fixture
def lagging(database_url, clean):
    """A service of two workers whose listeners hear PostgreSQL 50 ms late (notifications and sync rounds alike)."""
    proxy = harness.LaggingProxy(_port(database_url), delay=0.05,
                                 application_name="config-service-listener")
    service = None
    try:
        service = harness.Service(harness.with_server(database_url, port=proxy.port), 2,
                                  API_KEYS=f"root:admin:{ROOT}", **harness.PATIENT)
        yield service.base
        assert proxy.lagged >= 2, "the listeners did not connect through the lagging proxy"
    finally:
        if service is not None:
            service.stop()
        proxy.close()


def _port(url: str) -> int:
    return urlsplit(url).port or 5432


@pytest.mark.parametrize("route", PATHS)
def test_no_request_begun_after_a_revocation_was_acknowledged_is_answered_on_any_worker(lagging, route):
    base = lagging
    counted = _judged(base, PATHS[route], narrow=False)
    print(f"revocation through the {route}: (answers, before, after, misanswered) per key: {counted}")
    assert all(before >= BEFORE and after >= AFTER for _, before, after, _ in counted)
    assert [wrong for *_, wrong in counted] == [0] * ROUNDS


@pytest.mark.parametrize("route", PATHS)
def test_no_request_begun_after_a_scope_was_narrowed_reads_what_left_it_on_any_worker(lagging, route):
    base = lagging
    counted = _judged(base, PATHS[route], narrow=True)
    print(f"narrowing through the {route}: (answers, before, after, misanswered) per key: {counted}")
    assert all(before >= BEFORE and after >= AFTER for _, before, after, _ in counted)
    assert [wrong for *_, wrong in counted] == [0] * ROUNDS


# -- held requests -------------------------------------------------------------------------------------------------
@pytest.fixture
def workers(serve, clean):
    """Two services of one worker each on the test database: which worker holds a request is then ours to say."""
    return serve(API_KEYS=f"root:admin:{ROOT}"), serve(API_KEYS=f"root:admin:{ROOT}")


async def _hold(http: httpx.AsyncClient, secret: str, config_id: str, app_id: str) -> list[asyncio.Task]:
    """Two blocking GETs of the configuration (at its current ETag) and one of the application's change feed (after
    its last change), held by `secret` on the service of `http`."""
    current = await http.get(f"{CONFIGS}/{config_id}", headers=bearer(secret))
    assert current.status_code == 200, current.text
    feed = await http.get(f"{APPS}/{app_id}/changes", headers=bearer(secret))
    assert feed.status_code == 200, feed.text
    unchanged = bearer(secret) | {"If-None-Match": current.headers["etag"]}
    return [asyncio.create_task(http.get(f"{CONFIGS}/{config_id}", params={"wait": WAIT}, headers=unchanged))
            for _ in range(2)] + [
        asyncio.create_task(http.get(f"{APPS}/{app_id}/changes", headers=bearer(secret),
                                     params={"after": feed.json()["next_after"], "wait": WAIT}))]


async def _held_through(bases: tuple[str, str], change: Callable[[httpx.AsyncClient, str, str, str], Awaitable],
                        ) -> tuple[list[httpx.Response], float, int]:
    """Requests of a key held on both services, and as many of another key; `change(root, key id, name, B)`
    through the first service. The held requests' answers, how long after the change's acknowledgment the last of
    them ended, and how many requests the services still hold then (the other key's)."""
    one, other = bases
    async with (httpx.AsyncClient(base_url=one, timeout=HANG, headers=bearer(ROOT)) as root,
                httpx.AsyncClient(base_url=one, timeout=HANG) as a, httpx.AsyncClient(base_url=other, timeout=HANG) as b):
        app_a, app_b, config_a, _ = await _laid_out(root)
        key_id, name, secret = await _key(root, [app_a])
        _, _, bystander = await _key(root, [app_a])
        holding = await _hold(a, secret, config_a, app_a) + await _hold(b, secret, config_a, app_a)
        unaffected = await _hold(a, bystander, config_a, app_a) + await _hold(b, bystander, config_a, app_a)
        await until_held(one, 6)
        await until_held(other, 6)
        assert not any(task.done() for task in holding + unaffected), "answered before anything changed"
        response = await change(root, key_id, name, app_b)
        assert response.status_code in (200, 204), response.text
        acknowledged = time.monotonic()
        ended = []

        async def timed(task: asyncio.Task) -> httpx.Response:
            answer = await task
            ended.append(time.monotonic())
            return answer
        answers = await asyncio.gather(*(timed(task) for task in holding))
        still = sum(await asyncio.gather(*(asyncio.to_thread(held, base) for base in bases)))
        assert not any(task.done() for task in unaffected), "another key's held request was answered"
        for task in unaffected:
            task.cancel()
        await asyncio.gather(*unaffected, return_exceptions=True)
        return answers, max(ended) - acknowledged, still


def test_requests_held_by_a_key_end_in_401_on_every_worker_once_it_is_revoked(workers):
    def revoke(root, key_id, name, other_app):
        return root.delete(f"{KEYS}/{key_id}")

    answers, took, still = asyncio.run(_held_through(workers, revoke))
    print(f"6 held requests of a revoked key (3 on each worker) all answered {took:.3f} s after the revocation")
    for answer in answers:
        assert_problem(answer, 401)
    assert took < ENDS_WITHIN  # not at the end of their wait (60 s)
    assert still == 6  # the other key's requests are held on


def test_requests_held_on_what_leaves_a_keys_scope_end_in_404_on_every_worker(workers):
    def narrow(root, key_id, name, other_app):
        return root.put(f"{KEYS}/{key_id}", json={"name": name, "actions": ["read"], "applications": [other_app],
                                                  "environments": None})

    answers, took, still = asyncio.run(_held_through(workers, narrow))
    print(f"6 held requests on what left a key's scope (3 on each worker) all answered {took:.3f} s after the PUT")
    for index, answer in enumerate(answers):
        feed = index % 3 == 2
        assert assert_problem(answer, 404)["detail"] == (
            "No application has this id." if feed else "No configuration has this id.")
    assert took < ENDS_WITHIN  # not at the end of their wait (60 s)
    assert still == 6


def test_requests_held_by_a_key_whose_expiry_is_brought_forward_end_in_401_at_it_on_every_worker(workers):
    """A held request ended at the expiry its key had when it began: one brought forward meanwhile was answered
    401 only at the end of the `wait` (a client trial: 11 s late, and up to 300), its slot taken meanwhile."""
    def shorten(root, key_id, name, other_app):
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        return root.put(f"{KEYS}/{key_id}", json={"name": name, "actions": ["read"], "applications": None,
                                                  "environments": None, "expires_at": soon})

    answers, took, still = asyncio.run(_held_through(workers, shorten))
    print(f"6 held requests of a key made to expire 1 s on (3 on each worker) all answered {took:.3f} s after the PUT")
    for answer in answers:
        assert_problem(answer, 401)
    assert took < ENDS_WITHIN  # not at the end of their wait (60 s)
    assert still == 6


def test_a_request_held_by_a_key_whose_expiry_is_pushed_back_is_held_its_whole_wait(workers):
    """The mirror case: a hold ended at the key's old expiry, with a 304 sooner than its `wait` (a client trial)."""
    async def scenario() -> tuple[httpx.Response, float]:
        async with (httpx.AsyncClient(base_url=workers[0], timeout=HANG, headers=bearer(ROOT)) as root,
                    httpx.AsyncClient(base_url=workers[0], timeout=HANG) as http):
            app_a, _, config_a, _ = await _laid_out(root)
            # (8 s: what the PUT pushing it back has to land in, which only a hang misses)
            soon = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
            made = await root.post(KEYS, json={"name": "short-" + os.urandom(4).hex(), "actions": ["read"],
                                               "applications": None, "environments": None, "expires_at": soon})
            assert made.status_code == 201, made.text
            key = made.json()
            current = await http.get(f"{CONFIGS}/{config_a}", headers=bearer(key["secret"]))
            began = time.monotonic()
            holding = asyncio.create_task(http.get(f"{CONFIGS}/{config_a}", params={"wait": 12}, headers=bearer(
                key["secret"]) | {"If-None-Match": current.headers["etag"]}))
            await until_held(workers[0], 1)
            later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
            pushed = await root.put(f"{KEYS}/{key['id']}", json={"name": key["name"], "actions": ["read"],
                                                                 "applications": None, "environments": None,
                                                                 "expires_at": later})
            assert pushed.status_code == 200, pushed.text
            answer = await holding
            return answer, time.monotonic() - began

    answer, took = asyncio.run(scenario())
    assert answer.status_code == 304, answer.text
    assert took >= 11.9  # its whole wait (12 s), not the 8 s to the expiry it had (a lower bound: time only adds)
