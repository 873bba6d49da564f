"""/docs (Swagger UI) and /redoc (ReDoc) served with their scripts from the service itself, so that they render
where there is no internet. The pinned files, with their licences, are in static/ (see static/README.md)."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/static"
TITLE = "Config Service"


def install(app: FastAPI, openapi_url: str) -> None:
    app.mount(PREFIX, StaticFiles(directory=STATIC), name="static")

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
