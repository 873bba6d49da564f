"""The connection pool and the executor that runs blocking database work off the event loop.

No request waits on the database longer than a bound, whatever the server or the network does: a connection is
had within POOL_ACQUIRE_TIMEOUT (and each host gets CONNECT_TIMEOUT to take one), and a unit of work that has not
ended `BOUND_MARGIN` seconds after STATEMENT_TIMEOUT_MS (which the server enforces while it runs) has its socket
shut by the watchdog, from this side: a server that is frozen, or a commit waiting for a synchronous standby that
is gone, cannot hold a request, an executor thread or the shutdown. `tcp_user_timeout` does the same for data the
network does not deliver.
"""

import asyncio
import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from db import dbprobe
from wire import jsontext
from db.primary import EPOCH, IDENTITY, Identity, Primary, identity_of
from wire.problems import ServiceUnavailable
from settings import Settings

log = logging.getLogger("config_service")

# jsonb comes back as the text PostgreSQL wrote, not parsed: responses carry it verbatim (numbers exact, no
# float round trip) and a read pays for no parsing. OID 3802 is jsonb in every PostgreSQL.
JSONB = psycopg2.extensions.new_type((3802,), "JSONB_TEXT",
                                     lambda value, cur: None if value is None else jsontext.Raw(value))
psycopg2.extensions.register_type(JSONB)

T = TypeVar("T")

# Errors that mean "try the whole unit of work again": the database chose a victim and rolled it back.
RETRYABLE = (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)
RETRIES = 3
# Errors that mean the database cannot serve now, though the request itself was fine.
TIMED_OUT = (psycopg2.errors.QueryCanceled, psycopg2.errors.LockNotAvailable)
# Seconds a unit of work may run past STATEMENT_TIMEOUT_MS before the watchdog shuts its connection.
BOUND_MARGIN = 2.0
UNKNOWN_OUTCOME = ("The database connection broke while the request was being served: if it was a change, whether "
                   "it was applied is unknown. Read the resource before you try the change again.")


def idempotent(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a unit of work that changes nothing: when its connection breaks under it, it is run again once on a
    fresh one. A change never is (its commit may have happened): it answers 503 saying the outcome is unknown."""
    fn.idempotent = True  # type: ignore[attr-defined]
    return fn


class Connection(psycopg2.extensions.connection):
    """A pooled connection, with the identity of the server it is on (see primary.py)."""

    identity: Identity | None = None


class Database:
    """A pool of connections to the primary, and a `ThreadPoolExecutor` that does the blocking work.

    Connections are kept once opened (reconnects happen only after a failure) up to POOL_MAX; a semaphore in front
    makes callers wait for one, bounded by POOL_ACQUIRE_TIMEOUT, then answer 503. A connection is checked when it
    is lent: one whose server hung up while it was idle (a restart), or that is not on the primary (primary.py),
    is closed instead, and a new one opened.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = str(settings.database_url)
        self.bound = settings.statement_timeout_ms / 1000 + BOUND_MARGIN
        options = f"-c statement_timeout={settings.statement_timeout_ms} -c lock_timeout={settings.lock_timeout_ms}"
        self._connect_args = dict(
            cursor_factory=psycopg2.extras.RealDictCursor, connection_factory=Connection,
            connect_timeout=settings.connect_timeout, options=options, application_name="config-service",
            tcp_user_timeout=int(self.bound * 1000), **KEEPALIVES,
        )
        self.primary = Primary()
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(settings.pool_max)
        self.executor = ThreadPoolExecutor(settings.executor_workers, thread_name_prefix="db")
        self._busy: dict[int, tuple[Connection, float]] = {}  # thread id -> its connection and deadline
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="db-watchdog", daemon=True)
        self._watchdog.start()

    def warm(self) -> int:
        """Open up to `pool_min` connections now; a database that is down is logged, not fatal."""
        opened = []
        try:
            for _ in range(self.settings.pool_min):
                opened.append(self._borrow(time.monotonic() + self.settings.pool_acquire_timeout))
        except ServiceUnavailable:
            cause = dbprobe.probe(self.url, timeout=self.settings.connect_timeout)
            log.warning("database unreachable at start-up (%s); requests answer 503 until it is back",
                        cause.line if cause else "it answers now")
        finally:
            for conn in opened:
                self._give_back(conn, broken=False)
        return len(opened)

    def close(self) -> None:
        """Drain the executor, then close every connection."""
        self.executor.shutdown(wait=True)
        self._closed.set()
        self._discard_idle()

    def idle(self) -> int:
        """How many open connections wait in the pool."""
        return len(self._idle)

    def _discard_idle(self) -> None:
        """Close every idle connection; new ones are opened as they are needed."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- connections -------------------------------------------------------------------------------------------
    def _open(self) -> Connection:
        """A new connection to the primary: where libpq's host list leads (the first host that takes it, with
        `target_session_attrs`), else, when that one is not the primary (an old one, back beside the new), each
        other host in turn."""
        conn = psycopg2.connect(self.url, **self._connect_args)
        if self._admit(conn):
            return conn
        refused = f"{conn.info.host}:{conn.info.port}"
        conn.close()
        for host, port in dbprobe.hosts(self.url):
            if f"{host}:{port}" == refused:
                continue
            try:
                conn = psycopg2.connect(dbprobe.single(self.url, host, port), **self._connect_args)
            except psycopg2.OperationalError:
                continue
            if self._admit(conn):
                return conn
            conn.close()
        raise psycopg2.OperationalError(f"no host of DATABASE_URL is the primary (the newest seen: {self.primary.current})")

    def _admit(self, conn: Connection) -> bool:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(IDENTITY)
            conn.identity = identity_of(cur.fetchone())
        if self.primary.admit(conn.identity):
            return True
        log.warning("not using %s:%s: %s is not the primary (%s is)", conn.info.host, conn.info.port, conn.identity,
                    self.primary.current)
        return False

    def _usable(self, conn: Connection) -> bool:
        """An idle connection is worth lending: open, on the primary, and its server has not hung up meanwhile (a
        socket that is readable while no query runs holds the server's goodbye, or nothing at all)."""
        if conn.closed or not self.primary.is_current(conn.identity):
            return False
        try:
            return not select.select([conn.fileno()], [], [], 0)[0]
        except (OSError, ValueError, psycopg2.Error):
            return False

    def _borrow(self, deadline: float) -> Connection:
        if not self.slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ServiceUnavailable("No database connection became free in time.")
        try:
            while True:
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                if conn is None:
                    return self._open()
                if self._usable(conn):
                    return conn
                conn.close()
        except psycopg2.Error as error:
            self.slots.release()
            log.warning("cannot connect to the database: %s", first_line(error))
            raise ServiceUnavailable("The database is unavailable.") from None
        except BaseException:
            self.slots.release()
            raise

    def _give_back(self, conn: Connection, *, broken: bool) -> None:
        try:
            if not broken and not conn.closed and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                conn.rollback()
            if broken or conn.closed or self._closed.is_set():
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
        except psycopg2.Error:
            conn.close()
        finally:
            self.slots.release()

    # -- the bound on every unit of work ----------------------------------------------------------------------
    def _watch(self) -> None:
        """Shut the socket of every unit of work past its deadline: libpq's wait for the server then ends with an
        error at once (the connection is dropped), whatever the server does. The socket is shut, not closed, and
        only while its unit is registered, so its number cannot have gone to another socket."""
        while not self._closed.wait(0.1):
            now = time.monotonic()
            with self._lock:
                for conn, deadline in self._busy.values():
                    if now > deadline and not conn.closed:
                        _shut(conn)

    @contextlib.contextmanager
    def _bounded(self, conn: Connection) -> Any:
        key = threading.get_ident()
        with self._lock:
            self._busy[key] = (conn, time.monotonic() + self.bound)
        try:
            yield
        finally:
            with self._lock:
                del self._busy[key]

    def _unit(self, deadline: float, transaction: bool, fn: Callable[..., T], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[T, int]:
        """Borrow, do `fn(cursor, *args, **kwargs)`, commit and give back: one trip through the executor. Its
        result, and the epoch (timeline) of the connection it ran on, which `fn` sees as `primary.epoch()`."""
        attempt = 0
        while True:
            attempt += 1
            conn = self._borrow(deadline)
            epoch = epoch_of(conn)
            EPOCH.set(epoch)  # this executor thread's: what fn checks and renders belongs to this connection
            try:
                with self._bounded(conn):
                    conn.autocommit = not transaction
                    with conn.cursor() as cur:
                        result = fn(cur, *args, **kwargs)
                    if transaction:
                        conn.commit()
            except RETRYABLE as error:
                self._give_back(conn, broken=False)
                # Nothing runs SERIALIZABLE and every write takes its locks in one order: a retry means a bug.
                kind = "deadlock" if isinstance(error, psycopg2.errors.DeadlockDetected) else "serialization failure"
                log.warning("the database cancelled a unit of work (%s), attempt %d", kind, attempt)
                if attempt > RETRIES:
                    raise ServiceUnavailable("The database is busy; try again.") from None
                continue
            except TIMED_OUT:
                self._give_back(conn, broken=False)
                raise ServiceUnavailable("The database did not answer in time.") from None
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
                self._give_back(conn, broken=True)
                # What broke one connection (a database restart, a failover) broke the idle ones too.
                self._discard_idle()
                log.warning("database connection failed: %s", first_line(error))
                # Only what changes nothing runs again: a change may have committed before the connection broke.
                if getattr(fn, "idempotent", False) and attempt == 1:
                    continue
                if getattr(fn, "idempotent", False):
                    raise ServiceUnavailable("The database is unavailable.") from None
                raise ServiceUnavailable(UNKNOWN_OUTCOME) from None
            except BaseException:
                self._give_back(conn, broken=bool(conn.closed))
                raise
            self._give_back(conn, broken=False)
            return result, epoch

    async def run(self, fn: Callable[..., T], *args: Any, transaction: bool = False, **kwargs: Any) -> T:
        """Run `fn(cursor, *args, **kwargs)` as one unit of work on a pooled connection, off the event loop.

        Autocommit by default: every unit of work here is one statement, so BEGIN/COMMIT would be two wasted round
        trips. `transaction=True` for a unit of several statements that must commit together.

        Once it is done, `primary.epoch()` in the calling task is the epoch of the connection it ran on: the ETags
        the caller renders from its rows name the timeline they were read or written on (primary.py).
        """
        deadline = time.monotonic() + self.settings.pool_acquire_timeout
        loop = asyncio.get_running_loop()
        result, epoch = await loop.run_in_executor(self.executor, self._unit, deadline, transaction, fn, args, kwargs)
        EPOCH.set(epoch)
        return result

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg2.extensions.connection]:
        """Lend a connection for one unit of work: commit on success, roll back on error, always give it back.

        Every statement made on it blocks the event loop's thread unless run through `self.executor`; request
        handlers use `run`, which does the whole unit in one executor call.
        """
        deadline = time.monotonic() + self.settings.pool_acquire_timeout
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(self.executor, self._borrow, deadline)
        EPOCH.set(epoch_of(conn))
        conn.autocommit = False
        broken = False
        try:
            yield conn
            await loop.run_in_executor(self.executor, conn.commit)
        except BaseException:
            broken = bool(conn.closed)
            raise
        finally:
            await loop.run_in_executor(self.executor, lambda: self._give_back(conn, broken=broken))


def epoch_of(conn: Connection) -> int:
    """The epoch of the data on `conn`: its server's timeline (primary.py)."""
    return conn.identity.timeline if conn.identity is not None else 1


def first_line(error: BaseException) -> str:
    # A driver message can run to several lines; one is enough for the log, and none goes to the client.
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def unsafe_durability(cur: Any) -> list[str]:
    """The settings under which the database could lose a commit it acknowledged ("fsync=off", ...)."""
    cur.execute("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')")
    return sorted(f"{r['name']}={r['setting']}" for r in cur.fetchall() if r["setting"] == "off")


def _shut(conn: Connection) -> None:
    try:
        with socket.socket(fileno=socket.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg2.Error):
        pass


# TCP keepalives on every connection: a peer that is gone is noticed on an idle connection too.
KEEPALIVES = dict(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)


@idempotent
def ping(cur: Any) -> bool:
    """True when the database answers a query."""
    cur.execute("SELECT 1 AS ok")
    return cur.fetchone()["ok"] == 1
