"""The worker's one LISTEN connection, driven by the event loop: it applies each change notification to the read
cache and wakes the waiters of its keys, and it answers the cache's sync rounds.

`sync(tick)` resolves once a round sent after that tick has come back. A round reads the outbox (migration 0012): what
every write committed before it recorded is either in the round's answer, and applied from there, or was published by a
transaction that returned before the round began, whose notification PostgreSQL delivers ahead of a query's answer. A
notification carries its row's id ("#<id> <payload>"), so what a round applied is not applied again when its
notification comes; a row's payload names each change of its statement on a line of its own (migration 0019). A round
is also sent every HEARTBEAT_SECONDS, so a listener whose server stopped answering is found out even when nobody
reads. Whenever the connection is lost it connects again, with backoff (unless it gave up: below).
The connection is psycopg2's asynchronous kind, so neither listening nor a round ever blocks the loop or takes an
executor thread.

Each round also answers the server process that ran it, and it must be the one that ran the LISTEN: a pool in
transaction mode between the service and PostgreSQL (PgBouncer's) runs each statement on whichever server
connection is free, so the notifications would go to other clients, and a round could not make up for them (a flush
deletes what the flush before it published). Behind such a pool the listener gives up for good, with an error in the
log, and every read goes to the database (`_pooled`): as soon as a round runs on another server connection than the
LISTEN's, which may not be the first round (a pool may hand the same one back a while), so such a pool is still no
place to run the service.
"""

import asyncio
import logging

import psycopg2
import psycopg2.extensions

from db import dbprobe
from db.database import KEEPALIVES
from db.failures import per_host
from db.loop import ready
from db.primary import IDENTITY, Identity, Primary, identity_of
from live import keys
from live.readcache import ReadCache
from live.waiters import Waiters

log = logging.getLogger("config_service")

CHANNEL = "config_service"
# A round answers the outbox's rows, each with the server process that ran it (one row with no outbox row when there
# are none): a round run by another process than the LISTEN's is a pool's doing (`_pooled`).
ROUND = ("SELECT b.backend, r.id, r.payload FROM (SELECT pg_backend_pid() AS backend) AS b "
         "LEFT JOIN config_service_round() AS r ON true ORDER BY r.id NULLS FIRST")
CONNECT_SECONDS = 5.0
BACKOFF_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# The longest a sync round may take; past it, its reads and the next ones read the database instead.
SYNC_TIMEOUT = 1.0
# A round is sent at least this often, so a listener whose server stopped answering (frozen, or cut off without
# a reset) is found out even when nobody reads; one not back within DEAD_SECONDS drops the connection.
HEARTBEAT_SECONDS = 1.0
DEAD_SECONDS = 5.0
POLL_OK, POLL_WRITE = psycopg2.extensions.POLL_OK, psycopg2.extensions.POLL_WRITE


class Listener:
    def __init__(self, dsn: str, cache: ReadCache, waiters: Waiters, *, primary: Primary | None = None) -> None:
        self.dsn = dsn
        self.cache = cache
        self.waiters = waiters
        self.primary = primary if primary is not None else Primary()
        self.identity: Identity | None = None  # the listener's server
        self.listening = False
        self._closing = False
        self._conn: psycopg2.extensions.connection | None = None
        self._cursor: psycopg2.extensions.cursor | None = None
        self._lost: asyncio.Future | None = None
        self._task: asyncio.Task | None = None
        self._round: asyncio.Future | None = None
        self._round_tick = 0
        self._round_sent = 0.0  # when the round in flight was sent (`ReadCache.clock`)
        self._synced = 0  # the tick of the last round that came back (0: none since the connection was made)
        self._next: asyncio.Future | None = None
        self._fd: int | None = None  # the listener's socket while the loop watches it
        self._writing = False
        self._timer: asyncio.TimerHandle | None = None
        self._dead: asyncio.TimerHandle | None = None
        self._late = False
        self._seen: set[int] = set()  # the outbox rows applied: from the last round, and notified since
        self._heard: set[int] = set()  # the rows notified since the round in flight was sent
        self._backend: int | None = None  # the server process that LISTENs for this connection
        self.pooled = False  # a round ran on another server process than the LISTEN: given up for good (`_pooled`)
        cache.found_newer = self._found_newer

    # -- the listening connection -----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="listener")

    async def close(self) -> None:
        """Answer every waiter as unchanged, and stop listening."""
        self._closing = True
        self.waiters.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _connect(self) -> psycopg2.extensions.connection:
        """A listening connection to the primary. Every host of the URL is asked at once; of those that take a
        read-write session, the newest timeline is the primary (primary.py): an old primary that came back beside
        the new one is passed over, and the pool's connections follow."""
        hosts = dbprobe.hosts(self.dsn)
        dsns = [self.dsn] if len(hosts) == 1 else [dbprobe.single(self.dsn, host, port) for host, port in hosts]
        found = await asyncio.gather(*(self._open(dsn) for dsn in dsns), return_exceptions=True)
        opened = [item for item in found if isinstance(item, tuple)]
        errors = [item for item in found if isinstance(item, BaseException)]
        opened.sort(key=lambda item: item[1].timeline, reverse=True)
        chosen = None
        for conn, identity in opened:
            if chosen is None and self.primary.admit(identity):
                chosen = (conn, identity)
            else:
                conn.close()
        if chosen is None:
            if errors:
                raise errors[0]
            raise psycopg2.OperationalError("no host of DATABASE_URL is the primary")
        conn, self.identity = chosen
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                cursor = conn.cursor()  # kept until the query is done: psycopg2 needs its async cursor alive
                cursor.execute(f"LISTEN {CHANNEL}; SELECT pg_backend_pid()")  # one message: one server process
                await ready(conn)
                self._backend = cursor.fetchone()[0]
        except BaseException:
            conn.close()
            raise
        return conn

    async def _open(self, dsn: str) -> tuple[psycopg2.extensions.connection, Identity]:
        conn = psycopg2.connect(dsn, async_=True, application_name="config-service-listener", **KEEPALIVES)
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                await ready(conn)
                cursor = conn.cursor()
                cursor.execute(IDENTITY)
                await ready(conn)
                return conn, identity_of(cursor.fetchone())
        except BaseException:
            conn.close()
            raise

    async def _run(self) -> None:
        """Listen, and whenever the connection is lost or anything at all goes wrong, listen again (with backoff):
        this task ends only when the worker stops, or when a pool in transaction mode was found (`_pooled`)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closing and not self.pooled:
            try:
                conn = await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - whatever it was, the listener must not end (but `pooled`)
                delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
                if attempt == 0:
                    log.warning("listener cannot connect, retrying: %s",
                                per_host(error) if isinstance(error, psycopg2.Error) else
                                "timed out" if isinstance(error, TimeoutError) else type(error).__name__)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.warning("listener reconnected")
            attempt = 0
            heartbeat = None
            try:
                self._conn, self._cursor, self._lost = conn, conn.cursor(), loop.create_future()
                self._fd = conn.fileno()
                loop.add_reader(self._fd, self._readable)
                self.listening = True
                self._seen, self._heard = set(), set()
                # Whatever committed while nobody listened: the cache starts empty and every waiter checks again.
                self.cache.connected(self.sync, self.synced)
                self.waiters.connected()
                heartbeat = loop.create_task(self._heartbeat(), name="listener-heartbeat")
                await self._lost
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001
                log.warning("listener failed: %s", type(error).__name__)
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()
                self.listening = False
                self.cache.disconnected(keep=not self.pooled)  # (a pool's: what its rounds confirmed is no copy)
                self._detach()
                self._end_rounds()
                conn.close()
                self._conn = self._cursor = None
                self.identity = None
            if not self.pooled:
                log.warning("listener connection lost; reconnecting")
            self.waiters.disconnected()

    async def _heartbeat(self) -> None:
        """A round every HEARTBEAT_SECONDS: a listener that no longer hears its server, or that is not on the
        primary any more, is found out even while nobody reads."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.sync(self.cache.tick())

    def _detach(self) -> None:
        """Stop watching the listener's socket, now. libpq closes the socket itself when it finds the connection
        broken, and the process's next socket (a client's connection, accepted a moment later) can get the same
        number: removed any later, the loop would stop watching that socket instead, and its request would hang."""
        if self._fd is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        if self._writing:
            loop.remove_writer(self._fd)
            self._writing = False
        self._fd = None

    def _lose(self) -> None:
        self._detach()  # in the same callback that found the connection broken: see _detach
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _readable(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            state = conn.poll()
        except Exception:  # noqa: BLE001 - psycopg2.Error, OSError (a socket libpq replaced), anything: reconnect
            self._lose()
            return
        if conn.closed:  # broken without an error raised: libpq may have closed the socket all the same
            self._lose()
            return
        if conn.notifies:
            for notify in conn.notifies:
                self._notified(notify.payload)
            conn.notifies.clear()
        if state == POLL_OK and self._round is not None and not conn.isexecuting():
            # Answered after the reads already scheduled on the loop have joined this round.
            asyncio.get_running_loop().call_soon(self._complete, self._round)
        elif state == POLL_WRITE and not self._writing and self._fd is not None:
            self._writing = True
            asyncio.get_running_loop().add_writer(self._fd, self._writable)

    def _notified(self, payload: str) -> None:
        if payload.startswith("#"):  # "#<outbox id> <payload>": from the outbox (migration 0012)
            number, _, payload = payload[1:].partition(" ")
            if not number.isdigit() or int(number) in self._seen:
                return  # applied from a round already
            self._seen.add(int(number))
            self._heard.add(int(number))
        self._apply(payload)

    def _apply(self, payload: str) -> None:
        for line in payload.split("\n"):  # an outbox row names each change of its statement on a line (0019)
            change = keys.decode(line)
            self.cache.apply(change)  # stale first, then the waiters re-check, reading past it
            self.waiters.wake(change, self.cache.tick())

    def _found_newer(self, change: keys.Change) -> None:
        """A read of the database found a change no notification has brought yet (`ReadCache._unkept_landed`): its
        waiters re-check now, past it, as if it had come (it comes later, and wakes them again for nothing)."""
        self.waiters.wake(change, self.cache.tick())

    def _writable(self) -> None:
        if self._writing and self._fd is not None:
            asyncio.get_running_loop().remove_writer(self._fd)
        self._writing = False
        self._readable()

    # -- sync rounds -------------------------------------------------------------------------------------------
    async def sync(self, tick: int) -> bool:
        """True once a round sent after `tick` (a `ReadCache.tick()`) has come back, on the primary; False if the
        listener is down, behind, or on another server than the pool's (it then reconnects), or gave up."""
        if not self.listening or self._late:
            return False  # down, or behind: the database answers instead
        if not self.primary.is_current(self.identity):
            self._lose()  # the pool is on a newer primary: the cache is cleared as the listener reconnects
            return False
        if tick < self._synced:
            return True  # a round sent after `tick` is already back (a second read of one request)
        if self._round is None:
            future = self._start_round(asyncio.get_running_loop().create_future())
        elif self._round_tick > tick:
            future = self._round
        else:
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
            future = self._next
        if not await asyncio.shield(future):
            return False
        return self.primary.is_current(self.identity)  # the pool may have moved on while the round was out

    def synced(self, tick: int) -> bool:
        """Whether `sync(tick)` would answer True at once: a round sent after `tick` is back, and nothing since
        made this listener's answers untrustworthy."""
        return self.listening and not self._late and tick < self._synced and self.primary.is_current(self.identity)

    def _start_round(self, future: asyncio.Future) -> asyncio.Future:
        self._round, self._round_tick, self._round_sent = future, self.cache.tick(), self.cache.clock()
        self._heard = set()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(SYNC_TIMEOUT, self._behind)
        self._dead = loop.call_later(DEAD_SECONDS, self._lose)
        try:
            self._cursor.execute(ROUND)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001
            self._lose()
            self._end_rounds()
            return future
        self._readable()  # flushes what is unsent (POLL_WRITE) and finds an answer already there
        return future

    def _complete(self, future: asyncio.Future) -> None:
        if self._round is not future:
            return
        try:
            rows = self._cursor.fetchall()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - the round failed (psycopg2.Error): reconnect, and the cache starts over
            self._lose()
            self._end_rounds()
            return
        if rows and rows[0][0] != self._backend:
            self._pooled(rows[0][0])
            return
        seen = set()
        for _, number, payload in rows:
            if number is None and payload is None:
                continue  # no row at all: the outbox is empty
            if number is None:  # (NULL, 'reset'): over 1,000 changes are waiting (a bulk write): forget everything
                self._apply(payload)
            elif number not in self._seen:
                self._apply(payload)  # committed, and maybe not published yet: applied before the round is back
            seen.add(number)
        # What is remembered: the rows still there, and those notified since the round was sent (whose rows may
        # have committed after its snapshot, and be in the next round's answer). A row notified before and gone
        # from this answer was deleted, and no round returns it again.
        self._seen = seen | self._heard
        self._round_done()

    def shared(self) -> None:
        """The worker's pool found server sessions shared between clients (`Database.lost_statements`: a statement
        prepared on its connection's session was not there, or a new session already held them): a pool in
        transaction mode, as `_pooled` finds it, perhaps before any round ran elsewhere than the LISTEN (a pool that
        hands the listener the same server connection each time while it is idle delivers the notifications it
        gets meanwhile to other clients). The listener gives up for good, as there. Called on the event loop."""
        if self.pooled or self._closing:
            return
        log.error("the database pool found its server sessions shared with other clients: a pool in transaction "
                  "mode between the service and PostgreSQL? The listener's notifications cannot be trusted: every "
                  "read now goes to the database until the service restarts; use the pool's session mode")
        self._give_up()

    def _pooled(self, backend: int) -> None:
        """A round ran on another server process than the LISTEN: a pool in transaction mode (PgBouncer's, say)
        hands each statement to whichever server connection is free, so the notifications go to whichever client
        holds the LISTEN's then, and the copy would miss changes (svc/README.md, High availability). The listener
        gives up for good: every read goes to the database, and held requests check every POLL_SECONDS."""
        log.error("the listener's sync round ran on PostgreSQL process %s, its LISTEN on %s: a pool in transaction "
                  "mode between the service and PostgreSQL? Its notifications cannot be trusted: every read now goes "
                  "to the database until the service restarts; use the pool's session mode", backend, self._backend)
        self._give_up()

    def _give_up(self) -> None:
        self.pooled = True
        self._lose()
        self._end_rounds()

    def _behind(self) -> None:
        """A round is late: its readers, and every read until it is back, go to the database."""
        self._late = True
        for future in (self._round, self._next):
            if future is not None and not future.done():
                future.set_result(False)
        self._next = None

    def _round_done(self) -> None:
        self._timer.cancel()
        self._dead.cancel()
        self._late = False
        self._synced = max(self._synced, self._round_tick)
        if self.primary.is_current(self.identity):  # (else the listener is lost on the next read, and the copy with it)
            self.cache.confirm(self._round_sent)
        future, self._round = self._round, None
        if future is not None and not future.done():
            future.set_result(True)
        if self._next is not None:
            following, self._next = self._next, None
            self._start_round(following)

    def _end_rounds(self) -> None:
        self._synced = 0
        if self._timer is not None:
            self._timer.cancel()
        if self._dead is not None:
            self._dead.cancel()
        self._late = False
        for future in (self._round, self._next):
            if future is not None and not future.done():
                future.set_result(False)
        self._round = self._next = None

