"""Limits on the request body: its size (`MAX_BODY_BYTES`) and the time it may take to arrive
(`BODY_TIMEOUT_SECONDS`). Both are enforced as the app reads the body, so a route needs to know neither."""

import asyncio
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wire import headers, problems, protocol


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


class BodyTimedOut(HTTPException):
    def __init__(self) -> None:
        super().__init__(408, "The request body did not arrive in time.")


def refusal(error: BaseException) -> problems.ProblemError | None:
    """The problem a route answers `error` with when it is a body past its limits (413, 408: as
    `problems._on_http`), for whatever reads the body outside the router (a held request watching for its client's
    going, `live/fastpath.py`); None for any other error."""
    if isinstance(error, BodyTooLarge):
        return problems.ContentTooLarge()
    if isinstance(error, BodyTimedOut):
        return problems.RequestTimeout()
    return None


def content_length(scope: Scope) -> int | None:
    value = headers.first(scope, b"content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


class LimitBodySize:
    """413 (a problem) at once for a declared `Content-Length` over the limit; for a body that grows past it as it
    is read (chunked bodies declare none), `BodyTooLarge` from `receive`, which the app answers as 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await problems.ContentTooLarge().response(scope["path"])(scope, receive, send)
            return
        await self.app(scope, self._counted(receive), send)

    def _counted(self, receive: Receive) -> Receive:
        total = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise BodyTooLarge()
            return message

        return counted


class BodyDeadline:
    """`BodyTimedOut` from `receive` (which the app answers as 408) when the body has not all arrived `seconds`
    after the request began: a slow or stalled client holds no worker longer. After the body, `receive` waits for
    the disconnect, however long."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._timed(receive, scope), send)

    def _timed(self, receive: Receive, scope: Scope) -> Receive:
        complete = False
        # The deadline is on `perf_counter`, the clock the access line counts a request's time with. The loop's
        # timer only wakes the wait: uvloop's clock is read once per turn of the loop, in whole milliseconds, so
        # its timer can fire before the deadline by that clock (by 0.21 ms in a run beside two busy loops), and the
        # wait then goes on for what is left. `receive` gives up nothing when a wait on it is cancelled.
        deadline = time.perf_counter() + self.seconds

        async def timed() -> Message:
            nonlocal complete
            if complete or protocol.body_arrived(scope):  # (a body all there is read without waiting: no timer)
                return await receive()
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise BodyTimedOut()
                # (A millisecond more: uvloop's timers are whole milliseconds, so one that fired early wakes the
                # wait once more, not in a spin, and at most a millisecond late.)
                waited = asyncio.timeout(left + 0.001)
                try:
                    async with waited:
                        message = await receive()
                    break
                except TimeoutError:
                    if not waited.expired():
                        raise  # (receive's own)
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return timed
