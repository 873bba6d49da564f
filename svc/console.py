"""/console: the operators' console, a page of plain JavaScript modules and CSS under static/console/, served by the
service itself (no build step, nothing from another host). Its answers carry a strict Content-Security-Policy
(middleware/security_headers.py): no inline script or style, nothing loaded from elsewhere, never framed."""

from pathlib import Path

from fastapi import FastAPI
from docs import WholeFile

FILES = Path(__file__).resolve().parent / "static" / "console"
PATH = "/console"
# What static/console/ is served under: docs.py mounts static/ at /static.
ASSETS = "/static/console/"


def install(app: FastAPI) -> None:
    @app.get(PATH, include_in_schema=False)
    async def console() -> WholeFile:
        return WholeFile(FILES / "index.html", media_type="text/html; charset=utf-8")
