"""The polled reads answered below the router are the routes' answers, byte for byte, and everything else is not
answered there."""

import asyncio
from types import SimpleNamespace

import pytest

from live import fastpath, reads
from live.readcache import Entry
from wire.problems import Unauthorized

CONFIGS = "/api/v1/configurations"


@pytest.fixture
def fast_answers(monkeypatch):
    """The configurations (and effective views, as (id, environment)) the fast path read (to answer, or to find it
    must not)."""
    calls = []

    async def counted(state, id):
        calls.append(id)
        return await reads.configuration(state, id)

    async def counted_view(state, id, environment_id):
        calls.append((id, environment_id))
        return await reads.effective_configuration(state, id, environment_id)

    async def counted_past(state, scope, id, seq, at):
        calls.append((id, seq, at))
        return await reads.configuration_snapshot(state, scope, id, seq, at)

    # the route's reads stay uncounted
    monkeypatch.setattr(fastpath, "reads", SimpleNamespace(configuration=counted, effective_configuration=counted_view,
                                                           configuration_snapshot=counted_past, hold=reads.hold,
                                                           Feed=reads.Feed))
    return calls


def comparable(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, headers, response.content


def test_a_read_is_answered_as_the_route_answers_it(client, application, configuration, fast_answers):
    made = configuration(application()["id"], config={"host": "db", "port": 5432, "n": 1.50})
    path = f"{CONFIGS}/{made['id']}"
    fast = client.get(path)
    routed = client.get(path + "?route=1")  # a query string goes to the route
    assert fast_answers == [made["id"]]
    assert comparable(fast) == comparable(routed)
    assert fast.status_code == 200 and fast.json()["config"] == {"host": "db", "port": 5432, "n": 1.50}

    etag = fast.headers["etag"]
    for held in (etag, f'W/{etag}', f'"other", {etag}', "*"):
        assert comparable(client.get(path, headers={"If-None-Match": held})) == \
            comparable(client.get(path + "?route=1", headers={"If-None-Match": held}))
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    lines = [("If-None-Match", '"other"'), ("If-None-Match", etag)]  # one list (RFC 9110 §5.3)
    assert comparable(client.get(path, headers=lines)) == comparable(client.get(path + "?route=1", headers=lines))
    assert client.get(path, headers=lines).status_code == 304
    head = client.head(path)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag


def test_a_change_is_seen_at_once(client, application, configuration):
    made = configuration(application()["id"])
    path = f"{CONFIGS}/{made['id']}"
    first = client.get(path)
    client.put(path, json={"name": made["name"], "config": {"v": 2}})
    second = client.get(path)
    assert second.json()["version"] == 2 and second.headers["etag"] != first.headers["etag"]


def test_a_missing_configuration_and_other_paths_go_to_the_route(client, application, configuration, fast_answers):
    missing = client.get(f"{CONFIGS}/01JD3B7M2W8Y6Q4T0V9X1Z3B5C")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["instance"] == f"{CONFIGS}/01JD3B7M2W8Y6Q4T0V9X1Z3B5C"
    made = configuration(application()["id"])
    for path in (f"{CONFIGS}/{made['id'].lower()}", f"{CONFIGS}/{made['id']}/revisions", f"{CONFIGS}/x"):
        client.get(path)
    client.put(f"{CONFIGS}/{made['id']}", json={"name": made["name"], "config": {}})
    assert fast_answers == ["01JD3B7M2W8Y6Q4T0V9X1Z3B5C"]  # only the well-formed GET tried the fast path


ENVS = "/api/v1/environments"


@pytest.fixture
def layered(client, application, configuration):
    """A configuration with overrides in prod and in prod-eu (under prod): its view in prod-eu has three layers."""
    made = configuration(application()["id"], config={"host": "db", "port": 5432, "n": 1.50})
    prod = client.post(ENVS, json={"name": "prod"}).json()["id"]
    eu = client.post(ENVS, json={"name": "prod-eu", "parent_id": prod}).json()["id"]
    for environment, patch in ((prod, {"host": "db.prod"}), (eu, {"port": None, "region": "eu"})):
        assert client.put(f"{CONFIGS}/{made['id']}/overrides/{environment}", json={"patch": patch}).status_code == 201
    return made, prod, eu


def test_an_effective_read_is_answered_as_the_route_answers_it(client, layered, fast_answers):
    made, prod, eu = layered
    path = f"{CONFIGS}/{made['id']}/effective?environment_id={eu}"
    fast = client.get(path)
    routed = client.get(path + "&route=1")  # another query string goes to the route
    assert fast_answers == [(made["id"], eu)]
    assert comparable(fast) == comparable(routed)
    assert fast.status_code == 200 and fast.json()["config"] == {"host": "db.prod", "n": 1.50, "region": "eu"}
    assert [layer["environment_id"] for layer in fast.json()["provenance"]] == [None, prod, eu]

    etag = fast.headers["etag"]
    for held in (etag, f'W/{etag}', f'"other", {etag}', "*", '"other"'):
        assert comparable(client.get(path, headers={"If-None-Match": held})) == \
            comparable(client.get(path + "&route=1", headers={"If-None-Match": held}))
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    client.put(f"{CONFIGS}/{made['id']}/overrides/{prod}", json={"patch": {"host": "db.prod-2"}})
    changed = client.get(path)  # a change of a layer is seen at once
    assert changed.json()["config"]["host"] == "db.prod-2" and changed.headers["etag"] != etag


def test_effective_reads_that_are_not_exactly_the_polled_one_or_fail_go_to_the_route(client, layered, fast_answers):
    made, prod, eu = layered
    view = f"{CONFIGS}/{made['id']}/effective"
    for query in (f"environment_id={eu.lower()}", f"environment_id={eu}&wait=0", f"environment_id={eu}&wait=301",
                  f"environment_id={eu}&wait=01", f"wait=1&environment_id={eu}", f"environment_id={eu}&x=1",
                  f"environment_id={eu}&environment_id={prod}", f"x=1&environment_id={eu}", "environment_id=", ""):
        client.get(f"{view}?{query}")
    assert fast_answers == []
    missing_view = client.get(f"{CONFIGS}/01JD3B7M2W8Y6Q4T0V9X1Z3B5C/effective?environment_id={eu}")
    missing_environment = client.get(f"{view}?environment_id=01JD3B7M2W8Y6Q4T0V9X1Z3B5C")
    assert fast_answers == [("01JD3B7M2W8Y6Q4T0V9X1Z3B5C", eu), (made["id"], "01JD3B7M2W8Y6Q4T0V9X1Z3B5C")]
    for response, detail in ((missing_view, "No configuration has this id."),
                             (missing_environment, "No environment has this id.")):
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == detail
    head = client.head(f"{view}?environment_id={eu}")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]


def test_held_reads_are_answered_here_as_the_route_answers_them(client, application, configuration, layered,
                                                                 fast_answers):
    """`wait` holds a request in the fast path as the route holds it: 304 with the current ETag when nothing
    changed, at once when If-None-Match no longer names the current answer; a `wait` the contract refuses, or any
    other query, goes to the route."""
    made = configuration(application("held")["id"])
    path = f"{CONFIGS}/{made['id']}"
    etag = client.get(path).headers["etag"]
    fast_answers.clear()
    unchanged = client.get(path + "?wait=1", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag and unchanged.content == b""
    stale = client.get(path + "?wait=1", headers={"If-None-Match": '"other"'})
    assert comparable(stale) == comparable(client.get(path + "?route=1", headers={"If-None-Match": '"other"'}))
    assert set(fast_answers) == {made["id"]} and len(fast_answers) >= 2  # a held request reads again as it holds
    tried = len(fast_answers)
    for query in ("wait=0", "wait=301", "wait=01", "wait=+1", "wait="):
        refused = client.get(f"{path}?{query}", headers={"If-None-Match": etag})
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json", query
    assert len(fast_answers) == tried

    view_made, _, eu = layered
    view = f"{CONFIGS}/{view_made['id']}/effective?environment_id={eu}"
    view_etag = client.get(view).headers["etag"]
    held = client.get(view + "&wait=1", headers={"If-None-Match": view_etag})
    assert held.status_code == 304 and held.headers["etag"] == view_etag
    assert fast_answers[-1] == (view_made["id"], eu)


def test_a_read_of_the_past_is_answered_as_the_route_answers_it(client, application, configuration, fast_answers):
    """By `seq` and by `at`, written as the route reads them without decoding; what fails (out of the history, a
    time that is not one, no such configuration) is tried and answered by the route; any other query string, or a
    point written otherwise (`+`, percent-encoded, leading zeros, out of bounds), goes to the route untried."""
    made = configuration(application("past")["id"], config={"n": 1.50})
    path = f"{CONFIGS}/{made['id']}/snapshot"
    client.put(f"{CONFIGS}/{made['id']}", json={"name": made["name"], "config": {"n": 2.50}})
    first = client.get(path + "?seq=1&route=1").json()
    assert first["configuration"]["config"] == {"n": 1.50} and fast_answers == []
    at = first["recorded_at"]
    answered = [f"seq={seq}" for seq in (1, 2)] + [f"at={at}", f"at={at.replace('T', 't').replace('Z', 'z')}",
                                                    f"at={at[:-1]}-00:00"]
    tried = ["seq=3", "at=2999-01-01T00:00:00Z", "at=1999-01-01T00:00:00Z", "at=2026-13-01T00:00:00Z",
             f"at={at[:-1]}"]
    for query in answered + tried:
        fast, routed = client.get(f"{path}?{query}"), client.get(f"{path}?{query}&route=1")
        assert comparable(fast) == comparable(routed), query
        assert fast.status_code == (200 if query in answered else 404 if query.startswith("seq") else 422), query
    assert [point for _, *point in fast_answers] == [
        [1, None], [2, None], [None, at], [None, at.replace("T", "t").replace("Z", "z")], [None, f"{at[:-1]}-00:00"],
        [3, None], *([None, query[3:]] for query in tried[1:])]
    assert client.get(f"{path}?seq=2").json()["configuration"]["config"] == {"n": 2.50}

    fast_answers.clear()
    for query in ("seq=01", "seq=+1", "seq=9223372036854775808", "seq=", "seq=1&seq=2", "seq=1&at=" + at,
                  f"at={at[:-1]}%2B00:00", f"at={at[:-1]}+00:00", "at=", "", "x=1&seq=1"):
        client.get(f"{path}?{query}")
    assert fast_answers == []
    missing = client.get(f"{CONFIGS}/01JD3B7M2W8Y6Q4T0V9X1Z3B5C/snapshot?seq=1")
    assert missing.status_code == 404 and missing.json()["detail"] == "No configuration has this id."
    assert fast_answers == [("01JD3B7M2W8Y6Q4T0V9X1Z3B5C", 1, None)]


def test_the_requests_one_change_answers_are_all_written_before_any_of_them_finishes(monkeypatch):
    """Each held request's answer is sent, then it lets the others send theirs before it returns through the layers
    above it (their work, the log line): the last of 1,000 is not answered after 999 requests' unwinding."""
    ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    old, new = Entry('"a"', b"{}"), Entry('"b"', b'{"x": 1}')
    changed = None

    async def configuration(state, id):
        return old

    async def hold(state, scope, receive, watched, read, held, wait, answer, deliver):
        await changed.wait()
        return new, new.etag, None

    monkeypatch.setattr(fastpath, "reads", SimpleNamespace(configuration=configuration, hold=hold))
    events = []
    fast = fastpath.CachedReads(None, prefix="/api/v1")

    async def request(n):
        scope = {"type": "http", "method": "GET", "path": f"{CONFIGS}/{ID}", "query_string": b"wait=30",
                 "headers": [(b"if-none-match", old.etag.encode())], "app": SimpleNamespace(state=None)}

        async def send(message):
            if message["type"] == "http.response.body":
                events.append(("answered", n))
        await fast(scope, None, send)
        events.append(("returned", n))

    async def scenario():
        nonlocal changed
        changed = asyncio.Event()
        held = [asyncio.create_task(request(n)) for n in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert events == []
        changed.set()
        await asyncio.gather(*held)

    asyncio.run(scenario())
    assert [kind for kind, _ in events] == ["answered"] * 3 + ["returned"] * 3


def test_a_held_request_whose_answer_its_leader_wrote_writes_nothing_more(monkeypatch):
    """`deliver` writes the answer whole from the task that has it (the requests' leader), once however often it is
    called; the request's own task then sends nothing, whatever its hold returns or raises after (a 304 at shutdown,
    a problem, another error). One that `deliver` could not write is answered by its own task, as before; so is one
    with an `Origin` (CORS adds headers to its answer), which does not give one. A key not confirmed yet is confirmed
    before the hold (so that its answer can be delivered); one whose rights changed is not held, nothing sent."""
    ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    old, new = Entry('"a"', b"{}"), Entry('"b"', b'{"x": 1}')
    whole, sent, held = [], [], []

    async def configuration(state, id):
        return old

    def write_whole(scope, status, lines, body, added):
        if scope["n"] == 5 or "unconfirmed" in scope["state"]:
            return False  # (the client's socket full, say)
        whole.append((scope["n"], status, body, added))
        return True

    monkeypatch.setattr(fastpath.protocol, "write_whole", write_whole)

    def scenario(n, after, origin=False, confirmed=None):
        async def hold(state, scope, receive, watched, read, held_etag, wait, answer, deliver):
            held.append(n)
            if origin:
                assert deliver is None
            else:
                assert deliver(new) is (n != 5)
                assert deliver(new) is (n != 5)  # again (a leader's own, answered as a follower): nothing more
            return after()

        monkeypatch.setattr(fastpath, "reads", SimpleNamespace(configuration=configuration, hold=hold))
        state = {"answer_headers": [(b"x-request-id", b"r")]}
        if confirmed is not None:
            async def confirm():
                if confirmed:
                    state.pop("unconfirmed")
                return confirmed
            state["unconfirmed"] = confirm
        scope = {"type": "http", "method": "GET", "path": f"{CONFIGS}/{ID}", "query_string": b"wait=30", "n": n,
                 "headers": [(b"if-none-match", old.etag.encode())] + ([(b"origin", b"https://a.example")] * origin),
                 "app": SimpleNamespace(state=None), "state": state}

        async def send(message):
            sent.append((n, message["type"], message.get("status")))
        asyncio.run(fastpath.CachedReads(None, prefix="/api/v1")(scope, None, send))

    def revoked():
        raise Unauthorized()

    def failed():
        raise RuntimeError("the body was past its limits, say")
    scenario(1, lambda: (new, new.etag, None))
    scenario(2, lambda: (None, new.etag, None))  # the shutdown began before its task ran: no 304 after the 200
    scenario(3, revoked)
    scenario(6, failed)
    scenario(7, lambda: (new, new.etag, None), confirmed=True)
    # the layers' headers rendered before the hold, not while the others wait
    assert whole == [(n, 200, new.body, b"x-request-id: r\r\n") for n in (1, 2, 3, 6, 7)] and sent == []
    scenario(4, lambda: (new, new.etag, None), origin=True)
    assert len(whole) == 5 and sent == [(4, "http.response.start", 200), (4, "http.response.body", None)]
    scenario(5, lambda: (new, new.etag, None))
    assert len(whole) == 5 and sent[2:] == [(5, "http.response.start", 200), (5, "http.response.body", None)]
    scenario(8, lambda: (new, new.etag, None), confirmed=False)
    assert 8 not in held and len(whole) == 5 and len(sent) == 4


def test_a_read_of_the_past_answered_below_the_layers_is_the_answer_they_send(serve):
    """Served as in production (uvicorn, `wire.protocol.Protocol`), a read of the past written whole below the layers
    (`protocol.write_whole`), by `seq` and by `at`, carries the headers, in the order, and the body the layers send
    for the same read (a request with an `Origin` goes through them); the connection serves the next request, and
    the access log has each answer."""
    import http.client
    import json
    import os
    import urllib.parse

    from tools.harness import until, whole_lines

    base = serve(LOG_LEVEL="INFO")  # with the access log
    split = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=60)

    def call(method, path, body=None, headers=()):
        conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", **dict(headers)})
        answer = conn.getresponse()
        return answer.status, answer.getheaders(), answer.read()

    app = json.loads(call("POST", "/api/v1/applications", {"name": f"past-{os.urandom(4).hex()}"})[2])
    made = json.loads(call("POST", "/api/v1/configurations", {"application_id": app["id"], "name": "db",
                                                              "config": {"n": 1.50, "s": "\u2028\"'"}})[2])
    call("PUT", f"/api/v1/configurations/{made['id']}", {"name": "db", "config": {"n": 2.50}})
    first = json.loads(call("GET", f"/api/v1/configurations/{made['id']}/snapshot?seq=1")[2])
    path = f"/api/v1/configurations/{made['id']}/snapshot"
    for query in ("seq=1", "seq=2", f"at={first['recorded_at']}"):
        whole = call("GET", f"{path}?{query}", headers={"X-Request-ID": "same"})
        layered = call("GET", f"{path}?{query}", headers={"X-Request-ID": "same", "Origin": "https://elsewhere.example"})
        assert whole[0] == layered[0] == 200, query
        assert [name.lower() for name, _ in whole[1]] == [name.lower() for name, _ in layered[1]], query
        assert [v for n, v in whole[1] if n.lower() != "date"] == [v for n, v in layered[1] if n.lower() != "date"]
        assert whole[2] == layered[2], query
        assert json.loads(whole[2])["configuration"]["config"] == ({"n": 1.50, "s": "\u2028\"'"} if query != "seq=2"
                                                                   else {"n": 2.50}), query
    conn.close()

    def statuses():
        return [json.loads(line)["status"] for line in whole_lines(serve.services[-1].log())
                if '"message": "request"' in line and "/snapshot" in line]
    until(lambda: len(statuses()) >= 7, "the access lines written")
    assert statuses() == [200] * 7


def test_a_read_of_the_past_is_written_whole_unless_it_has_an_origin(client, application, configuration, monkeypatch):
    """Its answer goes below the layers (`protocol.write_whole`, as a GET's from the copy), with its length and type
    and no ETag; one with an `Origin` goes through them (CORS adds its headers there). Here, in-process, there is no
    connection to write to: `write_whole` declines, and the layers send it (the test above serves it for real)."""
    from wire import protocol

    written = []

    def write_whole(scope, status, lines, body, added=None):
        written.append((scope["path"], status, lines, body))
        return False
    monkeypatch.setattr(fastpath.protocol, "write_whole", write_whole)
    made = configuration(application("whole-past")["id"], config={"n": 1})
    path = f"{CONFIGS}/{made['id']}/snapshot"
    answer = client.get(f"{path}?seq=1")
    assert answer.status_code == 200 and "etag" not in answer.headers
    assert written == [(path, 200, protocol.header_lines([(b"content-length", str(len(answer.content)).encode()),
                                                          (b"content-type", b"application/json")]), answer.content)]
    assert client.get(f"{path}?seq=1", headers={"Origin": "https://elsewhere.example"}).status_code == 200
    assert len(written) == 1


@pytest.fixture
def feeds(monkeypatch):
    """The reads of the change feed the fast path tried ("fast": each `reads.Feed` it made) and those the route
    answered ("routed"), each as (application_id, after, epoch, limit)."""
    calls = {"fast": [], "routed": []}

    def tried(state, scope, *args):
        calls["fast"].append(args[:4])
        return reads.Feed(state, scope, *args)

    async def routed(request, *args):
        calls["routed"].append(args[:4])
        return await answer_changes(request, *args)
    answer_changes = reads.answer_changes
    monkeypatch.setattr(reads, "answer_changes", routed)
    monkeypatch.setattr(fastpath, "reads", SimpleNamespace(
        Feed=tried, **{name: getattr(reads, name) for name in ("configuration", "effective_configuration",
                                                                "configuration_snapshot", "hold")}))
    return calls


def test_a_page_of_the_change_feed_is_answered_as_the_route_answers_it(client, application, configuration, feeds):
    """Any of `after`, `epoch`, `limit` and `wait`, in any order, written as the route reads them without decoding,
    are answered here; what fails (no application, a position past the feed's end, an epoch it was not written in)
    is tried and answered by the route; a parameter written otherwise, repeated or unknown goes to the route."""
    app_id = application("fed")["id"]
    made = configuration(app_id, "db", {"n": 1.50})
    client.put(f"{CONFIGS}/{made['id']}", json={"name": "db", "config": {"n": 2.50}})
    configuration(app_id, "cache")
    feed = f"/api/v1/applications/{app_id}/changes"
    epoch = client.get(feed + "?route=1").json()["epoch"]
    answered = {"": (0, None, 50), "after=0": (0, None, 50), "after=1": (1, None, 50), "after=1&limit=1": (1, None, 1),
                "limit=2&after=1": (1, None, 2), f"after=2&epoch={epoch}": (2, epoch, 50), "after=3": (3, None, 50),
                "after=3&wait=1": (3, None, 50), "wait=1&limit=500": (0, None, 500), f"epoch={epoch}": (0, epoch, 50)}
    tried = {"after=4": (4, None, 50), f"after=2&epoch={epoch + 1}": (2, epoch + 1, 50)}
    for query, read in {**answered, **tried}.items():
        feeds["fast"].clear(), feeds["routed"].clear()
        fast, routed = client.get(f"{feed}?{query}"), client.get(f"{feed}?{query}&route=1")
        assert comparable(fast) == comparable(routed), query
        assert fast.status_code == (200 if query in answered else 404 if query == "after=4" else 410), query
        assert feeds["fast"] == [(app_id, *read)], query
        assert feeds["routed"] == [(app_id, *read)] * (1 if query in answered else 2), query
    assert [c["seq"] for c in client.get(feed + "?after=1&limit=1").json()["items"]] == [2]
    feeds["fast"].clear()
    for query in ("after=01", "after=+1", "after=-1", "after=", "after=9223372036854775808", "limit=0", "limit=501",
                  "wait=0", "wait=301", "epoch=0", "epoch=4294967296", "after=1&after=2", "x=1", "after=1&x=1",
                  "after=1&", "&after=1", "after%3D1"):
        fast, routed = client.get(f"{feed}?{query}"), client.get(f"{feed}?{query}&route=1")
        assert comparable(fast) == comparable(routed), query
    assert feeds["fast"] == []
    missing = client.get("/api/v1/applications/01JD3B7M2W8Y6Q4T0V9X1Z3B5C/changes?after=0")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert feeds["fast"] == [("01JD3B7M2W8Y6Q4T0V9X1Z3B5C", 0, None, 50)]


def test_a_held_read_of_the_change_feed_is_answered_here_when_a_write_lands(client, application, configuration,
                                                                            feeds):
    """Held at the feed's end (`wait`), answered here with the write's change as the route would answer it then; the
    application deleted while it is held, with the route's 404."""
    import threading

    from tools.harness import HANG, until

    app_id = application("held-feed")["id"]
    made = configuration(app_id, "db")
    feed = f"/api/v1/applications/{app_id}/changes"
    answers = []
    held = threading.Thread(target=lambda: answers.append(client.get(feed + "?after=1&wait=300")))
    held.start()
    until(lambda: client.get("/health").json()["waiters"] == 1, "the request held")
    client.put(f"{CONFIGS}/{made['id']}", json={"name": "db", "config": {"n": 2}})
    held.join(HANG)  # not at the end of its wait (300 s)
    assert not held.is_alive() and comparable(answers[0]) == comparable(client.get(feed + "?after=1&route=1"))
    assert [(c["seq"], c["kind"]) for c in answers[0].json()["items"]] == [(2, "updated")]
    assert feeds["fast"] == [(app_id, 1, None, 50)] and len(feeds["routed"]) == 1  # (the comparison's)

    held = threading.Thread(target=lambda: answers.append(client.get(feed + "?after=2&wait=300")))
    held.start()
    until(lambda: client.get("/health").json()["waiters"] == 1, "the request held")
    client.delete(f"/api/v1/applications/{app_id}")
    held.join(HANG)
    assert not held.is_alive() and comparable(answers[1]) == comparable(client.get(feed + "?after=2&route=1"))
    assert answers[1].status_code == 404 and feeds["fast"][1:] == [(app_id, 2, None, 50)]
    assert len(feeds["routed"]) == 2  # (the comparisons': the held one's 404 was answered here)
