"""The request's log lines: one access line for every request, and an error line for an unexpected error, which
ends here (a server that caught it would log its message, which can quote the request's content)."""

import asyncio
import logging
import os
import time
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logs import access
from wire import problems, protocol

log = logging.getLogger("config_service")
# The request's state: when a lane above the layers took it first, if it then went down them
# (`routers/writes.WriteLane`).
ARRIVED = "arrived"


def where(error: BaseException) -> dict[str, object]:
    """What a log line may say of an unexpected error: its type and the code it passed through, never its message
    (a driver's message can quote the request's content, which may hold secrets)."""
    frames = traceback.extract_tb(error.__traceback__)
    chain = []
    cause: BaseException | None = error
    while cause is not None and len(chain) < 5:
        chain.append(f"{type(cause).__module__}.{type(cause).__qualname__}")
        cause = cause.__cause__ or cause.__context__
    return {"error": chain[0], "caused_by": chain[1:],
            "where": [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in frames[-8:]]}


def stopped(scope: Scope, status: int | None, method: str, rid: str) -> bool:
    """Whether a request cancelled by the graceful shutdown may still be answered (nothing of an answer sent): it is
    logged, as a warning, either way."""
    answerable = status is None and "status" not in scope["state"]
    log.warning("request cancelled: the shutdown's SHUTDOWN_GRACE_SECONDS ran out%s",
                ", answered 503" if answerable else " while it was answered",
                extra={"request_id": rid, "method": method, "path": scope["path"]})
    return answerable


class RequestLog:
    """Logs the request as the client sent it (a HEAD as HEAD), with the id `RequestId` gave it, so it sits inside
    `RequestId` and outside everything that rewrites or answers the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = scope["state"].get(ARRIVED) or time.perf_counter()  # when it arrived
        rid = scope["state"]["request_id"]
        method = scope["method"]
        status = None
        outer = len(protocol.answer_headers(scope))  # (the headers of the layers above, recorded so far)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except asyncio.CancelledError:
            # The graceful shutdown's time ran out: the server cancels what still runs. A 503 problem (uvicorn's
            # would be a plain-text 500, with a traceback in the log) once nothing of an answer was sent; the
            # request's task ends here either way.
            if not stopped(scope, status, method, rid):
                raise
            # With the headers the layers below add to every answer (`SecurityHeaders`: `nosniff`, the API's
            # `Cache-Control`), which this one, sent from above them, would not have otherwise.
            recorded = protocol.answer_headers(scope)
            below = recorded[:len(recorded) - outer]

            async def send_as_below(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *below]
                await send_noting_status(message)
            await problems.stopped(method).response(scope["path"])(scope, receive, send_as_below)
        except Exception as error:
            log.error("unhandled error", extra={"request_id": rid, "method": method, "path": scope["path"],
                                                **where(error)})
        finally:
            if access.enabled():
                if status is None:  # nothing passed here: written below the layers (`protocol.write_whole`), or not
                    status = scope["state"].get("status", 500)
                access.write(rid, method, scope["path"], status, round((time.perf_counter() - started) * 1000, 2),
                             scope["state"].get("principal"), scope.get("client"))
