"""Headers on every answer that keep it from being misread or kept: `X-Content-Type-Options: nosniff`, and under
the API prefix a `Cache-Control` (a GET may be cached but must be revalidated by its ETag; nothing else is stored)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
OUTSIDE_THE_API = (NOSNIFF,)
API_GET = (NOSNIFF, (b"cache-control", b"no-cache"))
API_OTHER = (NOSNIFF, (b"cache-control", b"no-store"))


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith(self.prefix):
            extra = OUTSIDE_THE_API
        else:
            extra = API_GET if scope["method"] == "GET" else API_OTHER

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
