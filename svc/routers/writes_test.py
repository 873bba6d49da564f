import os

import pytest
import starlette.routing
from fastapi.testclient import TestClient

from app import create_app
from settings import Settings
PROBLEM_JSON = "application/problem+json"

CONFIGS = "/api/v1/configurations"
ENVS = "/api/v1/environments"


@pytest.fixture
def routed(monkeypatch):
    """The requests the router was called for (from the test's start, or the last `clear()`)."""
    calls = []
    call = starlette.routing.Router.__call__

    async def counting(self, scope, receive, send):
        if scope["type"] == "http":
            calls.append(f"{scope['method']} {scope['path']}")
        await call(self, scope, receive, send)
    monkeypatch.setattr(starlette.routing.Router, "__call__", counting)
    return calls


@pytest.fixture
def config(application, configuration):
    return configuration(application()["id"], "db", {"x": 1})


def put(client, config, body, *, etag=None, **headers):
    etag = etag or f'"{config["id"]}.{config["version"]}"'
    return client.put(f"{CONFIGS}/{config['id']}", json=body, headers={"If-Match": etag, **headers})


def test_a_put_is_answered_below_the_router_as_the_route_answers_it(client, config, routed):
    routed.clear()
    fast = client.put(f"{CONFIGS}/{config['id']}", content=b'{"name": "db", "config": {"x": 2, "n": 1.50, '
                      b'"big": 123456789012345678901234567890}, "comments": "c"}',
                      headers={"If-Match": f'"{config["id"]}.1"', "Content-Type": "application/json"})
    assert routed == []  # the router never saw it
    assert fast.status_code == 200 and fast.headers["etag"] == f'"{config["id"]}.2"'
    assert fast.headers["content-type"] == "application/json"
    assert '"n": 1.50' in fast.text and "123456789012345678901234567890" in fast.text  # the numbers exact
    # The same write through the route (an Idempotency-Key sends it there) answers alike.
    slow = put(client, {**config, "version": 2}, {"name": "db", "config": {"x": 3}, "comments": "c"},
               **{"Idempotency-Key": "k1"})
    assert len(routed) == 1
    assert slow.status_code == 200 and slow.headers["etag"] == f'"{config["id"]}.3"'
    assert set(fast.headers) == set(slow.headers)
    assert {k: v for k, v in fast.json().items() if k not in ("config", "version", "updated_at")} == {
        k: v for k, v in slow.json().items() if k not in ("config", "version", "updated_at")}
    revisions = client.get(f"{CONFIGS}/{config['id']}/revisions").json()["items"]
    assert [r["version"] for r in revisions] == [3, 2, 1]


@pytest.mark.parametrize("body, headers, status", [
    ({"name": "db"}, {}, 422),  # no config
    ({"name": "db", "config": {"a": 1}, "extra": 1}, {}, 422),
    ({"name": "db", "config": []}, {}, 422),
    ({"name": " db", "config": {}}, {}, 422),
    (None, {"Content-Type": "text/plain"}, 415),
    (b"{", {"Content-Type": "application/json"}, 400),
])
def test_a_body_the_contract_refuses_goes_on_to_the_route(client, config, routed, body, headers, status):
    routed.clear()
    url, etag = f"{CONFIGS}/{config['id']}", f'"{config["id"]}.1"'
    if isinstance(body, bytes) or body is None:
        response = client.put(url, content=body or b"{}", headers={"If-Match": etag, **headers})
    else:
        response = client.put(url, json=body, headers={"If-Match": etag, **headers})
    assert response.status_code == status and response.headers["content-type"] == PROBLEM_JSON
    assert len(routed) == 1  # the route answered it


def test_what_the_write_refuses_is_answered_here_as_a_problem(client, config, configuration, routed):
    other = configuration(config["application_id"], "cache", {})
    routed.clear()
    stale = put(client, config, {"name": "db", "config": {}}, etag=f'"{config["id"]}.9"')
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM_JSON
    taken = put(client, other, {"name": "db", "config": {}})
    assert taken.status_code == 409 and taken.json()["instance"] == f"{CONFIGS}/{other['id']}"
    missing = put(client, {**config, "id": "0" * 26}, {"name": "db", "config": {}})
    assert missing.status_code == 404
    assert routed == []


def test_a_body_read_in_pieces_or_too_large_is_answered_as_the_route_answers_it(settings, clean, config):
    with TestClient(create_app(settings.model_copy(update={"max_body_bytes": 64})),
                    raise_server_exceptions=False) as small:
        url, etag = f"{CONFIGS}/{config['id']}", f'"{config["id"]}.1"'

        def pieces(*chunks):
            yield from chunks
        ok = small.put(url, content=pieces(b'{"name": "db", ', b'"config": {"y": 1}}'), headers={"If-Match": etag})
        assert ok.status_code == 200 and ok.json()["config"] == {"y": 1}
        big = small.put(url, content=pieces(b'{"name": "db", ', b'"config": {"y": "' + b"x" * 100 + b'"}}'),
                        headers={"If-Match": f'"{config["id"]}.2"'})
        assert big.status_code == 413 and big.headers["content-type"] == PROBLEM_JSON


def test_an_override_is_created_then_replaced_below_the_router(client, config, routed):
    env = client.post(ENVS, json={"name": "prod"}).json()
    routed.clear()
    url = f"{CONFIGS}/{config['id']}/overrides/{env['id']}"
    created = client.put(url, json={"patch": {"x": 5}}, headers={"If-None-Match": "*"})
    assert created.status_code == 201 and created.headers["location"] == url
    replaced = client.put(url, json={"patch": {"x": 6}}, headers={"If-Match": created.headers["etag"]})
    assert replaced.status_code == 200 and replaced.json()["patch"] == {"x": 6}
    assert replaced.headers["etag"] == f'"{config["id"]}.{env["id"]}.2"'
    refused = client.put(url, json={"patch": {"x": 7}}, headers={"If-None-Match": "*"})
    assert refused.status_code == 412
    assert routed == []
    assert client.get(f"{CONFIGS}/{config['id']}/effective", params={"environment_id": env["id"]}).json()[
        "config"] == {"x": 6}


ROOT = "root-secret-" + "r" * 16
READER = "reader-secret-" + "s" * 16
ORIGIN = "https://console.example"


@pytest.fixture
def guarded(settings, clean):
    """A service with keys (an admin, a read-only one), If-Match required, and CORS for one origin."""
    guarded = Settings(database_url=settings.database_url, pool_min=1, pool_max=4, require_if_match=True,
                       api_keys=f"root:admin:{ROOT},reader:ro:{READER}", cors_origins=ORIGIN)
    with TestClient(create_app(guarded), raise_server_exceptions=False) as client:
        yield client


def test_refusals_of_keys_and_preconditions_and_the_cors_headers_are_the_route_s(guarded, routed):
    root = {"Authorization": f"Bearer {ROOT}"}
    app = guarded.post("/api/v1/applications", json={"name": "a"}, headers=root).json()
    other = guarded.post("/api/v1/applications", json={"name": "b"}, headers=root).json()
    config = guarded.post(CONFIGS, json={"application_id": app["id"], "name": "db", "config": {}}, headers=root).json()
    elsewhere = guarded.post("/api/v1/keys", headers=root, json={
        "name": "elsewhere", "actions": ["read", "write"], "applications": [other["id"]], "environments": None})
    assert elsewhere.status_code == 201, elsewhere.text
    elsewhere = elsewhere.json()
    url, etag = f"{CONFIGS}/{config['id']}", f'"{config["id"]}.1"'
    body = {"name": "db", "config": {"x": 1}}

    def both(headers: dict[str, str], path: str = url, json: dict = body):
        """The answer below the router, then the route's (an Idempotency-Key sends it there), and how many of the
        two the router answered."""
        routed.clear()
        fast = guarded.put(path, json=json, headers={"Origin": ORIGIN, **headers})
        slow = guarded.put(path, json=json, headers={"Origin": ORIGIN, "Idempotency-Key": os.urandom(8).hex(),
                                                     **headers})
        return fast, slow, len(routed)

    # (headers, status, how many of the two the router answered): the route says why it refuses before the write;
    # a missing key, or a read-only one writing, is refused before any route, by the keys' middleware.
    for headers, status, routes in (
            ({"Authorization": f"Bearer {ROOT}"}, 428, 2),  # no If-Match, and one is required
            ({"Authorization": f"Bearer {ROOT}", "If-None-Match": etag}, 428, 2),  # not create-only: still 428
            ({"Authorization": f"Bearer {ROOT}", "If-None-Match": "W/*"}, 428, 2),  # no weak `*`: names nothing
            ({"Authorization": f"Bearer {elsewhere['secret']}", "If-Match": etag}, 404, 2),  # not its application
            ({"Authorization": f"Bearer {READER}", "If-Match": etag}, 403, 0),  # may not write
            ({"If-Match": etag}, 401, 0)):  # no key
        fast, slow, routed_count = both(headers)
        assert fast.status_code == slow.status_code == status, (headers, fast.text)
        assert fast.headers["content-type"] == slow.headers["content-type"] == PROBLEM_JSON
        assert fast.json()["detail"] == slow.json()["detail"]
        assert fast.headers["access-control-allow-origin"] == slow.headers["access-control-allow-origin"] == ORIGIN
        assert routed_count == routes, (headers, routed_count)

    # If-None-Match: * makes a write create-only, as safe as an If-Match: an override is created with it, If-Match
    # required or not; for a missing environment the write itself refuses it, below the router.
    missing = f"{url}/overrides/{'0' * 26}"
    fast, slow, routed_count = both({"Authorization": f"Bearer {ROOT}", "If-None-Match": "*"}, missing, {"patch": {}})
    assert fast.status_code == slow.status_code == 404 and fast.json()["detail"] == slow.json()["detail"]
    assert routed_count == 1
    env = guarded.post(ENVS, json={"name": "prod"}, headers=root).json()
    routed.clear()
    created = guarded.put(f"{url}/overrides/{env['id']}", json={"patch": {"x": 2}},
                          headers={"Authorization": f"Bearer {ROOT}", "If-None-Match": "*"})
    assert created.status_code == 201 and routed == [], created.text

    routed.clear()
    ok = guarded.put(url, json=body, headers={"Authorization": f"Bearer {ROOT}", "If-Match": etag, "Origin": ORIGIN})
    assert ok.status_code == 200 and routed == []
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "etag" in ok.headers["access-control-expose-headers"].lower()


def test_a_put_answered_below_the_layers_is_the_answer_they_send(serve):
    """Served as in production (uvicorn, `wire.protocol.Protocol`), a PUT's answer written whole below the layers
    (`protocol.write_whole`) carries the headers, in the order, and the body the layers send for the same write (a
    request with an `Origin` is answered through them), a 200 and a 412 alike; the connection serves the next request,
    and the access log has each answer's status."""
    import http.client
    import json
    import urllib.parse

    base = serve(LOG_LEVEL="INFO")  # with the access log
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    conn = http.client.HTTPConnection(host, port, timeout=60)

    def call(method, path, body, headers=()):
        conn.request(method, path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", **dict(headers)})
        answer = conn.getresponse()
        return answer.status, answer.getheaders(), json.loads(answer.read())

    _, _, app = call("POST", "/api/v1/applications", {"name": f"whole-{os.urandom(4).hex()}"})
    _, _, config = call("POST", CONFIGS, {"application_id": app["id"], "name": "db", "config": {"n": 1.50}})
    url = f"{CONFIGS}/{config['id']}"
    body = {"name": "db", "config": {"n": 1.50, "s": "\u2028\"'"}, "comments": None}
    varying = {"date", "etag", "content-length"}

    def compared(a, b):
        (status_a, headers_a, body_a), (status_b, headers_b, body_b) = a, b
        assert status_a == status_b
        assert [name.lower() for name, _ in headers_a] == [name.lower() for name, _ in headers_b]
        assert [v for n, v in headers_a if n.lower() not in varying] == [
            v for n, v in headers_b if n.lower() not in varying]
        return body_a, body_b

    for version in (1, 3):  # below the layers, then through them (an Origin), then again below them
        whole = call("PUT", url, body, {"If-Match": f'"{config["id"]}.{version}"', "X-Request-ID": "same"})
        layered = call("PUT", url, body, {"If-Match": f'"{config["id"]}.{version + 1}"', "X-Request-ID": "same",
                                          "Origin": "https://elsewhere.example"})
        assert whole[0] == 200 and dict(whole[1])["etag"] == f'"{config["id"]}.{version + 1}"'
        mine, theirs = compared(whole, layered)
        assert (mine["version"], theirs["version"]) == (version + 1, version + 2)
        assert {k: v for k, v in mine.items() if k not in ("version", "updated_at")} == {
            k: v for k, v in theirs.items() if k not in ("version", "updated_at")}
    stale = [call("PUT", url, body, {"If-Match": f'"{config["id"]}.1"', "X-Request-ID": "same", **origin})
             for origin in ({}, {"Origin": "https://elsewhere.example"})]
    mine, theirs = compared(*stale)
    assert stale[0][0] == 412 and dict(stale[0][1])["content-type"] == PROBLEM_JSON and mine == theirs
    conn.close()

    from tools.harness import until, whole_lines

    def statuses():
        return [json.loads(line)["status"] for line in whole_lines(serve.services[-1].log())
                if '"message": "request"' in line and '"method": "PUT"' in line]
    until(lambda: len(statuses()) >= 6, "the access lines written")
    assert statuses() == [200, 200, 200, 200, 412, 412]


@pytest.fixture
def layered(monkeypatch):
    """How many requests went through the layers (`RequestId`, the outermost one after the lane), from the test's
    start or the last `clear()`."""
    from middleware.request_id import RequestId
    calls = []
    call = RequestId.__call__

    async def counting(self, scope, receive, send):
        if scope["type"] == "http":
            calls.append(scope["path"])
        await call(self, scope, receive, send)
    monkeypatch.setattr(RequestId, "__call__", counting)
    return calls


@pytest.fixture
def lined(monkeypatch):
    """The access lines written (JSON objects)."""
    import io
    import json
    import logging

    import logs
    stream = io.StringIO()
    monkeypatch.setattr(logs.access, "handler", logging.StreamHandler(stream))
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_lane_answers_a_put_as_the_layers_do_and_leaves_them_every_put_they_act_on(settings, clean, layered,
                                                                                       lined):
    """The lane answers a PUT without the layers, with the answer they give the same PUT (sent to the path with a
    trailing slash, which the lane does not take): status, headers in their order, body; and one access line each.
    A PUT the layers or the route refuse, or act on, goes through them untouched (one id, one set of headers)."""
    guarded = Settings(database_url=settings.database_url, pool_min=1, pool_max=4, require_if_match=True,
                       api_keys=f"root:admin:{ROOT},reader:ro:{READER}", cors_origins=ORIGIN, max_body_bytes=1024)
    root = {"Authorization": f"Bearer {ROOT}", "X-Request-ID": "same"}
    with TestClient(create_app(guarded), raise_server_exceptions=False) as client:
        app = client.post("/api/v1/applications", json={"name": "a"}, headers=root).json()
        config = client.post(CONFIGS, json={"application_id": app["id"], "name": "db", "config": {}},
                             headers=root).json()
        taken = client.post(CONFIGS, json={"application_id": app["id"], "name": "taken", "config": {}},
                            headers=root).json()
        managed = client.post("/api/v1/keys", headers=root, json={
            "name": "writer", "actions": ["read", "write"], "applications": [app["id"]], "environments": None}).json()
        url = f"{CONFIGS}/{config['id']}"
        version = 1

        def both(headers, body=None, path=url, content=None, lane=True):
            """The PUT to `path`, then to `path/`: both answers, and whether the lane answered the first."""
            nonlocal version
            answers = []
            given = {k: v for k, v in headers.items() if v is not None}  # If-Match: None, none at all
            for target in (path, path + "/"):
                layered.clear()
                etag = {"If-Match": f'"{config["id"]}.{version}"'} if "If-Match" not in headers else {}
                kwargs = {"json": body or {"name": "db", "config": {"n": version, "s": "\u2028"}}} if content is None \
                    else {"content": content() if callable(content) else content}
                answer = client.put(target, headers={**root, **etag, **given}, **kwargs)
                if answer.status_code == 200:
                    version += 1
                answers.append((answer, layered == []))
            (mine, lane_took), (theirs, _) = answers
            assert lane_took == lane, (headers, mine.status_code, mine.text)
            assert mine.status_code == theirs.status_code, (headers, mine.text, theirs.text)
            assert [n for n, _ in mine.headers.items()] == [n for n, _ in theirs.headers.items()]
            varying = ("date", "etag", "content-length")
            assert [(n, v) for n, v in mine.headers.items() if n not in varying] == [
                (n, v) for n, v in theirs.headers.items() if n not in varying]
            assert mine.headers["x-request-id"] == "same"
            mine_body, theirs_body = mine.json(), theirs.json()
            for answer_body in (mine_body, theirs_body):
                for varies in ("version", "updated_at", "config", "instance"):
                    answer_body.pop(varies, None)
            assert mine_body == theirs_body
            return mine.status_code

        assert both({}) == 200
        assert both({"Authorization": f"Bearer {managed['secret']}"}) == 200  # a managed key
        assert both({"If-Match": f'"{config["id"]}.1"'}) == 412
        assert both({}, body={"name": taken["name"], "config": {}}) == 409
        assert both({}, path=f"{CONFIGS}/{'0' * 26}") == 404
        assert both({"Authorization": "Bearer nobody"}) == 401  # refused here, as `Authenticate` refuses it
        assert both({"Authorization": f"Bearer {READER}"}) == 403
        # What the layers act on, and what the route answers: through the layers, as before.
        assert both({"If-Match": None}, lane=False) == 428
        assert both({}, body={"name": "db"}, lane=False) == 422
        assert both({"Origin": ORIGIN}, lane=False) == 200
        assert both({"Host": "no host"}, lane=False) == 400
        assert both({}, path=f"{url}%2Foverrides%2F{'1' * 26}", lane=False) == 404  # an encoded slash
        assert both({}, path=f"{CONFIGS}/%{ord(config['id'][0]):X}{config['id'][1:]}", lane=False) == 200

        def chunks():
            yield b'{"name": "db", "config": {"big": "'
            yield b"x" * 2000 + b'"}}'
        assert both({"Content-Type": "application/json"}, content=b'{"name": "db", "config": {"big": "'
                    + b"x" * 2000 + b'"}}', lane=False) == 413  # declared
        assert both({"Content-Type": "application/json"}, content=chunks, lane=False) == 413  # as it comes
        lines = [(line["request_id"], line["method"], line["status"]) for line in lined()
                 if line["method"] == "PUT"]
        assert lines == [("same", "PUT", status) for status in (
            200, 200, 200, 200, 412, 412, 409, 409, 404, 404, 401, 401, 403, 403, 428, 428, 422, 422,
            200, 200, 400, 400, 404, 404, 200, 200, 413, 413, 413, 413)]


def test_the_lane_answers_an_unexpected_error_with_a_500_and_logs_it_as_the_layers_do(client, config, layered,
                                                                                       lined, monkeypatch, caplog):
    import logging

    from repositories import configurations as repository

    async def failing(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM credentials")
    monkeypatch.setattr(repository, "update_now", failing)
    with caplog.at_level(logging.INFO, logger="config_service"):
        answer = put(TestClient(client.app, raise_server_exceptions=False), config, {"name": "db", "config": {}},
                     **{"X-Request-ID": "crash-1"})
    assert layered == []  # the lane answered it
    assert answer.status_code == 500 and answer.headers["content-type"] == PROBLEM_JSON
    assert "SELECT" not in answer.text and answer.headers["x-request-id"] == "crash-1"
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
    (record,) = [r for r in caplog.records if getattr(r, "request_id", None) == "crash-1" and r.levelname == "ERROR"]
    assert record.getMessage() == "unhandled error" and record.error == "builtins.RuntimeError"
    assert "secret" not in str(vars(record))
    assert [(line["request_id"], line["status"]) for line in lined()] == [("crash-1", 500)]


def test_a_put_cancelled_in_the_lane_is_answered_503_and_logged_as_the_layers_do(settings, lined):
    """A request cancelled (a server's shutdown past its grace) while the lane waits for its body: answered 503,
    its outcome unknown, and its access line says so, as `RequestLog` does for the layers."""
    import asyncio
    import json

    from starlette.datastructures import State

    from routers.writes import WriteLane

    class App:
        state = State()

    lane = WriteLane(None, settings=settings, prefix="/api/v1")
    path = f"{CONFIGS}/{'1' * 26}"
    scope = {"type": "http", "method": "PUT", "path": path, "raw_path": path.encode(), "query_string": b"",
             "http_version": "1.1", "app": App(), "headers": [
                 (b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"x-request-id", b"cut")]}
    sent = []

    async def main():
        waiting = asyncio.Event()

        async def receive():
            waiting.set()
            await asyncio.Event().wait()  # the body never comes

        async def send(message):
            sent.append(message)
        task = asyncio.create_task(lane(scope, receive, send))
        await waiting.wait()
        task.cancel()
        await task  # answered: the task ends as a request does
        await asyncio.sleep(0)  # the access line's flush
    asyncio.run(main())
    start, body = sent
    assert start["status"] == 503 and (b"x-request-id", b"cut") in start["headers"]
    assert "whether it was applied is unknown" in json.loads(body["body"])["detail"]
    assert [(line["request_id"], line["method"], line["status"]) for line in lined()] == [("cut", "PUT", 503)]


def test_a_stalled_body_is_answered_408_and_its_access_line_counts_the_time_it_took(serve):
    """A PUT the lane takes whose body stops coming: at the body's deadline, counted from when the lane took it, the
    layers answer it 408 (served as in production), and its access line's duration counts from then too."""
    import json
    import socket
    import urllib.parse

    from tools.harness import until, whole_lines

    base = serve(LOG_LEVEL="INFO", BODY_TIMEOUT_SECONDS="1")
    address = urllib.parse.urlsplit(base)
    path = f"{CONFIGS}/{'1' * 26}"
    with socket.create_connection((address.hostname, address.port), timeout=60) as conn:
        conn.sendall(f'PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIf-Match: "a.1"\r\n'
                     'X-Request-ID: stalled\r\nContent-Length: 100\r\n\r\n{"name": '.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            received = conn.recv(65536)
            assert received, answer
            answer += received
    assert answer.startswith(b"HTTP/1.1 408 "), answer

    def line():
        return [json.loads(text) for text in whole_lines(serve.services[-1].log())
                if '"message": "request"' in text and '"request_id": "stalled"' in text]
    until(lambda: line(), "the access line written")
    (written,) = line()
    # Counted from the lane's start (the layers, which answer at the deadline at once, would count about 0 ms), on
    # the clock the deadline is kept on (`BodyDeadline`): never under the second.
    assert written["status"] == 408 and written["duration_ms"] >= 1000
