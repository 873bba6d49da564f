import asyncio

import pytest

from middleware.host import RequireHost, host_fault


def _scope(version: str, *hosts: bytes) -> dict:
    return {"type": "http", "http_version": version, "headers": [(b"host", h) for h in hosts]}


@pytest.mark.parametrize(("version", "hosts"), [
    ("1.1", [b"example.com"]), ("1.1", [b"127.0.0.1:8000"]), ("1.1", [b"[::1]"]), ("1.1", [b"[2001:db8::7]:443"]),
    ("1.1", [b"[v1.fe80::a+en1]"]), ("1.1", [b""]), ("1.1", [b"a%20b:"]), ("1.0", []), ("2", []),
])
def test_a_host_the_rfc_allows_passes(version, hosts):
    assert host_fault(_scope(version, *hosts)) is None


@pytest.mark.parametrize(("version", "hosts", "fault"), [
    ("1.1", [], "needs a Host"), ("1.1", [b"a", b"a"], "only one"), ("1.0", [b"a", b"b"], "only one"),
    ("1.1", [b"a b"], "not a valid"), ("1.1", [b"a:b"], "not a valid"), ("1.1", [b"[::1"], "not a valid"),
    ("1.1", [b"[::g]"], "not a valid"), ("1.1", [b"a/b"], "not a valid"), ("1.1", [b"u@a"], "not a valid"),
    ("1.1", [b"a%2"], "not a valid"), ("1.1", ["é".encode()], "not a valid"),
])
def test_a_missing_repeated_or_invalid_host_is_a_fault(version, hosts, fault):
    assert fault in host_fault(_scope(version, *hosts))


def test_require_host_answers_400_as_a_problem_and_passes_the_rest():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    guard = RequireHost(app)
    asyncio.run(guard({**_scope("1.1"), "method": "GET", "path": "/health", "query_string": b""}, receive, send))
    asyncio.run(guard({**_scope("1.1", b"ok"), "method": "GET", "path": "/health", "query_string": b""}, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400, 204]
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]


@pytest.mark.parametrize(("lines", "fault"), [
    ([(b"authorization", b"Bearer good"), (b"authorization", b"Bearer other")], "only one Authorization header"),
    ([(b"content-type", b"text/plain"), (b"x", b"y"), (b"content-type", b"application/json")],
     "only one Content-Type header"),
])
def test_two_lines_of_a_header_that_holds_one_value_are_a_fault(lines, fault):
    """The service reads such a header's first line; a proxy in front may read its last: the request is refused
    rather than read two ways."""
    scope = _scope("1.1", b"example.com")
    scope["headers"] += lines
    assert host_fault(scope) == f"A request may have {fault}."
    assert host_fault({**scope, "headers": scope["headers"][:-1]}) is None
