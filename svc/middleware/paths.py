"""The shape of a path: an encoded slash names nothing; a trailing slash names the same resource."""

from starlette.types import ASGIApp, Receive, Scope, Send

from wire import problems


class RefuseEncodedSlash:
    """404 (a problem) for a path with `%2F`: an encoded slash belongs to its segment, and the router (which sees
    the decoded path) would take it for a separator, so no route can mean it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%2f" in (scope.get("raw_path") or b"").lower():
            await problems.NotFound("No such resource.").response(scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


class StripTrailingSlash:
    """`/api/v1/applications/` is `/api/v1/applications`: answered directly, not redirected."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if len(path) > 1 and path.endswith("/") and path.startswith(self.prefix):
                scope = {**scope, "path": path.rstrip("/") or "/", "raw_path": None}
        await self.app(scope, receive, send)
