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

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from live import scopes
from repositories import configurations, overrides
from routers import configurations as configuration_routes
from routers import overrides as override_routes
from routers.deps import is_json, preconditions_of
from routers.idempotency import HEADER as IDEMPOTENCY_KEY
from wire import headers, jsontext, models, protocol
from wire.bodies import check_body
from wire.problems import ProblemError

ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"


class FastWrites:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.path = re.compile(re.escape(prefix) + rf"/configurations/({ULID})(?:/overrides/({ULID}))?")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "PUT" and not scope["query_string"]:
            match = self.path.fullmatch(scope["path"])
            content_type = headers.first(scope, b"content-type")
            if headers.first(scope, IDEMPOTENCY_KEY) is not None or not is_json(
                    None if content_type is None else content_type.decode("latin-1")) \
                    or headers.first(scope, b"content-encoding") is not None:  # the route says what it takes
                match = None
        if match is None:
            await self.app(scope, receive, send)
            return
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
        answer = None
        if failure is None and messages[-1]["type"] == "http.request":
            body = b"".join(message.get("body", b"") for message in messages)
            id, environment_id = match.group(1), match.group(2)
            answer = await (self._configuration(scope, id, body) if environment_id is None
                            else self._override(scope, id, environment_id, body))
        if answer is not None and _whole(scope, answer):
            return
        replayed = _replay(messages, failure, receive)
        await (self.app if answer is None else answer)(scope, replayed, send)

    async def _configuration(self, scope: Scope, id: str, body: bytes) -> Response | None:
        state = scope["app"].state
        try:
            data = check_body(models.ConfigurationUpdate.model_validate(jsontext.loads(body)), state.settings)
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
            data = check_body(models.OverrideWrite.model_validate(jsontext.loads(body)), state.settings)
            when = preconditions_of(scope, state.settings, f"{id}.{environment_id}")
            await scopes.in_environments(state, scope, id, environment_id, write=True)
        except Exception:
            return None
        return await _written(scope, override_routes._reply, overrides.put_now, state.database, id, environment_id,
                              **data, when=when)


async def _written(scope: Scope, reply: Callable[[Any], Response], write: Callable[..., Awaitable[Any]], *args: Any,
                   **kwargs: Any) -> Response:
    """The answer to `write(*args, **kwargs)` made with the request's key: `reply(row)`, or the problem it raised."""
    state = scope.get("state", {})
    principal = state.get("principal")
    try:
        row = await write(*args, actor=state.get("api_key"), key_id=principal.id if principal is not None else None,
                          **kwargs)
    except ProblemError as error:
        return error.response(scope["path"])
    return reply(row)


def _whole(scope: Scope, answer: Response) -> bool:
    """Write `answer` whole, below the layers (`protocol.write_whole`), as the fast path writes a GET's: one call
    instead of two messages through each layer above and uvicorn's `send`. Not for a request with an `Origin` (CORS
    adds headers to its answer), nor where `write_whole` declines (a key not confirmed yet, say): sent as before."""
    if headers.first(scope, b"origin") is not None:
        return False
    lines = protocol.header_lines(answer.raw_headers)
    return lines is not None and protocol.write_whole(scope, answer.status_code, lines, answer.body)


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
