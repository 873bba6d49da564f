"""The reads every client polls, answered below the router: `GET /api/v1/configurations/{id}` without a query, and
`GET /api/v1/configurations/{id}/effective?environment_id=<id>` with exactly that query.

Each is the same read as its route's (`reads.configuration`, `reads.effective_configuration`: the worker's read
cache, after a sync round), sent as the same ASGI messages, but without what the framework does around a route:
matching every route's pattern, building a Request, validating the parameters through pydantic, solving the
handler's signature, the exception middleware. Anything else goes on to the app: other paths, any other query
string (`wait` holds a request, which the route does), and every error (the route answers it again, as a problem).
It sits under the middleware that authenticates, and checks the request's key as the route does (`scopes.py`):
what the key may not see goes on to the route, which answers it as something that does not exist.
"""

import re
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from live import access, reads, scopes
from live.readcache import Entry
from wire import etags
from wire.problems import ProblemError

JSON = (b"content-type", b"application/json")
ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
ENVIRONMENT = re.compile(rf"environment_id=({ULID})".encode())


class CachedReads:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.path = re.compile(re.escape(prefix) + rf"/configurations/({ULID})(/effective)?")

    def _read(self, scope: Scope) -> Callable[[], Awaitable[Entry]] | None:
        """The read that answers this request, if it is one of the two."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        match = self.path.fullmatch(scope["path"])
        if match is None:
            return None
        state, id = scope["app"].state, match.group(1)
        if match.group(2) is None:
            if scope["query_string"]:
                return None

            async def configuration() -> Entry:
                entry = await reads.configuration(state, id)
                principal = access.of(scope)
                if principal is not None and not principal.sees_application(entry.application):
                    raise access.hidden(access.NO_CONFIGURATION)  # the same gate as the route's, on what it read
                return entry
            return configuration
        query = ENVIRONMENT.fullmatch(scope["query_string"])
        if query is None:
            return None
        environment_id = query.group(1).decode()

        async def effective() -> Entry:
            await scopes.in_environments(state, scope, id, environment_id)
            return await reads.effective_configuration(state, id, environment_id)
        return effective

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = self._read(scope)
        if read is None:
            await self.app(scope, receive, send)
            return
        try:
            entry = await read()
        except ProblemError:
            await self.app(scope, receive, send)  # 404, 503: the route answers them, as problems
            return
        etag = entry.etag.encode("latin-1")
        if etags.none_match(etags.header(scope, b"if-none-match"), entry.etag):
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = entry.body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"etag", etag), (b"content-length", str(len(body)).encode()), JSON]})
        await send({"type": "http.response.body", "body": body})
