"""Every request gets an id: the client's `X-Request-ID` when it is sane, else a new one. It is in the scope's
state for the log lines (`request.state.request_id`) and on every answer as `X-Request-ID`."""

import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wire import headers, protocol

SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def request_id(scope: Scope) -> str:
    """The client's `X-Request-ID` when it is sane (1-128 of [A-Za-z0-9._:-]), else a new one."""
    given = headers.first(scope, b"x-request-id")
    if given is not None and SANE.fullmatch(given):
        return given.decode("ascii")
    # 16 random hex digits: unique enough to find one request's lines, and cheap on every request. Not os.urandom:
    # its system call lets go of the GIL, and the event loop then waits to take it back from the executor's threads
    # (under database load, 40% of the loop's time went there). The generator is seeded from the system's entropy
    # in each worker process; an id names a request, it guards nothing.
    return f"{random.getrandbits(64):016x}"


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        line = (b"x-request-id", rid.encode())
        protocol.record_headers(scope, (line,))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), line]
            await send(message)

        await self.app(scope, receive, send_with_id)
