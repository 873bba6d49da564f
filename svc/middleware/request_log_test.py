import asyncio
import io
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import logs
from middleware.request_id import RequestId
from middleware.request_log import RequestLog
from middleware.security_headers import SecurityHeaders
from wire import problems


@pytest.fixture
def access_lines(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(logs.access, "handler", logging.StreamHandler(stream))
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_access_line_per_request(access_lines):
    app = FastAPI()

    @app.post("/api/v1/echo")
    async def echo():
        return {}

    TestClient(RequestId(RequestLog(app))).post("/api/v1/echo", headers={"X-Request-ID": "line-1"})
    (line,) = access_lines()
    assert (line["request_id"], line["method"], line["path"], line["status"]) == ("line-1", "POST", "/api/v1/echo", 200)
    assert line["duration_ms"] >= 0 and line["logger"] == "config_service.access"


def test_an_unexpected_error_is_logged_by_type_and_place_never_its_message_and_stops_here(access_lines, caplog):
    app = FastAPI()
    problems.install(app)  # Starlette's outermost middleware answers the 500, then lets the error go on

    @app.get("/crash")
    async def crash():
        raise RuntimeError("SELECT secret FROM credentials")

    with caplog.at_level(logging.INFO, logger="config_service"):
        # The test client would raise an error that reached it, as a server would log it, message and all.
        response = TestClient(RequestId(RequestLog(app))).get("/crash", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500 and "SELECT" not in response.text
    (record,) = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-me"]
    line = logs.JsonFormatter().format(record)
    assert "secret" not in line and record.exc_info is None
    assert json.loads(line)["error"] == "builtins.RuntimeError"
    assert any("in crash" in frame for frame in json.loads(line)["where"])
    assert [(a["request_id"], a["status"]) for a in access_lines()] == [("trace-me", 500)]


def test_an_answer_written_below_the_layers_is_logged_with_its_status(access_lines):
    """`protocol.write_whole` writes an answer no layer sees: it records its status for the access line."""
    async def written_whole(scope, receive, send):
        scope["state"]["status"] = 200

    async def go():
        sent = []

        async def send(message):
            sent.append(message)
        scope = {"type": "http", "method": "GET", "path": "/api/v1/x", "headers": [], "state": {"request_id": "w-1"}}
        await RequestLog(written_whole)(scope, None, send)
        return sent
    assert asyncio.run(go()) == []
    assert [(a["request_id"], a["status"]) for a in access_lines()] == [("w-1", 200)]


@pytest.mark.parametrize(("method", "detail"), [
    ("GET", "The service stopped before it answered; try again."),
    ("PUT", "The service stopped before it answered: if it was a change, whether it was applied is unknown. Read "
            "the resource before you try the change again."),
])
def test_a_request_the_shutdown_cancels_before_it_answers_gets_a_503_problem(access_lines, caplog, method, detail):
    """When the graceful shutdown's time runs out the server cancels what still runs: a request that sent nothing
    yet is answered a 503 problem (not the server's plain-text 500), saying a change's outcome is unknown, and its
    task ends as answered (no traceback in the log); one that had started its answer is left to the server."""
    async def scenario(answered_first: bool) -> tuple[list, BaseException | None]:
        sent = []
        reached = asyncio.Event()

        async def slow(scope, receive, send):
            if answered_first:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            reached.set()
            await asyncio.sleep(30)

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": method, "path": "/api/v1/configurations/X", "raw_path": b"", "headers": [],
                 "query_string": b"", "state": {}}
        task = asyncio.create_task(RequestId(RequestLog(SecurityHeaders(slow, prefix="/api/v1")))(scope, receive,
                                                                                              send))
        await reached.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as error:
            return sent, error
        return sent, None

    with caplog.at_level(logging.INFO, logger="config_service"):
        sent, raised = asyncio.run(scenario(False))
    assert raised is None
    start, body = sent
    assert start["status"] == 503 and (b"content-type", b"application/problem+json") in start["headers"]
    # The headers every answer of the API gets, this one too though it is sent from above the layer that adds them.
    assert (b"x-content-type-options", b"nosniff") in start["headers"] and (
        b"cache-control", b"no-cache" if method == "GET" else b"no-store") in start["headers"]
    assert [name for name, _ in start["headers"]].count(b"x-request-id") == 1
    assert json.loads(body["body"])["detail"] == detail
    logs.access.flush()
    assert access_lines()[-1]["status"] == 503
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "request cancelled: the shutdown's SHUTDOWN_GRACE_SECONDS ran out, answered 503"]
    sent, raised = asyncio.run(scenario(True))
    assert isinstance(raised, asyncio.CancelledError) and [m["status"] for m in sent] == [200]


def test_access_lines_name_the_client_and_behind_a_trusted_proxy_the_one_it_forwards(serve):
    """Served as in production: each access line names its client's address, a request's through the layers, a
    PUT's through the write lane and a read's answered by the fast path alike. Sent through a proxy
    `FORWARDED_ALLOW_IPS` trusts (by default the host itself), the one its `X-Forwarded-For` names last; sent by a
    peer it does not trust, the peer's, whatever the header says."""
    import http.client
    import os
    import urllib.parse

    from tools.harness import until, whole_lines

    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "Content-Type": "application/json"}
    for trusted, client in (("127.0.0.1,::1", "203.0.113.7"), ("10.0.0.0/8", "127.0.0.1")):
        base = serve(LOG_LEVEL="INFO", FORWARDED_ALLOW_IPS=trusted)
        service = serve.services[-1]
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port,
                                          timeout=60)

        def call(method, path, body=None):
            conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=forwarded)
            answer = conn.getresponse()
            assert answer.status in (200, 201), answer.read()
            return json.loads(answer.read())

        app = call("POST", "/api/v1/applications", {"name": f"client-{os.urandom(4).hex()}"})
        config = call("POST", "/api/v1/configurations", {"application_id": app["id"], "name": "db", "config": {}})
        call("PUT", f"/api/v1/configurations/{config['id']}", {"name": "db", "config": {"n": 1}})
        call("GET", f"/api/v1/configurations/{config['id']}")
        conn.close()

        def lines():
            return [found for line in whole_lines(service.log()) if '"message": "request"' in line
                    and (found := json.loads(line))["path"].startswith("/api/")]  # (not the harness's probes)
        until(lambda: len(lines()) >= 4, "the access lines written")
        assert [(line["method"], line["client"]) for line in lines()] == [
            ("POST", client), ("POST", client), ("PUT", client), ("GET", client)]
