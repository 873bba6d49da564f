"""Watching over real HTTP: blocking conditional GETs and the change feed, with two worker processes on one database
(a write through one must answer a waiter held by the other)."""

import asyncio
import select
import socket
import time

import httpx
import psycopg2
import pytest

from tools.harness import APPS, CONFIGS, PATIENT, health, until, until_held

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(serve, clean):
    """Two services of one worker each on the test database: which worker takes a request is then ours to say.
    Patient (`harness.PATIENT`): writes to one application queue, and every one of them must be answered 200."""
    return serve(**PATIENT), serve(**PATIENT)


async def _setup(client: httpx.AsyncClient, names: list[str], app: str = "watched") -> tuple[str, list[dict]]:
    app_id = (await client.post(APPS, json={"name": app})).json()["id"]
    made = []
    for name in names:
        response = await client.post(CONFIGS, json={"application_id": app_id, "name": name, "config": {"v": 0}})
        assert response.status_code == 201, response.text
        made.append(response.json() | {"etag": response.headers["etag"]})
    return app_id, made


def test_a_waiter_is_answered_when_a_write_lands_through_the_other_worker(workers):
    one, other = workers

    async def scenario():
        async with httpx.AsyncClient(base_url=one, timeout=310) as a, httpx.AsyncClient(base_url=other, timeout=60) as b:
            app_id, [config] = await _setup(a, ["db"])
            app = await a.get(f"{APPS}/{app_id}")
            listing = await a.get(f"{APPS}/{app_id}/configurations")
            held = [
                asyncio.create_task(a.get(f"{CONFIGS}/{config['id']}", params={"wait": 300},
                                          headers={"If-None-Match": config["etag"]})),
                asyncio.create_task(a.get(f"{APPS}/{app_id}", params={"wait": 300},
                                          headers={"If-None-Match": app.headers["etag"]})),
                asyncio.create_task(a.get(f"{APPS}/{app_id}/configurations", params={"wait": 300},
                                          headers={"If-None-Match": listing.headers["etag"]})),
                asyncio.create_task(a.get(f"{APPS}/{app_id}/changes", params={"after": 1, "wait": 300})),
            ]
            await until_held(one, 4)
            assert not any(t.done() for t in held), "a waiter answered before anything changed"
            started = time.monotonic()
            put = await b.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 1}})
            created = await b.post(CONFIGS, json={"application_id": app_id, "name": "cache", "config": {}})
            answers = await asyncio.gather(*held)
            # Two more held on the configuration, answered by one change: the first's check answers both, each
            # written whole below the layers, as a GET's answer is written through them (`wire/protocol.py`).
            current = answers[0].headers["etag"]
            more = [asyncio.create_task(a.get(f"{CONFIGS}/{config['id']}", params={"wait": 300},
                                              headers={"If-None-Match": current})) for _ in range(2)]
            await until_held(one, 2)
            await b.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 2}})
            answers += await asyncio.gather(*more)
            answers.append(await a.get(f"{CONFIGS}/{config['id']}"))
            return put, created, answers, time.monotonic() - started

    put, created, (config, app, listing, feed, *twice, plain), took = asyncio.run(scenario())
    assert put.status_code == 200 and created.status_code == 201

    def alike(answer: httpx.Response) -> tuple:
        return answer.status_code, answer.content, sorted((k, v) for k, v in answer.headers.items()
                                                          if k not in ("date", "x-request-id"))
    assert alike(twice[0]) == alike(twice[1]) == alike(plain) and plain.json()["config"] == {"v": 2}
    assert twice[0].headers["x-request-id"] != twice[1].headers["x-request-id"]
    assert took < 200, "the waiters were answered by the end of their wait (300 s), not by the writes"
    assert config.status_code == 200 and config.json()["config"] == {"v": 1} and config.headers["etag"] == put.headers["etag"]
    assert app.status_code == 200 and created.json()["id"] in app.json()["configuration_ids"]
    assert listing.status_code == 200 and listing.json()["items"][0]["config"] == {"v": 1}
    assert feed.status_code == 200 and feed.json()["items"][0]["seq"] == 2 and feed.json()["items"][0]["kind"] == "updated"


def test_1000_writes_to_other_configurations_answer_no_waiter_of_this_one(workers):
    one, other = workers

    async def scenario():
        async with httpx.AsyncClient(base_url=one, timeout=310) as a, \
                httpx.AsyncClient(base_url=other, timeout=120, limits=httpx.Limits(max_connections=20)) as b:
            app_id, [mine, theirs, marker] = await _setup(a, ["mine", "theirs", "marker"])
            page = await a.get(f"{APPS}/{app_id}/configurations", params={"name": "mine"})
            config_waiter = asyncio.create_task(a.get(f"{CONFIGS}/{mine['id']}", params={"wait": 300},
                                                      headers={"If-None-Match": mine["etag"]}))
            page_waiter = asyncio.create_task(a.get(f"{APPS}/{app_id}/configurations",
                                                    params={"name": "mine", "wait": 300},
                                                    headers={"If-None-Match": page.headers["etag"]}))
            marker_waiter = asyncio.create_task(a.get(f"{CONFIGS}/{marker['id']}", params={"wait": 300},
                                                      headers={"If-None-Match": marker["etag"]}))
            await until_held(one, 3)
            semaphore = asyncio.Semaphore(20)

            async def write(i: int) -> int:
                async with semaphore:
                    response = await b.put(f"{CONFIGS}/{theirs['id']}", json={"name": "theirs", "config": {"i": i}})
                    return response.status_code

            statuses = await asyncio.gather(*(write(i) for i in range(1000)))
            # The marker's change commits after the 1,000: once its waiter is answered, worker one has had every
            # one of their notifications (a listener gets them in commit order), and the re-checks they caused
            # are behind one more request on its loop.
            await b.put(f"{CONFIGS}/{marker['id']}", json={"name": "marker", "config": {"v": 1}})
            marked = await marker_waiter
            await a.get(f"{CONFIGS}/{mine['id']}")
            early = [t.done() for t in (config_waiter, page_waiter)]
            await b.put(f"{CONFIGS}/{mine['id']}", json={"name": "mine", "config": {"v": "mine"}})
            return statuses, marked, early, await config_waiter, await page_waiter

    statuses, marked, early, config, page = asyncio.run(scenario())
    assert statuses == [200] * 1000
    assert marked.status_code == 200 and marked.json()["config"] == {"v": 1}
    assert early == [False, False], "a write to another configuration answered a waiter"
    assert config.status_code == 200 and config.json()["config"] == {"v": "mine"}
    assert page.status_code == 200 and page.json()["items"][0]["config"] == {"v": "mine"}


def test_20_writers_the_feed_holds_exactly_the_acknowledged_writes_and_a_tail_sees_the_same(workers):
    writers, writes = 20, 50

    async def scenario():
        clients = [httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=writers))
                   for base in workers]
        try:
            app_id, configs = await _setup(clients[0], [f"c{i}" for i in range(writers)])
            acknowledged: list[tuple[str, int]] = []
            done = asyncio.Event()

            async def writer(n: int) -> None:
                config = configs[n]
                for i in range(writes):
                    response = await clients[i % 2].put(f"{CONFIGS}/{config['id']}",
                                                        json={"name": config["name"], "config": {"i": i}})
                    assert response.status_code == 200, response.text
                    acknowledged.append((config["id"], response.json()["version"]))

            async def tail() -> list[dict]:
                seen, after = [], 0
                while not (done.is_set() and after >= writers + writers * writes):
                    page = (await clients[1].get(f"{APPS}/{app_id}/changes",
                                                 params={"after": after, "wait": 5, "limit": 37})).json()
                    seen += page["items"]
                    after = page["next_after"]
                return seen

            tailing = asyncio.create_task(tail())
            await asyncio.gather(*(writer(n) for n in range(writers)))
            done.set()
            tailed = await asyncio.wait_for(tailing, 60)
            full, after = [], 0
            while True:
                page = (await clients[0].get(f"{APPS}/{app_id}/changes", params={"after": after, "limit": 500})).json()
                if not page["items"]:
                    break
                full += page["items"]
                after = page["next_after"]
            return configs, acknowledged, tailed, full
        finally:
            for client in clients:
                await client.aclose()

    configs, acknowledged, tailed, full = asyncio.run(scenario())
    assert [c["seq"] for c in full] == list(range(1, writers + writers * writes + 1)), "a gap or a duplicate"
    assert [(c["kind"], c["configuration_id"]) for c in full[:writers]] == [("created", c["id"]) for c in configs]
    updates = [(c["configuration_id"], c["version"]) for c in full if c["kind"] == "updated"]
    assert sorted(updates) == sorted(acknowledged) and len(updates) == len(acknowledged) == writers * writes
    for config in configs:
        versions = [v for cid, v in updates if cid == config["id"]]
        assert versions == list(range(2, writes + 2)), "one configuration's versions out of order"
    assert tailed == full


def test_waits_end_in_304_or_an_empty_page_and_a_deleted_configuration_answers_404(workers):
    one, other = workers

    async def scenario():
        async with httpx.AsyncClient(base_url=one, timeout=60) as a, httpx.AsyncClient(base_url=other, timeout=60) as b:
            app_id, [config] = await _setup(a, ["db"])
            started = time.monotonic()
            timed_out = await a.get(f"{CONFIGS}/{config['id']}", params={"wait": 1},
                                    headers={"If-None-Match": config["etag"]})
            empty = await a.get(f"{APPS}/{app_id}/changes", params={"after": 1, "wait": 1})
            took = time.monotonic() - started
            waiter = asyncio.create_task(a.get(f"{CONFIGS}/{config['id']}", params={"wait": 30},
                                               headers={"If-None-Match": config["etag"]}))
            await until_held(one, 1)
            deleted = await b.delete(f"{CONFIGS}/{config['id']}")
            gone = await waiter
            feed = (await b.get(f"{APPS}/{app_id}/changes")).json()
            unchanged = await a.get(f"{CONFIGS}/{config['id']}", params={"wait": 5})
            return timed_out, empty, took, deleted, gone, feed, unchanged

    timed_out, empty, took, deleted, gone, feed, unchanged = asyncio.run(scenario())
    assert timed_out.status_code == 304 and timed_out.headers["etag"] and took >= 1.9  # both waits were held
    assert empty.status_code == 200 and empty.json() == {"items": [], "next_after": 1, "epoch": 1}
    assert deleted.status_code == 204 and gone.status_code == 404
    assert [(c["seq"], c["kind"], c["version"], c["name"]) for c in feed["items"]] == [(1, "created", 1, "db"),
                                                                                      (2, "deleted", 1, "db")]
    assert feed["next_after"] == 2
    assert unchanged.status_code == 404  # wait without If-None-Match answers at once


def test_the_feed_names_who_changed_what_and_restores(serve, clean):
    base = serve(API_KEYS="ci:rw:" + "s" * 20)
    with httpx.Client(base_url=base, headers={"Authorization": "Bearer " + "s" * 20}) as client:
        app_id = client.post(APPS, json={"name": "a"}).json()["id"]
        config_id = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}}).json()["id"]
        client.put(f"{CONFIGS}/{config_id}", json={"name": "db2", "config": {"x": 1}})
        client.post(f"{CONFIGS}/{config_id}/revisions/1/restore")
        feed = client.get(f"{APPS}/{app_id}/changes", params={"after": 1}).json()
        missing = client.get(f"{APPS}/01JD3B5ZQ6V2K9X4N8M7P1R0ST/changes")
    assert [(c["seq"], c["kind"], c["name"], c["version"], c["by"]) for c in feed["items"]] == [
        (2, "updated", "db2", 2, "ci"), (3, "restored", "db", 3, "ci")]
    assert missing.status_code == 404


def test_waiters_past_the_cap_answer_503_with_retry_after(serve, clean):
    base = serve(MAX_WAITERS="2")

    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=310) as client:
            app_id, _ = await _setup(client, [])
            held = [asyncio.create_task(client.get(f"{APPS}/{app_id}/changes", params={"wait": 300}))
                    for _ in range(2)]
            await until_held(base, 2)
            refused = await client.get(f"{APPS}/{app_id}/changes", params={"wait": 300})
            await client.post(CONFIGS, json={"application_id": app_id, "name": "wakes", "config": {}})
            return refused, await asyncio.gather(*held)

    refused, held = asyncio.run(scenario())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert [(r.status_code, len(r.json()["items"])) for r in held] == [(200, 1), (200, 1)]


def test_a_managed_key_holds_at_most_its_share_and_the_others_are_still_held(serve, clean):
    """A key scoped to one application held every slot of a worker, and every other key's watches were refused: a
    managed key past MAX_WAITERS_PER_KEY held requests is refused 429 (a problem, with the Retry-After of its
    oldest hold's end), and other keys' requests are still held."""
    root = {"Authorization": "Bearer " + "root-secret-" + "r" * 16}
    base = serve(MAX_WAITERS_PER_KEY="2", API_KEYS="root:admin:" + "root-secret-" + "r" * 16)

    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=310, headers=root) as client:
            app_id = (await client.post(APPS, json={"name": "shared"})).json()["id"]
            made = await client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}})
            config_id, etag = made.json()["id"], made.headers["etag"]
            key = await client.post("/api/v1/keys", json={"name": "tenant", "actions": ["read"],
                                                          "applications": [app_id], "environments": None})
            tenant = {"Authorization": "Bearer " + key.json()["secret"]}
            config = f"{CONFIGS}/{config_id}"
            mine = [asyncio.create_task(client.get(config, params={"wait": 300},  # the fast path's hold
                                                   headers={**tenant, "If-None-Match": etag})),
                    asyncio.create_task(client.get(f"{APPS}/{app_id}/changes",  # the feed's
                                                   params={"after": 1, "wait": 100}, headers=tenant))]
            await until_held(base, 2)
            refused = [await client.get(config, params={"wait": 300}, headers={**tenant, "If-None-Match": etag}),
                       await client.get(f"{APPS}/{app_id}/changes", params={"after": 1, "wait": 9}, headers=tenant)]
            others = asyncio.create_task(client.get(config, params={"wait": 300}, headers={"If-None-Match": etag}))
            await until_held(base, 3)
            answered = await client.get(config, headers=tenant)  # what needs no hold is answered still
            await client.put(config, json={"name": "db", "config": {"v": 2}})
            return refused, answered, await asyncio.gather(*mine), await others

    refused, answered, mine, others = asyncio.run(scenario())
    for response in refused:
        assert response.status_code == 429 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/too-many-requests") and "MAX_WAITERS_PER_KEY" in response.json()["detail"]
        assert 90 <= int(response.headers["retry-after"]) <= 100  # the key's hold that ends first: wait=100
    assert answered.status_code == 200
    assert [r.status_code for r in mine] == [200, 200] and others.status_code == 200


def test_held_requests_whose_clients_have_gone_free_their_slots_at_once(serve, clean):
    """MAX_WAITERS held requests (wait=300: blocking GETs and the feed) whose clients then close their sockets must
    not keep the slots: a real waiter is held, not refused with 503. Without the fix the slots stay taken for the
    300 s of their wait; the deadlines below are bounds only a hang reaches."""
    cap = 4
    base = serve(MAX_WAITERS=str(cap))
    host, port = base.removeprefix("http://").split(":")
    with httpx.Client(base_url=base, timeout=60) as client:
        app_id = client.post(APPS, json={"name": "gone"}).json()["id"]
        made = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}})
        config_id, etag = made.json()["id"], made.headers["etag"]

        def held(i: int) -> socket.socket:
            """A request that is held (until its wait of 300 s passes), sent over a socket of its own."""
            path = (f"{CONFIGS}/{config_id}?wait=300" if i % 2 == 0 else f"{APPS}/{app_id}/changes?after=1&wait=300")
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nIf-None-Match: {etag}\r\n\r\n".encode())
            return sock

        def probe() -> int:
            return client.get(f"{CONFIGS}/{config_id}", params={"wait": 1}, headers={"If-None-Match": etag}).status_code

        abandoned = [held(i) for i in range(cap)]
        # Every slot taken by them, as the worker counts its held requests. (Probing for a 503 in a loop, each
        # answered one sent again, could go on for ever: on a busy machine the probe, on a kept connection, took
        # the slot before the one sent again on a new one, every time.)
        until(lambda: health(base).get("waiters") == cap, "the abandoned requests held")
        assert not any(select.select([sock], [], [], 0)[0] for sock in abandoned)  # none answered
        assert probe() == 503  # (refused at once)
        for sock in abandoned:
            sock.close()

        async def waiters() -> list[int]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as each:
                answers = await asyncio.gather(*(each.get(f"{CONFIGS}/{config_id}", params={"wait": 1},
                                                          headers={"If-None-Match": etag}) for _ in range(cap)))
                return [a.status_code for a in answers]

        deadline = time.monotonic() + 30
        while (statuses := asyncio.run(waiters())) != [304] * cap:  # held for their second, then 304
            assert set(statuses) <= {304, 503}, statuses
            assert time.monotonic() < deadline, f"the slots of clients that had gone were not freed: {statuses}"


@pytest.mark.parametrize("after", ["a pipelined request", "bytes that are not HTTP"])
@pytest.mark.parametrize("gone", ["closed", "reset"])
def test_a_held_request_with_more_sent_behind_it_frees_its_slot_when_its_client_goes(serve, clean, after, gone):
    """Behind a held request, a pipelined one (or garbage) pauses reading, so the connection's end is not read: the
    slots stayed taken until their wait ended (a trial: 20 of 20, and a real waiter answered 503), and each answer
    was then written to a closed transport (logged as an unhandled error). The deadlines only a hang reaches."""
    import struct

    base = serve(MAX_WAITERS="3")
    host, port = base.removeprefix("http://").split(":")
    with httpx.Client(base_url=base, timeout=60) as client:
        app_id = client.post(APPS, json={"name": "gone"}).json()["id"]
        made = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}})
        config_id, etag = made.json()["id"], made.headers["etag"]
        behind = (f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n" if after == "a pipelined request"
                  else "\x01\x02 not http\r\n\r\n").encode()
        socks = []
        for _ in range(3):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(f"GET {CONFIGS}/{config_id}?wait=300 HTTP/1.1\r\nHost: {host}\r\n"
                         f"If-None-Match: {etag}\r\n\r\n".encode())
            socks.append(sock)
        until(lambda: health(base).get("waiters") == 3, "3 requests held")
        for sock in socks:
            sock.sendall(behind)
        time.sleep(0.2)  # (what came behind them is read: reading pauses)
        for sock in socks:
            if gone == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        until(lambda: health(base).get("waiters") == 0, "the slots of clients that had gone freed")
        again = client.get(f"{CONFIGS}/{config_id}", params={"wait": 1}, headers={"If-None-Match": etag})
        assert again.status_code == 304  # held for its second, not refused
    log = serve.services[-1].log()
    assert "unhandled error" not in log and "ASGI callable returned without completing" not in log


def test_a_listener_killed_from_the_database_side_reconnects_and_misses_nothing(workers, database_url):
    one, other = workers

    def kill_listeners() -> int:
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'config-service-listener' AND datname = current_database()")
            killed = cur.fetchone()[0]
        conn.close()
        return killed

    async def scenario():
        async with httpx.AsyncClient(base_url=one, timeout=310) as a, httpx.AsyncClient(base_url=other, timeout=60) as b:
            app_id, [config] = await _setup(a, ["db"])
            for base in workers:  # both listeners are connected: there are two to kill
                until(lambda: health(base).get("listener") == "listening", "the listener connected")
            waiter = asyncio.create_task(a.get(f"{CONFIGS}/{config['id']}", params={"wait": 300},
                                               headers={"If-None-Match": config["etag"]}))
            await until_held(one, 1)
            killed = kill_listeners()
            # Written while the listener of `one` may still be reconnecting: it must not be missed.
            put = await b.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 1}})
            started = time.monotonic()
            answer = await waiter
            return killed, put, answer, time.monotonic() - started

    killed, put, answer, took = asyncio.run(scenario())
    assert killed == 2
    # Answered by the change (the waiter re-checks when its listener is back, or every second meanwhile), not by
    # the end of its wait (300 s).
    assert answer.status_code == 200 and answer.headers["etag"] == put.headers["etag"] and took < 200


# -- effective views --------------------------------------------------------------------------------------------
ENVS = "/api/v1/environments"


async def _layers(client: httpx.AsyncClient) -> dict:
    """billing/database {host, port} with overrides along prod > prod-eu > prod-eu-1 (the watched view's chain), in
    prod-us (also under prod) and in staging (a root of its own); billing/cache with an override in prod-eu-1."""
    async def made(path: str, body: dict, method: str = "post") -> dict:
        response = await client.request(method, path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    app = await made(APPS, {"name": "layered"})
    database = await made(CONFIGS, {"application_id": app["id"], "name": "database",
                                    "config": {"host": "db", "port": 1}})
    cache = await made(CONFIGS, {"application_id": app["id"], "name": "cache", "config": {"ttl": 1}})
    prod = await made(ENVS, {"name": "prod"})
    eu = await made(ENVS, {"name": "prod-eu", "parent_id": prod["id"]})
    leaf = await made(ENVS, {"name": "prod-eu-1", "parent_id": eu["id"]})
    us = await made(ENVS, {"name": "prod-us", "parent_id": prod["id"]})
    staging = await made(ENVS, {"name": "staging"})
    for config, env, patch in ((database, prod, {"host": "db.prod"}), (database, eu, {"port": 2}),
                               (database, leaf, {"leaf": 1}), (database, us, {"region": "us"}),
                               (database, staging, {"host": "db.staging"}), (cache, leaf, {"ttl": 2})):
        await made(f"{CONFIGS}/{config['id']}/overrides/{env['id']}", {"patch": patch}, "put")
    return {"app": app, "database": database, "cache": cache, "prod": prod, "eu": eu, "leaf": leaf, "us": us,
            "staging": staging}


def _view_requests(t: dict) -> tuple[tuple[str, dict], tuple[str, dict]]:
    """The watched view read two ways: by ids, and by names (findEffective with the configuration's name)."""
    return ((f"{CONFIGS}/{t['database']['id']}/effective", {"environment_id": t["leaf"]["id"]}),
            ("/api/v1/effective", {"application": "layered", "environment": "prod-eu-1", "configuration": "database"}))


def _config(response: httpx.Response) -> dict:
    """The watched view's document, from either answer."""
    body = response.json()
    return body["configurations"][0]["config"] if "configurations" in body else body["config"]


def test_an_effective_view_held_on_one_worker_is_answered_by_any_layer_changed_through_the_other(workers):
    one, other = workers

    async def scenario():
        async with httpx.AsyncClient(base_url=one, timeout=310) as a, httpx.AsyncClient(base_url=other, timeout=60) as b:
            t = await _layers(a)
            database, leaf = t["database"]["id"], t["leaf"]["id"]
            changes = [
                ("an override in its chain", b.put(f"{CONFIGS}/{database}/overrides/{t['eu']['id']}",
                                                   json={"patch": {"port": 3}})),
                ("its configuration's config", b.put(f"{CONFIGS}/{database}",
                                                     json={"name": "database", "config": {"host": "db", "port": 1,
                                                                                          "pool": 4}})),
                ("its environment re-parented", b.put(f"{ENVS}/{leaf}",
                                                      json={"name": "prod-eu-1", "parent_id": t["us"]["id"]})),
                ("its root's override deleted", b.delete(f"{CONFIGS}/{database}/overrides/{t['prod']['id']}")),
            ]
            rounds = []
            for what, change in changes:
                current = [await a.get(path, params=params) for path, params in _view_requests(t)]
                held = [asyncio.create_task(a.get(path, params=params | {"wait": 300},
                                                  headers={"If-None-Match": seen.headers["etag"]}))
                        for (path, params), seen in zip(_view_requests(t), current)]
                await until_held(one, 2)
                assert not any(task.done() for task in held), f"{what}: a waiter answered before the change"
                started = time.monotonic()
                written = await change
                answers = await asyncio.gather(*held)
                took = time.monotonic() - started
                fresh = [await b.get(path, params=params) for path, params in _view_requests(t)]
                rounds.append((what, written, current, answers, fresh, took))
            return t, rounds

    t, rounds = asyncio.run(scenario())
    expected = {"an override in its chain": {"host": "db.prod", "port": 3, "leaf": 1},
                "its configuration's config": {"host": "db.prod", "port": 3, "pool": 4, "leaf": 1},
                # prod-us is now in the chain, prod-eu (port 3) is not
                "its environment re-parented": {"host": "db.prod", "port": 1, "pool": 4, "region": "us", "leaf": 1},
                "its root's override deleted": {"host": "db", "port": 1, "pool": 4, "region": "us", "leaf": 1}}
    for what, written, current, answers, fresh, took in rounds:
        assert written.status_code in (200, 204), (what, written.text)
        assert took < 200, f"{what}: answered by the end of the wait (300 s), not by the change"
        for before, answer, now in zip(current, answers, fresh):
            assert answer.status_code == 200, (what, answer.status_code)
            assert _config(answer) == expected[what] != _config(before), what
            # what the other worker reads now, ETag included: the answer is the view as the change left it
            assert answer.headers["etag"] == now.headers["etag"] != before.headers["etag"], what
            assert answer.content == now.content, what
    reparented = [r for r in rounds if r[0] == "its environment re-parented"][0][3][0].json()
    assert [layer["environment"] for layer in reparented["provenance"]] == [None, "prod", "prod-us", "prod-eu-1"]


def test_writes_that_leave_an_effective_view_as_it_was_answer_none_of_its_waiters(workers):
    """Each of these wakes the view's waiters (an override of its configuration, anything in its application for the
    view by names, any environment), and each re-check finds the same ETag: they keep holding. The marker, written
    after them through the same worker, is the first change of the view: the held answers must carry it (a waiter
    answered by a write before it would carry the view as it was)."""
    one, other = workers

    async def scenario():
        async with httpx.AsyncClient(base_url=one, timeout=310) as a, httpx.AsyncClient(base_url=other, timeout=60) as b:
            t = await _layers(a)
            database, cache = t["database"]["id"], t["cache"]["id"]
            current = [await a.get(path, params=params) for path, params in _view_requests(t)]
            held = [asyncio.create_task(a.get(path, params=params | {"wait": 300},
                                              headers={"If-None-Match": seen.headers["etag"]}))
                    for (path, params), seen in zip(_view_requests(t), current)]
            (path, params), seen = _view_requests(t)[0], current[0]
            brief = asyncio.create_task(a.get(path, params=params | {"wait": 2},
                                              headers={"If-None-Match": seen.headers["etag"]}))
            await until_held(one, 3)
            same = [
                # its own override in its chain, set again to what it is: a new version, the same view
                b.put(f"{CONFIGS}/{database}/overrides/{t['eu']['id']}", json={"patch": {"port": 2}}),
                # its configuration's overrides in environments outside its chain
                b.put(f"{CONFIGS}/{database}/overrides/{t['staging']['id']}", json={"patch": {"host": "x"}}),
                b.put(f"{CONFIGS}/{database}/overrides/{t['us']['id']}", json={"patch": {"region": "eu"}}),
                # another configuration of its application, its config and its override in the same environment
                b.put(f"{CONFIGS}/{cache}", json={"name": "cache", "config": {"ttl": 5}}),
                b.put(f"{CONFIGS}/{cache}/overrides/{t['leaf']['id']}", json={"patch": {"ttl": 6}}),
                # environments outside its chain: renamed, re-parented, created
                b.put(f"{ENVS}/{t['staging']['id']}", json={"name": "staging-2", "parent_id": t["prod"]["id"]}),
                b.post(ENVS, json={"name": "qa"}),
                # another configuration elsewhere
                b.post(CONFIGS, json={"application_id": (await b.post(APPS, json={"name": "other"})).json()["id"],
                                      "name": "database", "config": {}}),
            ]
            statuses = [(await write).status_code for write in same]
            timed_out = await brief
            marker = await b.put(f"{CONFIGS}/{database}/overrides/{t['leaf']['id']}",
                                 json={"patch": {"leaf": "marker"}})
            return current, statuses, timed_out, marker, await asyncio.gather(*held)

    current, statuses, timed_out, marker, answers = asyncio.run(scenario())
    assert statuses == [200, 200, 200, 200, 200, 200, 201, 201]
    assert timed_out.status_code == 304 and timed_out.headers["etag"] == current[0].headers["etag"]
    assert marker.status_code == 200
    for before, answer in zip(current, answers):
        assert answer.status_code == 200
        assert _config(answer) == {"host": "db.prod", "port": 2, "leaf": "marker"}, \
            "a waiter was answered by a write that left its view as it was"
        assert answer.headers["etag"] != before.headers["etag"]


def test_a_held_get_whose_body_is_too_slow_or_too_large_answers_408_or_413_not_500(serve, clean):
    """The fast path holds a GET while watching for its client's going, which reads what body it has: one that did
    not all arrive within BODY_TIMEOUT_SECONDS, or grew past MAX_BODY_BYTES, raised through it as a 500 (a trial),
    where a route answers 408 and 413."""
    base = serve(BODY_TIMEOUT_SECONDS="1", MAX_BODY_BYTES="1024")
    host, port = base.removeprefix("http://").split(":")
    with httpx.Client(base_url=base, timeout=60) as client:
        app_id = client.post(APPS, json={"name": "bodies"}).json()["id"]
        made = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}})
        config_id, etag = made.json()["id"], made.headers["etag"]
        env_id = client.post("/api/v1/environments", json={"name": "bodies-env"}).json()["id"]
        effective = client.get(f"{CONFIGS}/{config_id}/effective", params={"environment_id": env_id})
    paths = [(f"{CONFIGS}/{config_id}?wait=20", etag),
             (f"{CONFIGS}/{config_id}/effective?environment_id={env_id}&wait=20", effective.headers["etag"])]

    def answer(head: str, body: bytes) -> bytes:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(head.encode() + body)
            received = b""
            while chunk := sock.recv(65536):  # (each answer closes its connection)
                received += chunk
            return received

    for path, tag in paths:
        slow = answer(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nIf-None-Match: {tag}\r\nContent-Length: 5\r\n\r\n",
                      b"ab")
        assert slow.startswith(b"HTTP/1.1 408 "), slow[:200]
        assert b"application/problem+json" in slow and b"request-timeout" in slow
        chunk = b"x" * 600
        large = answer(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nIf-None-Match: {tag}\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n",
                       (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
        assert large.startswith(b"HTTP/1.1 413 "), large[:200]
        assert b"application/problem+json" in large
