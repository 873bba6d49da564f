"""The FastAPI application: `create_app(settings)` and the module-level `app` that uvicorn serves."""

import asyncio
import errno
import gc
import logging
import resource
import signal
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import docs
import logs
from wire import problems
import settings as settings_module
from middleware.auth import Authenticate
from db.database import Database, unsafe_durability
from wire.deps import API
from middleware.edge import Edge, RequireHost, StripTrailingSlash
from live.fastpath import CachedReads
from live.listener import Listener
from live.readcache import ReadCache
from live.waiters import Waiters
from routers import applications, configurations, health

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "If-Match", "If-None-Match", "X-Request-ID")
CORS_RESPONSE_HEADERS = ("ETag", "Location", "Retry-After", "X-Request-ID")
CONTRACT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
log = logging.getLogger("config_service")


@cache
def contract() -> dict[str, Any]:
    """The hand-written contract, read once; served as `/openapi.json` instead of one derived from the code."""
    with CONTRACT.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


class StartupRefused(RuntimeError):
    """The service will not run against this database."""


# Why the last start-up failed, in one plain line for the end of `make run`'s output.
STARTUP_FAILURE: list[str] = []


def port_taken(host: str, port: int) -> str | None:
    """One line saying what to do when something already listens on host:port; None when it is free."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: {error.strerror}; set HOST and PORT in svc/.env"
            return (f"port {port} on {host} is already in use (another `make run`?): stop what listens there "
                    f"(`ss -ltnp 'sport = :{port}'` shows it), or set PORT in svc/.env")
    return None


def _answer_waiters_on_exit_signals(waiters: Waiters) -> None:
    """On SIGTERM or SIGINT, held requests answer 304 at once instead of holding up the graceful shutdown; the
    server's own handler (uvicorn's, which starts that shutdown) still runs."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only (the test client runs the app in another)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(waiters.close)
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


def create_app(settings: settings_module.Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.keys:
            log.warning("no API keys configured: the API is open to anyone who can reach it (set API_KEYS)")
        database = Database(settings)
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(database.executor, database.warm):
            unsafe = await database.run(unsafe_durability, transaction=False)
            if unsafe and not settings.allow_unsafe_durability:
                database.close()
                line = (f"refusing to start: the database runs with {', '.join(unsafe)} and could lose acknowledged "
                        "writes; fix the server, or set ALLOW_UNSAFE_DURABILITY=true for throwaway test databases")
                log.critical(line)
                STARTUP_FAILURE[:] = [line]
                raise StartupRefused(line)
        read_cache = ReadCache(max_bytes=settings.cache_max_bytes)
        waiters = Waiters(max_waiters=settings.max_waiters, max_wait=settings.max_wait_seconds)
        listener = Listener(str(settings.database_url), read_cache, waiters, primary=database.primary)
        listener.start()
        _answer_waiters_on_exit_signals(waiters)
        app.state.database = database
        app.state.settings = settings
        app.state.read_cache, app.state.waiters, app.state.listener = read_cache, waiters, listener
        # What start-up made (modules, the app, the contract) lives as long as the process: keep it out of the
        # cyclic collector's full passes, whose pause grows with the heap and shows as the reads' tail latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await listener.close()
            database.close()

    app = FastAPI(title="Config Service", lifespan=lifespan, redirect_slashes=False,
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    app.openapi = contract  # type: ignore[method-assign]
    docs.install(app, openapi_url="/openapi.json")
    problems.install(app)
    app.include_router(applications.router, prefix=API)
    app.include_router(configurations.router, prefix=API)
    app.include_router(health.router)
    # Added innermost first: Edge sees every request and every answer; RequireHost refuses a bad Host before
    # anything answers; CORS answers preflights before auth; CachedReads answers the polled read under auth,
    # before the router.
    app.add_middleware(CachedReads, prefix=API)
    app.add_middleware(StripTrailingSlash, prefix=API)
    app.add_middleware(Authenticate, keys=settings.keys, prefix=API)
    if settings.origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.origins, allow_methods=list(ALLOWED_METHODS),
                           allow_headers=list(CORS_REQUEST_HEADERS), expose_headers=list(CORS_RESPONSE_HEADERS),
                           max_age=600)
    app.add_middleware(RequireHost)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes, prefix=API,
                       body_timeout=settings.body_timeout_seconds)
    return app


settings = settings_module.load()
logs.configure(settings.log_level)
app = create_app(settings)


if __name__ == "__main__":
    import sys

    import uvicorn

    # Every held request is an open socket: allow as many as the system lets this process have.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    taken = port_taken(settings.host, settings.port)
    if taken:
        sys.exit(taken)

    # uvicorn re-raises the SIGTERM it shut down on; a stop that drained gracefully is a success, exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

    try:
        uvicorn.run("main:app", host=settings.host, port=settings.port, workers=settings.workers, log_config=None,
                    access_log=False, timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    except SystemExit as stopped:
        if stopped.code not in (0, None):
            # uvicorn ends a failed start-up with a log line of its own; the last line says what failed. The app
            # it ran is module `main`, which it imported itself (this file runs as `__main__`).
            failure = getattr(sys.modules.get("main"), "STARTUP_FAILURE", None)
            sys.exit(failure[0] if failure else "the service stopped at start-up: the log lines above say why")
        raise
