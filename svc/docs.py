"""/docs (Swagger UI) and /redoc (ReDoc) served with their scripts from the service itself, so that they render
where there is no internet. The pinned files, with their licences, are in static/ (see static/README.md)."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wire.problems import NotFound

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/static"
TITLE = "Config Service"


def whole(scope: Scope) -> Scope:
    """The request without `Range` and `If-Range`: a file is served whole. RFC 9110 §14.2 lets a server ignore a
    Range; Starlette's answered a malformed or unsatisfiable one with a `text/plain` 400 or 416 (every error of the
    service is a problem), and several ranges with a malformed `Content-Range`. Nothing here is large."""
    headers = scope["headers"]
    kept = [(name, value) for name, value in headers if name not in (b"range", b"if-range")]
    return scope if len(kept) == len(headers) else {**scope, "headers": kept}


class Assets:
    """The static files, answered as the service answers: a path holding NUL (`%00`, which the file look-up raised
    on: a 500) is a 404 problem, and a Range is ignored (`whole`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "\x00" in scope["path"]:
                await NotFound("No file has this path.").response(scope["path"])(scope, receive, send)
                return
            scope, send = whole(scope), _no_ranges(send)
        await self.app(scope, receive, send)


def _no_ranges(send: Send) -> Send:
    """`send`, saying `Accept-Ranges: none` where Starlette says `bytes` (`whole`: no Range is taken)."""
    async def sent(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [(name, b"none" if name == b"accept-ranges" else value)
                                              for name, value in message["headers"]]}
        await send(message)
    return sent


class WholeFile(FileResponse):
    """A file answered whole, whatever Range the request sends (`whole`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(whole(scope), receive, _no_ranges(send))


def install(app: FastAPI, openapi_url: str) -> None:
    app.mount(PREFIX, Assets(StaticFiles(directory=STATIC)), name="static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        # validatorUrl None: Swagger UI would otherwise send the contract to validator.swagger.io for a badge.
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{TITLE} - Swagger UI",
                                   swagger_js_url=f"{PREFIX}/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/swagger-ui/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        # No Google Fonts: ReDoc falls back to the system's fonts.
        return get_redoc_html(openapi_url=openapi_url, title=f"{TITLE} - ReDoc",
                              redoc_js_url=f"{PREFIX}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{PREFIX}/swagger-ui/favicon-32x32.png", with_google_fonts=False)
