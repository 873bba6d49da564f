"""The read every client polls, `GET /api/v1/configurations/{id}` without a query, answered below the router.

It is the same read as the route's (`reads.configuration`: the worker's read cache, after a sync round), sent as
the same ASGI messages, but without what the framework does around a route: matching every route's pattern,
building a Request, validating the path parameter through pydantic, solving the handler's signature, the exception
middleware. Anything else goes on to the app: other paths, a query string (`wait` holds a request, which the route
does), and every error (the route answers it again, as a problem). It sits under the middleware that
authenticates, so it answers only what the route would.
"""

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from live import reads
from wire import etags
from wire.problems import ProblemError

JSON = (b"content-type", b"application/json")


class CachedReads:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.path = re.compile(re.escape(prefix) + r"/configurations/([0-7][0-9A-HJKMNP-TV-Z]{25})")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        match = self.path.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            entry = await reads.configuration(scope["app"].state, match.group(1))
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
