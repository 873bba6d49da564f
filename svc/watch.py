"""Watching: the worker's one LISTEN connection, read on the event loop, and the requests held until what they
hold changes.

A waiter is a future under one or more keys: `c:<configuration id>`, `a:<application id>` (the application itself)
and `l:<application id>` (anything of its configurations: its listing and its change feed). A notification wakes
only the waiters of its keys; each re-checks against the database and answers only when its representation
changed, else waits again. A waiter subscribes before it checks, so a change that commits after the check wakes
it, and one that committed before is seen by the check: nothing is missed. While the listener is disconnected,
waiters re-check every `POLL_SECONDS` (a database that is down answers 503); on reconnect every waiter re-checks.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

import psycopg2
import psycopg2.extensions
from fastapi import Request, Response

import etags
from database import first_line
from payloads import not_modified
from problems import ServiceUnavailable

log = logging.getLogger("config_service")

CHANNEL = "config_service"
POLL_SECONDS = 1.0
BACKOFF_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def keys_of(payload: str) -> tuple[str, ...]:
    """The waiter keys a notification wakes: "c <configuration> <application> <version>", "a <application> <version>"."""
    parts = payload.split()
    if len(parts) == 4 and parts[0] == "c":
        return (f"c:{parts[1]}", f"l:{parts[2]}")
    if len(parts) == 3 and parts[0] == "a":
        return (f"a:{parts[1]}", f"l:{parts[1]}")
    return ()


class Watcher:
    def __init__(self, dsn: str, *, max_waiters: int, max_wait: float = 300) -> None:
        self.dsn = dsn
        self.max_waiters = max_waiters
        self.max_wait = max_wait
        self.waiters: dict[str, set[asyncio.Future]] = {}
        self.count = 0
        self.listening = False
        self.closing = False
        self._conn: psycopg2.extensions.connection | None = None
        self._lost: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    # -- the listening connection -----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="listener")

    def begin_closing(self) -> None:
        """Answer every waiter now: they reply 304 (the shutdown has begun)."""
        self.closing = True
        self.wake_all()

    async def close(self) -> None:
        """Answer every waiter and stop listening."""
        self.begin_closing()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def _connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name="config-service-listener",
                                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")
        return conn

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self.closing:
            try:
                # Connecting blocks; a thread of its own keeps the executor's threads for requests.
                conn = await asyncio.to_thread(self._connect)
            except psycopg2.Error as error:
                delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
                if attempt == 0:
                    log.warning("listener cannot connect, retrying: %s", first_line(error))
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.warning("listener reconnected")
            attempt = 0
            self._conn, self._lost = conn, loop.create_future()
            fd = conn.fileno()
            loop.add_reader(fd, self._readable)
            self.listening = True
            # Whatever committed while nobody listened: every waiter checks again.
            self.wake_all()
            try:
                await self._lost
            finally:
                self.listening = False
                loop.remove_reader(fd)
                conn.close()
                self._conn = None
            log.warning("listener connection lost; reconnecting")
            self.wake_all()

    def _readable(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.poll()
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if self._lost is not None and not self._lost.done():
                self._lost.set_result(None)
            return
        for notify in conn.notifies:
            for key in keys_of(notify.payload):
                self.wake(key)
        conn.notifies.clear()

    # -- waiters ---------------------------------------------------------------------------------------------
    def subscribe(self, keys: Iterable[str]) -> asyncio.Future:
        if self.count >= self.max_waiters:
            raise ServiceUnavailable("Too many clients are waiting for changes; try again.", retry_after=1)
        future = asyncio.get_running_loop().create_future()
        for key in keys:
            self.waiters.setdefault(key, set()).add(future)
        self.count += 1
        return future

    def unsubscribe(self, keys: Iterable[str], future: asyncio.Future) -> None:
        for key in keys:
            found = self.waiters.get(key)
            if found is not None:
                found.discard(future)
                if not found:
                    del self.waiters[key]
        self.count -= 1

    def wake(self, key: str) -> None:
        for future in self.waiters.get(key, ()):
            if not future.done():
                future.set_result(None)

    def wake_all(self) -> None:
        for futures in self.waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def hold(self, keys: tuple[str, ...], check: Callable[[], Awaitable[object | None]], wait: float,
                   unchanged: Callable[[], object]) -> object:
        """`check()` until it answers (not None) or `wait` seconds pass, then `unchanged()`; re-checked when a
        notification of `keys` arrives (or every POLL_SECONDS while not listening). On shutdown: `unchanged()`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, self.max_wait)
        while True:
            future = self.subscribe(keys)
            try:
                answer = await check()
                if answer is not None:
                    return answer
                remaining = deadline - loop.time()
                if remaining <= 0 or self.closing:
                    return unchanged()
                await asyncio.wait((future,), timeout=remaining if self.listening else min(remaining, POLL_SECONDS))
                if self.closing:
                    return unchanged()
            finally:
                self.unsubscribe(keys, future)


async def conditional_get(request: Request, keys: tuple[str, ...], read: Callable[[], Awaitable[tuple[str, Callable[[], Response]]]],
                          wait: int | None) -> Response:
    """A GET answered 304 while `If-None-Match` names the current ETag; with `wait`, held until it does not (200) or
    `wait` seconds pass (304). `read()` gives the current ETag and a function that makes the 200."""
    held = request.headers.get("if-none-match")
    etag, respond = await read()
    if not etags.none_match(held, etag):
        return respond()
    if wait is None:
        return not_modified(etag)
    current = [etag]

    async def check() -> Response | None:
        current[0], respond = await read()
        return None if etags.none_match(held, current[0]) else respond()

    return await request.app.state.watcher.hold(keys, check, wait, lambda: not_modified(current[0]))
