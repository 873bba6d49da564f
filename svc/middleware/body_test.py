import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from middleware.body import BodyDeadline, BodyTimedOut, LimitBodySize, content_length
from wire import problems


def test_a_body_over_the_limit_is_413_with_or_without_content_length():
    app = FastAPI()
    problems.install(app)

    @app.post("/echo")
    async def echo(request: Request):
        return {"size": len(await request.body())}

    client = TestClient(LimitBodySize(app, max_bytes=1024))
    assert client.post("/echo", content=b"x" * 1024).json()["size"] == 1024
    declared = client.post("/echo", content=b"x" * 1025)
    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
    chunked = client.post("/echo", content=iter([b"x" * 600, b"x" * 600]))
    assert chunked.status_code == 413 and chunked.headers["content-type"] == "application/problem+json"


def test_content_length_is_read_when_it_is_a_number():
    assert content_length({"headers": [(b"content-length", b"12")]}) == 12
    assert content_length({"headers": [(b"content-length", b"12, 12")]}) is None  # left to the body count
    assert content_length({"headers": []}) is None


def _run(middleware, messages):
    """What the app behind `middleware` gets from `receive` when the client sends `messages` and then nothing."""
    got = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # a stalled client

    async def app(scope, receive, send):
        while True:
            got.append(await receive())

    async def main():
        await middleware(app)({"type": "http"}, receive, None)

    return got, main


def test_a_body_not_all_there_by_the_deadline_times_out():
    got, main = _run(lambda app: BodyDeadline(app, seconds=0.05),
                     [{"type": "http.request", "body": b"{", "more_body": True}])
    with pytest.raises(BodyTimedOut):
        asyncio.run(main())
    assert got == [{"type": "http.request", "body": b"{", "more_body": True}]


def test_the_deadline_is_kept_on_perf_counter_whatever_the_loops_clock_says():
    """The access line counts a request's time with `perf_counter`: a 408 comes no sooner than the deadline by that
    clock, even where the loop's timer fires early (uvloop's clock moves in whole milliseconds, once a turn)."""
    import time

    class Early(asyncio.SelectorEventLoop):
        def call_at(self, when, callback, *args, context=None):  # every timer fires 30 ms early
            return super().call_at(when - 0.03, callback, *args, context=context)

    loop = Early()
    got, main = _run(lambda app: BodyDeadline(app, seconds=0.05), [])
    try:
        started = time.perf_counter()
        with pytest.raises(BodyTimedOut):
            loop.run_until_complete(main())
        assert time.perf_counter() - started >= 0.05
    finally:
        loop.close()


def test_a_message_that_comes_after_the_timer_woke_early_reaches_the_app():
    """The wait goes on after a timer that fired before the deadline, and what comes then is the app's."""
    class Early(asyncio.SelectorEventLoop):
        def call_at(self, when, callback, *args, context=None):  # every timer fires 0.6 s early
            return super().call_at(when - 0.6, callback, *args, context=context)

    calls = []
    got = []

    async def receive():
        calls.append(1)
        if len(calls) == 1:
            await asyncio.Event().wait()  # until the early timer cancels this wait
        return {"type": "http.request", "body": b"{}"}

    async def app(scope, receive, send):
        got.append(await receive())

    loop = Early()
    try:
        loop.run_until_complete(BodyDeadline(app, seconds=1.0)({"type": "http"}, receive, None))
    finally:
        loop.close()
    assert len(calls) == 2 and got == [{"type": "http.request", "body": b"{}"}]


def test_receive_s_own_timeout_is_not_taken_for_the_deadline():
    async def receive():
        raise TimeoutError("the server's own")

    async def app(scope, receive, send):
        await receive()

    with pytest.raises(TimeoutError, match="the server's own"):
        asyncio.run(BodyDeadline(app, seconds=5)({"type": "http"}, receive, None))


def test_after_the_body_receive_waits_past_the_deadline():
    async def main():
        waited = asyncio.Event()

        async def receive():
            if not waited.is_set():
                waited.set()
                return {"type": "http.request", "body": b"{}"}
            await asyncio.sleep(0.1)  # the disconnect, later than the deadline
            return {"type": "http.disconnect"}

        async def app(scope, receive, send):
            assert (await receive())["body"] == b"{}"
            assert (await receive())["type"] == "http.disconnect"

        await BodyDeadline(app, seconds=0.05)({"type": "http"}, receive, None)

    asyncio.run(main())
