"""The writes every client makes most, answered below the router: `PUT /api/v1/configurations/{id}` and
`PUT /api/v1/configurations/{id}/overrides/{environment_id}`, without a query and without an Idempotency-Key.

Each is its route's write, step for step: the body parsed by the exact-number parser and validated against the
contract's model (`ConfigurationUpdate`, `OverrideWrite`), checked as storable (`check_body`), the preconditions
read (`deps.preconditions_of`), the key's rights checked (`scopes.py`), the statement run on the event loop
(`configurations.update_now`, `overrides.put_now`) and the answer rendered by the route's own `_reply`. What it leaves
out is the framework's work around a route: matching every route's pattern, a Request, solving the handler's
signature (nine dependencies), the exception middleware. That was a fifth of a PUT's time in the service.

Anything else goes on to the router, with the body it sent: another path, a query string, an Idempotency-Key, a
body that is not JSON, and every refusal before the write (a body the contract refuses, a missing If-Match where one
is required, a key without the right): the route answers it, as a problem, exactly as before. Nothing is written
before that point, so the route may run it all again. Once the statement is sent, its outcome is answered here: the
row, or the problem the write raised (409, 404, 412, 503), as the route answers it.
"""

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from live import scopes
from logs import access
from middleware.auth import Authenticate
from middleware.body import BodyDeadline, LimitBodySize, content_length
from middleware.host import host_fault
from middleware.request_id import request_id
from middleware.request_log import ARRIVED, stopped, where
from middleware.security_headers import headers_of
from repositories import configurations, overrides
from routers import configurations as configuration_routes
from routers import overrides as override_routes
from routers.deps import is_json, preconditions_of
from routers.idempotency import HEADER as IDEMPOTENCY_KEY
from settings import Settings
from wire import headers, jsontext, models, problems, protocol
from wire.bodies import check_body, checked, plain_update
from wire.problems import ProblemError

ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
log = logging.getLogger("config_service")


class FastWrites:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.path = re.compile(re.escape(prefix) + rf"/configurations/({ULID})(?:/overrides/({ULID}))?")

    def match(self, scope: Scope) -> re.Match[str] | None:
        """The path's ids, for a PUT this answers; None for any other request."""
        if scope["type"] != "http" or scope["method"] != "PUT" or scope["query_string"]:
            return None
        content_type = headers.first(scope, b"content-type")
        if headers.first(scope, IDEMPOTENCY_KEY) is not None or not is_json(
                None if content_type is None else content_type.decode("latin-1")) \
                or headers.first(scope, b"content-encoding") is not None:  # the route says what it takes
            return None
        return self.path.fullmatch(scope["path"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self.match(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        messages, failure, answer = await self.answer(scope, match, receive)
        if answer is not None and _whole(scope, answer):
            return
        replayed = _replay(messages, failure, receive)
        await (self.app if answer is None else answer)(scope, replayed, send)

    async def answer(self, scope: Scope, match: re.Match[str],
                     receive: Receive) -> tuple[list[Message], Exception | None, Response | None]:
        """Read the body, then write it: the messages read, what failed reading them, and the answer (None: the
        route answers it, with the messages replayed to it)."""
        messages: list[Message] = []
        failure: Exception | None = None
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except Exception as error:  # too large, too slow: the route answers it, as it does
            failure = error
        if failure is not None or messages[-1]["type"] != "http.request":
            return messages, failure, None
        body = b"".join(message.get("body", b"") for message in messages)
        id, environment_id = match.group(1), match.group(2)
        return messages, None, await (self._configuration(scope, id, body) if environment_id is None
                                      else self._override(scope, id, environment_id, body))

    async def _configuration(self, scope: Scope, id: str, body: bytes) -> Response | None:
        state = scope["app"].state
        try:
            data = _data(body, models.ConfigurationUpdate, state.settings)
            when = preconditions_of(scope, state.settings, id)
            await scopes.configuration(state, scope, id, write=True)
        except Exception:
            return None  # refused: the route answers why
        return await _written(scope, configuration_routes._reply, configurations.update_now, state.database, id,
                              **data, when=when)

    async def _override(self, scope: Scope, id: str, environment_id: str,
                        body: bytes) -> Response | None:
        state = scope["app"].state
        try:
            data = _data(body, models.OverrideWrite, state.settings)
            when = preconditions_of(scope, state.settings, f"{id}.{environment_id}")
            await scopes.in_environments(state, scope, id, environment_id, write=True)
        except Exception:
            return None
        return await _written(scope, override_routes._reply, overrides.put_now, state.database, id, environment_id,
                              **data, when=when)


def _data(body: bytes, model: type[BaseModel], settings: Settings) -> dict[str, Any]:
    """The body's data as the route's `check_body(model)` gives it: without the model for the plain bodies nearly
    every client sends (`plain_update`)."""
    document = jsontext.loads(body)
    plain = plain_update(document, model)
    return checked(plain, settings) if plain is not None else check_body(model.model_validate(document), settings)


async def _written(scope: Scope, reply: Callable[[Any], Response], write: Callable[..., Awaitable[Any]], *args: Any,
                   **kwargs: Any) -> Response:
    """The answer to `write(*args, **kwargs)` made with the request's key: `reply(row)`, or the problem it raised."""
    state = scope.get("state", {})
    principal = state.get("principal")
    try:
        row = await write(*args, actor=state.get("api_key"), key_id=principal.id if principal is not None else None,
                          **kwargs)
    except ProblemError as error:
        problems.forget(error)  # (its traceback holds frames that hold it: `problems.forget`)
        return error.response(scope["path"])
    return reply(row)


def _whole(scope: Scope, answer: Response, added: bytes | None = None) -> bool:
    """Write `answer` whole, below the layers (`protocol.write_whole`), as the fast path writes a GET's: one call
    instead of two messages through each layer above and uvicorn's `send`. Not for a request with an `Origin` (CORS
    adds headers to its answer), nor where `write_whole` declines (a key not confirmed yet, say): sent as before.
    `added`: the lines of the headers the layers add, when rendered already (`write_whole`'s)."""
    if headers.first(scope, b"origin") is not None:
        return False
    lines = protocol.header_lines(answer.raw_headers)
    return lines is not None and protocol.write_whole(scope, answer.status_code, lines, answer.body, added)


def _replay(messages: list[Message], failure: Exception | None, receive: Receive) -> Receive:
    """`receive` as the route would have had it: the messages already read, then the error reading raised, then the
    connection's own."""
    pending = list(messages)

    async def replayed() -> Message:
        nonlocal failure
        if pending:
            return pending.pop(0)
        if failure is not None:
            error, failure = failure, None
            raise error
        return await receive()
    return replayed


class WriteLane:
    """The PUTs `FastWrites` answers, taken before the layers (`app.middleware`) when none of them would do more
    than pass the request on and note what it notes: for such a PUT the fourteen calls down to `FastWrites`, with
    their wrappers of `receive` and `send`, cost 22 µs in-process, and under load their closures and coroutines were
    most of the objects the cyclic garbage collector walked, 75 times a second (svc/README.md, Where a PUT's time
    goes). The lane does what they do for it, with their own code:
    the request id (`RequestId`), the key (`Authenticate.admit`), the body's limits of size and time
    (`LimitBodySize`, `BodyDeadline`), the headers every answer gets (`SecurityHeaders`, `RequestId`), a 500 for an
    error and its log line (`LastResort`, `RequestLog`), and the access line.

    A key refused (401, 403, 503) is answered here, as `Authenticate` answers it. A PUT goes through the layers
    instead, untouched, when any of them would act on it: an `Origin` (CORS), a Host that breaks RFC 9112, a percent
    sign in its path (an encoded slash is refused), a declared body over the limit. So does one `FastWrites` would
    send on to the route (a body the contract refuses, too large or too slow, a precondition missing), with the body
    read replayed: nothing is written before that point, and nothing of the lane is left in the request's state but
    when it arrived (`ARRIVED`, for its access line's duration); the layers run it as if the lane were not there."""

    def __init__(self, app: ASGIApp, *, settings: Settings, prefix: str) -> None:
        self.app = app
        self.writes = FastWrites(app, prefix=prefix)
        self.keys = Authenticate(app, keys=settings.keys, prefix=prefix)
        self.size = LimitBodySize(app, max_bytes=settings.max_body_bytes)
        self.time = BodyDeadline(app, seconds=settings.body_timeout_seconds)
        self.headers = headers_of(prefix + "/configurations", "PUT", prefix)
        # As `app.Cors` says on every answer, below `SecurityHeaders`.
        self.vary = ((b"vary", b"Origin"),) if settings.origins and "*" not in settings.origins else ()
        # The lines of the headers it records for every answer (`__call__`), but for the request id, which follows
        # them: rendered once, not at every answer (`protocol.write_whole`'s `added`).
        self.lines = protocol.header_lines([*self.vary, *self.headers])

    def taken(self, scope: Scope) -> re.Match[str] | None:
        """The path's ids, for a PUT the lane takes."""
        match = self.writes.match(scope)
        if match is None or b"%" in (scope.get("raw_path") or b"%") or headers.first(scope, b"origin") is not None \
                or host_fault(scope) is not None:
            return None
        declared = content_length(scope)
        return match if declared is None or declared <= self.size.max_bytes else None

    def _added(self, before: dict[str, Any], rid: str) -> bytes | None:
        """The lines of the headers `__call__` records for every answer, its request id's last; None (rendered
        from the request's state) when a layer above recorded some too."""
        if self.lines is None or before.get("answer_headers"):
            return None
        return b"%sx-request-id: %s\r\n" % (self.lines, rid.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self.taken(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # The body's limits, as the layers' (its deadline runs from here).
        limited = self.time._timed(self.size._counted(receive), scope)
        state = scope.setdefault("state", {})
        before = dict(state)
        rid = request_id(scope)
        state["request_id"] = rid
        state["answer_headers"] = list(before.get("answer_headers", ()))  # (a copy: `before` is restored as it was)
        protocol.record_headers(scope, ((b"x-request-id", rid.encode()),))  # as `RequestId`, then `SecurityHeaders`
        protocol.record_headers(scope, self.headers)
        if self.vary:
            protocol.record_headers(scope, self.vary)
        status: int | None = None

        async def send_answer(message: Message) -> None:
            """The layers' `send`: their headers added (as `protocol.answer_headers` has them), the status noted."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *protocol.answer_headers(scope)]
            await send(message)

        layered: Receive | None = None  # what the layers receive, when they answer it
        try:
            refusal = await self.keys.admit(scope)
            if refusal is not None:  # as `Authenticate` answers it
                await refusal.response(scope["path"])(scope, limited, send_answer)
            else:
                messages, failure, answer = await self.writes.answer(scope, match, limited)
                if answer is None:
                    layered = _replay(messages, failure, receive)
                elif not _whole(scope, answer, self._added(before, rid)):
                    await answer(scope, _replay(messages, None, receive), send_answer)
        except asyncio.CancelledError:  # the shutdown's grace ran out (as `RequestLog` answers it)
            if not stopped(scope, status, "PUT", rid):
                raise
            await problems.stopped("PUT").response(scope["path"])(scope, receive, send_answer)
        except Exception as error:
            if status is None and "status" not in state:  # nothing of an answer sent: a 500 (`LastResort`)
                await problems.InternalError().response(scope["path"])(scope, receive, send_answer)
            log.error("unhandled error", extra={"request_id": rid, "method": "PUT", "path": scope["path"],
                                                **where(error)})
        finally:
            if layered is None and access.enabled():  # (cancelled too: as `RequestLog`, a 500 if nothing was sent)
                access.write(rid, "PUT", scope["path"], status or state.get("status", 500),
                             round((time.perf_counter() - started) * 1000, 2), state.get("principal"),
                             scope.get("client"))
        if layered is not None:
            state.clear()
            state.update(before)
            state[ARRIVED] = started  # (the access line's duration counts the time the lane had it)
            await self.app(scope, layered, send)
