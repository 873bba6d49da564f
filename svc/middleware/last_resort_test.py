import asyncio
import json

import pytest

from middleware.last_resort import LastResort


def _call(app):
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    with pytest.raises(RuntimeError):
        asyncio.run(LastResort(app)(scope, receive, send))
    return sent


def test_an_error_before_any_answer_is_a_bare_500_problem_and_goes_on_to_be_logged():
    async def crash(scope, receive, send):
        raise RuntimeError("SELECT secret FROM credentials")

    start, body = _call(crash)
    assert start["status"] == 500 and (b"content-type", b"application/problem+json") in start["headers"]
    assert json.loads(body["body"])["title"] == "Internal Server Error" and b"secret" not in body["body"]


def test_an_error_after_the_answer_began_adds_nothing_to_it():
    async def crash_midway(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("late")

    assert [m.get("status") for m in _call(crash_midway)] == [200]
