"""Headers on every answer that keep it from being misread or kept: `X-Content-Type-Options: nosniff`; under the API
prefix a `Cache-Control` (a GET may be cached but must be revalidated by its ETag; nothing else is stored); and on
the console's page and files (`/console`, `/static/console/`) a strict Content-Security-Policy: scripts, styles and
requests from this origin only, no inline script or style, no plugins, never framed, no `<base>`, forms posted
here only. So a name or value that slipped into the page as markup could still not run."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wire import protocol

NOSNIFF = (b"x-content-type-options", b"nosniff")
OUTSIDE_THE_API = (NOSNIFF,)
API_GET = (NOSNIFF, (b"cache-control", b"no-cache"))
API_OTHER = (NOSNIFF, (b"cache-control", b"no-store"))
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CONSOLE = (NOSNIFF, (b"content-security-policy", CONSOLE_CSP.encode()), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY"), (b"cache-control", b"no-cache"))
CONSOLE_PAGE, CONSOLE_FILES = "/console", ("/console/", "/static/console/")


def headers_of(path: str, method: str, prefix: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers added to every answer of a request for `path` with `method` (`prefix`: the API's)."""
    if path == CONSOLE_PAGE or path.startswith(CONSOLE_FILES):
        return CONSOLE
    if not path.startswith(prefix):
        return OUTSIDE_THE_API
    return API_GET if method == "GET" else API_OTHER


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_of(scope["path"], scope["method"], self.prefix)
        protocol.record_headers(scope, extra)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
