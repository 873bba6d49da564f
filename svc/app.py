"""The FastAPI application: `create_app(settings)` and the module-level `app` that uvicorn serves (`app:app`)."""

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import yaml
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

import console
import docs
import logs
import settings as settings_module
from db import migrations
from db.database import Database, first_line, unsafe_durability
from db.loop import LoopPool
from db.publisher import Publisher
from live.fastpath import CachedReads
from live.listener import Listener
from live.readcache import ReadCache
from live.waiters import Waiters
from middleware.auth import Authenticate
from middleware.body import BodyDeadline, LimitBodySize
from middleware.head import HeadAsGet
from middleware.host import RequireHost
from middleware.last_resort import LastResort
from middleware.paths import RefuseEncodedSlash, StripTrailingSlash
from middleware.request_id import RequestId
from middleware.request_log import RequestLog
from middleware.security_headers import SecurityHeaders
from routers.writes import FastWrites, WriteLane
from routers import api_keys, applications, configurations, effective, environments, health, history, overrides
from wire import headers, problems, protocol
from routers.deps import API

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Cache-Control", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match",
                        "X-Request-ID")
# Every response header the contract declares, for a browser client to read too (and the request's id).
CORS_RESPONSE_HEADERS = ("Accept-Encoding", "Age", "ETag", "Idempotent-Replayed", "Location", "Retry-After",
                         "WWW-Authenticate", "X-Request-ID")
CONTRACT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
log = logging.getLogger("config_service")


@cache
def contract() -> dict[str, Any]:
    """The hand-written contract, read once; served as `/openapi.json` instead of one derived from the code."""
    with CONTRACT.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


class StartupRefused(RuntimeError):
    """The service will not run against this database."""


LATER_CHECK_EVERY = 1.0  # seconds between checks of a database's migrations that did not answer at start-up
# The cyclic collector's young generation collects once this many more container objects were made than freed
# (Python's default: 2,000). A request's objects are freed by reference counting as it ends (no cycles: see
# app_test), but 64 requests in flight hold some 4,000 of them: at 2,000 the collector ran about 290 young
# collections a second under GET load, each walking the requests in flight only to find them alive, and every tenth
# of those a middle one, every hundredth a full one of the heap beyond what start-up froze (8-10 ms a pause).
# Measured (wrk, 64 connections, one worker, interleaved): 10% of the worker's time under GETs; at 20,000 none ran.
GC_YOUNG = 20_000
REFUSED_FILE = "CONFIG_SERVICE_REFUSED_FILE"  # where a worker writes why it refused to start, for the runner


def say_refusal(app: FastAPI, line: str) -> None:
    """Say why the service will not run: in the log, on `app.state.refused` (for whoever runs the app in its own
    process), and in the file the process runner (main.py) names, which it says last."""
    log.critical(line)
    app.state.refused = line
    if os.environ.get(REFUSED_FILE):
        with open(os.environ[REFUSED_FILE], "w", encoding="utf-8") as file:
            file.write(line)


def refuse(app: FastAPI, line: str) -> NoReturn:
    """Refuse to start, saying why."""
    say_refusal(app, line)
    raise StartupRefused(line)


async def unmigrated(database: Database) -> str | None:
    """Why the service must not run on this database: a line naming the migrations of this build it lacks; None
    when it has them all, or when they cannot be read (a role that may not read `migrations`: a warning says so).
    `ServiceUnavailable` when the database does not answer."""
    try:
        missing, newer = await database.run(migrations.disagreement, transaction=False)
    except problems.ServiceUnavailable:
        raise
    except Exception as error:
        log.warning("the database's migrations were not checked: %s", first_line(error))
        return None
    if newer:
        log.warning("the database has migrations this build does not (%s): a newer build migrated it",
                    ", ".join(newer))
    if not missing:
        return None
    return (f"the database lacks {len(missing)} of this build's migrations "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); run `make migrate` "
            "(`python -m db.migrations`) first")


def managed_keys_unguarding(cur) -> int:
    """How many managed keys the database holds that would work (not revoked, not expired): with no key in the
    settings the API would be open, and they would guard nothing (`unguarded_keys`)."""
    cur.execute("SELECT count(*) AS n FROM api_keys "
                "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())")
    return cur.fetchone()["n"]


async def unguarded_keys(settings: settings_module.Settings, database: Database) -> str | None:
    """Why the service must not run open: with no key in its settings the API is open to anyone, and managed keys
    that work would guard nothing. Managed keys are made only while the settings have a key (key management answers
    403 on an open API), so an operator who removed API_KEYS had one: the service refuses to start rather than open
    what those keys closed. None with a settings key, or with no managed key that works (the local default).
    `ServiceUnavailable` when the database does not answer."""
    if settings.keys:
        return None
    live = await database.run(managed_keys_unguarding, transaction=False)
    if not live:
        return None
    return (f"no API keys configured, yet the database holds {live} managed key{'s' if live > 1 else ''} not "
            "revoked, which an open API would ignore; set API_KEYS (an admin key manages the others), or revoke them "
            "with one before running open")


async def unfit(settings: settings_module.Settings, database: Database) -> str | None:
    """Why the service must not run on this database, or None: it could lose acknowledged writes (unless allowed),
    it lacks this build's migrations, or the API would be open over managed keys that work. `ServiceUnavailable`
    when the database does not answer."""
    unsafe = await database.run(unsafe_durability, transaction=False)
    if unsafe and not settings.allow_unsafe_durability:
        return (f"the database runs with {', '.join(unsafe)} and could lose acknowledged writes; fix the server, or "
                "set ALLOW_UNSAFE_DURABILITY=true for throwaway test databases")
    return await unmigrated(database) or await unguarded_keys(settings, database)


async def _stop_when_unmigrated(app: FastAPI, settings: settings_module.Settings, database: Database) -> None:
    """The database did not answer at start-up: what `unfit` checks is checked once it does (every
    LATER_CHECK_EVERY seconds until then). If it is unfit, the service stops as on SIGTERM, saying why, and a start
    then refuses. Until that check an open API answers 503 (`app.state.unguarded_unknown`, read by
    `middleware/auth.py`)."""
    while True:
        await asyncio.sleep(LATER_CHECK_EVERY)
        try:
            why = await unfit(settings, database)
        except problems.ServiceUnavailable:
            continue
        if why is not None:
            say_refusal(app, f"stopping: {why}")
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            app.state.unguarded_unknown = False
        return


def _answer_waiters_on_exit_signals(waiters: Waiters) -> None:
    """On SIGTERM or SIGINT, held requests answer 304 at once instead of holding up the graceful shutdown, and every
    answer from then on closes its connection (so a client asks again elsewhere, not here at once); the server's own
    handler (uvicorn's, which starts that shutdown) still runs."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only (the test client runs the app in another)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(protocol.stop_keeping_alive)  # (first: the answers of the holds close)
            loop.call_soon_threadsafe(waiters.close)
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


class Cors(CORSMiddleware):
    """Starlette's CORS, whose refused preflight (a plain-text 400, "Disallowed CORS origin") is a problem saying
    what was not allowed, with the same headers; and every answer says `Vary: Origin` (Starlette says it only to an
    origin it allows): an answer to no origin, or to one not allowed, lacks the CORS headers an allowed origin's
    gets, so a cache must not give one for the other (RFC 9110 §12.5.5; the Fetch standard's "CORS protocol and HTTP
    caches"). Not with every origin allowed (`*`), whose answers do not depend on it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allow_all_origins:
            await super().__call__(scope, receive, send)
            return
        if headers.first(scope, b"origin") is None:
            protocol.record_headers(scope, VARY_ORIGIN)  # (the fast path's answers, written below the layers)

        async def varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                said = b", ".join(value for name, value in message.get("headers", ()) if name.lower() == b"vary")
                if b"origin" not in said.lower():
                    message["headers"] = [*message.get("headers", ()), *VARY_ORIGIN]
            await send(message)

        await super().__call__(scope, receive, varying)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", ")
        said = {"origin": "its origin is not in CORS_ORIGINS",
                "method": f"its method is not one of {', '.join(ALLOWED_METHODS)}",
                "headers": f"it asks for headers beyond {', '.join(CORS_REQUEST_HEADERS)}"}
        kept = {name: value for name, value in response.headers.items() if name not in ("content-type", "content-length")}
        return problems.problem(400, problems.BadRequest.title, problems.BadRequest.slug, headers=kept,
                                detail=f"This CORS preflight is refused: {'; '.join(said[r] for r in refused)}.")


VARY_ORIGIN = ((b"vary", b"Origin"),)


def middleware(settings: settings_module.Settings) -> list[Middleware]:
    """The ASGI middleware around the app, outermost first: each one sees what every one below it answers.

    - `WriteLane` takes the PUTs of configurations and overrides that none of the layers below would act on and
      answers them as they would, doing their work for it (routers/writes.py); any other request goes on untouched.
    - `RequestId` first, so that every answer (a 500 included) carries the id and every log line below has it.
    - `RequestLog` next: it logs the request as the client sent it (a HEAD as HEAD) with the status of whatever
      answered, and logs and stops an unexpected error, so it sits outside everything that rewrites or answers.
    - `HeadAsGet`, then `SecurityHeaders`: every answer below, refusals and the last-resort 500 included, loses its
      body for a HEAD and gets the headers (a HEAD's `Cache-Control` is a GET's).
    - `LastResort`: an error from anything below becomes a 500 problem, which passes through the layers above.
    - What no route can take is refused before anything reads or answers it: an encoded slash, a body too large,
      then a body too slow (both limits apply to every `receive` below), then a bad Host (the fast path included).
    - CORS answers preflights before auth; `Authenticate` guards the API; the trailing slash is stripped before the
      read path's `CachedReads`, which answers the polled reads under auth, before the router, and `FastWrites`,
      which answers the PUTs of configurations and overrides there (routers/writes.py).
    """
    cors = [Middleware(Cors, allow_origins=settings.origins, allow_methods=list(ALLOWED_METHODS),
                       allow_headers=list(CORS_REQUEST_HEADERS), expose_headers=list(CORS_RESPONSE_HEADERS),
                       max_age=600)] if settings.origins else []
    return [
        Middleware(WriteLane, settings=settings, prefix=API),
        Middleware(RequestId),
        Middleware(RequestLog),
        Middleware(HeadAsGet),
        Middleware(SecurityHeaders, prefix=API),
        Middleware(LastResort),
        Middleware(RefuseEncodedSlash),
        Middleware(LimitBodySize, max_bytes=settings.max_body_bytes),
        Middleware(BodyDeadline, seconds=settings.body_timeout_seconds),
        Middleware(RequireHost),
        *cors,
        Middleware(Authenticate, keys=settings.keys, prefix=API),
        Middleware(StripTrailingSlash, prefix=API),
        Middleware(CachedReads, prefix=API),
        Middleware(FastWrites, prefix=API),
    ]


def create_app(settings: settings_module.Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.keys:
            log.warning("no API keys configured: the API is open to anyone who can reach it (set API_KEYS)")
        database = Database(settings)
        loop = asyncio.get_running_loop()
        checked = False  # what `unfit` checks, checked
        # (POOL_MIN=0 opens nothing at start-up: the checks open a connection of their own.)
        if await loop.run_in_executor(database.executor, database.warm) or not settings.pool_min:
            try:
                why = await unfit(settings, database)
            except problems.ServiceUnavailable:
                pass  # gone again since, or down from the start: checked once it is back
            else:
                checked = True
                if why is not None:
                    database.close()
                    refuse(app, f"refusing to start: {why}")
        publisher = Publisher(database, workers=settings.workers)
        database.written = publisher.kick
        database.on_loop = LoopPool(database)
        read_cache = ReadCache(max_bytes=settings.cache_max_bytes)
        waiters = Waiters(max_waiters=settings.max_waiters, max_wait=settings.max_wait_seconds,
                          max_per_key=settings.max_waiters_per_key)
        listener = Listener(str(settings.database_url), read_cache, waiters, primary=database.primary)
        loop = asyncio.get_running_loop()

        def shared() -> None:  # from an executor thread, or the loop's own
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the worker is stopping
                loop.call_soon_threadsafe(listener.shared)
        database.on_shared = shared
        if database.unprepared:  # found while the pool warmed up
            listener.shared()
        listener.start()
        _answer_waiters_on_exit_signals(waiters)
        app.state.database = database
        app.state.settings = settings
        app.state.read_cache, app.state.waiters, app.state.listener = read_cache, waiters, listener
        # What start-up made (modules, the app, the contract) lives as long as the process: keep it out of the
        # cyclic collector's full passes, whose pause grows with the heap and shows as the reads' tail latency.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
        app.state.unguarded_unknown = not checked and not settings.keys
        later = None if checked else asyncio.create_task(_stop_when_unmigrated(app, settings, database))
        try:
            yield
        finally:
            if later is not None:
                later.cancel()
            await listener.close()
            database.on_loop.close()
            database.close()
            publisher.close()
            logs.access.flush()

    app = FastAPI(title="Config Service", lifespan=lifespan, redirect_slashes=False, middleware=middleware(settings),
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    app.openapi = contract  # type: ignore[method-assign]
    docs.install(app, openapi_url="/openapi.json")
    console.install(app)
    problems.install(app)
    app.include_router(applications.router, prefix=API)
    app.include_router(configurations.router, prefix=API)
    app.include_router(environments.router, prefix=API)
    app.include_router(overrides.router, prefix=API)
    app.include_router(effective.router, prefix=API)
    app.include_router(history.router, prefix=API)
    app.include_router(api_keys.router, prefix=API)
    app.include_router(health.router)
    _refusals_said_once(app)
    return app


def _refusals_said_once(app: FastAPI) -> None:
    """A refusal to start (`refuse`) is said by its one line: the router's lifespan would hand the server the
    traceback of the exception that ends start-up too, which uvicorn logs whole (two a start of two workers)."""
    run = app.router.lifespan

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        async def said(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and "StartupRefused" in message.get("message", ""):
                message = {**message, "message": ""}  # (said by `refuse`; any other failure keeps its traceback)
            await send(message)
        await run(scope, receive, said)

    app.router.lifespan = lifespan  # type: ignore[method-assign]


settings = settings_module.load()
logs.configure(settings.log_level)
app = create_app(settings)

