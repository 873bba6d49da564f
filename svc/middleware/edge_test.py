import asyncio
import json
import logging

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from middleware import edge
import logs
from wire import problems


@pytest.fixture
def client():
    app = FastAPI()
    problems.install(app)

    @app.post("/api/v1/echo")
    async def echo(request: Request):
        return {"size": len(await request.body()), "request_id": request.state.request_id}

    @app.get("/api/v1/crash")
    async def crash():
        raise RuntimeError("SELECT secret FROM credentials")

    return TestClient(edge.Edge(app, max_body_bytes=1024, prefix="/api/"), raise_server_exceptions=False)


def test_request_id_is_kept_when_sane_else_made(client):
    assert client.post("/api/v1/echo", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.post("/api/v1/echo", headers={"X-Request-ID": "bad id \x7f" + "x" * 200})
    assert made.headers["x-request-id"] != "abc-123" and len(made.headers["x-request-id"]) == 16
    assert made.json()["request_id"] == made.headers["x-request-id"]


def test_security_and_cache_headers(client):
    response = client.post("/api/v1/echo")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_body_over_the_limit_is_413_with_or_without_content_length(client):
    assert client.post("/api/v1/echo", content=b"x" * 1024).json()["size"] == 1024
    declared = client.post("/api/v1/echo", content=b"x" * 1025)
    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
    chunked = client.post("/api/v1/echo", content=iter([b"x" * 600, b"x" * 600]))
    assert chunked.status_code == 413


def test_unexpected_error_is_a_bare_500_problem_with_the_request_id_logged(client, caplog):
    with caplog.at_level(logging.ERROR, logger="config_service"):
        response = client.get("/api/v1/crash", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "trace-me"
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert json.loads(response.text)["title"] == "Internal Server Error"
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-me"]
    assert logged
    # The log says what failed and where, never the error's message (which may quote the request's content).
    (record,) = logged
    line = logs.JsonFormatter().format(record)
    assert "secret" not in line and record.exc_info is None
    assert json.loads(line)["error"] == "builtins.RuntimeError"
    assert any("in crash" in frame for frame in json.loads(line)["where"])


def test_head_is_get_without_the_body(client):
    get, head = client.get("/api/v1/crash"), client.head("/api/v1/crash")
    assert (head.status_code, head.content, head.headers["content-length"]) == (500, b"", get.headers["content-length"])
    assert client.head("/api/v1/echo").status_code == 405


def test_one_access_line_per_request(client, monkeypatch):
    import io

    import logs

    stream = io.StringIO()
    monkeypatch.setattr(logs.access, "handler", logging.StreamHandler(stream))
    client.post("/api/v1/echo", headers={"X-Request-ID": "line-1"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert (line["request_id"], line["method"], line["path"], line["status"]) == ("line-1", "POST", "/api/v1/echo", 200)
    assert line["duration_ms"] >= 0 and line["logger"] == "config_service.access"


def _scope(version: str, *hosts: bytes) -> dict:
    return {"type": "http", "http_version": version, "headers": [(b"host", h) for h in hosts]}


@pytest.mark.parametrize(("version", "hosts"), [
    ("1.1", [b"example.com"]), ("1.1", [b"127.0.0.1:8000"]), ("1.1", [b"[::1]"]), ("1.1", [b"[2001:db8::7]:443"]),
    ("1.1", [b"[v1.fe80::a+en1]"]), ("1.1", [b""]), ("1.1", [b"a%20b:"]), ("1.0", []), ("2", []),
])
def test_a_host_the_rfc_allows_passes(version, hosts):
    assert edge.host_fault(_scope(version, *hosts)) is None


@pytest.mark.parametrize(("version", "hosts", "fault"), [
    ("1.1", [], "needs a Host"), ("1.1", [b"a", b"a"], "only one"), ("1.0", [b"a", b"b"], "only one"),
    ("1.1", [b"a b"], "not a valid"), ("1.1", [b"a:b"], "not a valid"), ("1.1", [b"[::1"], "not a valid"),
    ("1.1", [b"[::g]"], "not a valid"), ("1.1", [b"a/b"], "not a valid"), ("1.1", [b"u@a"], "not a valid"),
    ("1.1", [b"a%2"], "not a valid"), ("1.1", ["é".encode()], "not a valid"),
])
def test_a_missing_repeated_or_invalid_host_is_a_fault(version, hosts, fault):
    assert fault in edge.host_fault(_scope(version, *hosts))


def test_require_host_answers_400_as_a_problem_and_passes_the_rest():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    guard = edge.RequireHost(app)
    asyncio.run(guard({**_scope("1.1"), "method": "GET", "path": "/health", "query_string": b""}, receive, send))
    asyncio.run(guard({**_scope("1.1", b"ok"), "method": "GET", "path": "/health", "query_string": b""}, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400, 204]
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
