"""The connection pool and the executor that runs blocking database work off the event loop."""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from psycopg2.pool import ThreadedConnectionPool

import dbprobe
import jsontext
from problems import ServiceUnavailable
from settings import Settings

log = logging.getLogger("config_service")

# jsonb comes back as the text PostgreSQL wrote, not parsed: responses carry it verbatim (numbers exact, no
# float round trip) and a read pays for no parsing. OID 3802 is jsonb in every PostgreSQL.
JSONB = psycopg2.extensions.new_type((3802,), "JSONB_TEXT",
                                     lambda value, cur: None if value is None else jsontext.Raw(value))
psycopg2.extensions.register_type(JSONB)

T = TypeVar("T")

# Errors that mean "try the whole unit of work again": the database chose a victim.
RETRYABLE = (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)
RETRIES = 3
# Errors that mean the database cannot serve now, though the request itself was fine.
TIMED_OUT = (psycopg2.errors.QueryCanceled, psycopg2.errors.LockNotAvailable)


class Database:
    """A psycopg2 `ThreadedConnectionPool` that keeps its connections, and a `ThreadPoolExecutor`.

    psycopg2's pool closes every connection given back while `minconn` are idle; here `minconn` is raised to
    `maxconn` once the pool exists, so a healthy connection is never closed and reconnects happen only after a
    failure. `getconn()` raises at once when the pool is empty; a semaphore in front makes callers wait instead,
    bounded by `pool_acquire_timeout`, then answer 503.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        options = f"-c statement_timeout={settings.statement_timeout_ms} -c lock_timeout={settings.lock_timeout_ms}"
        self.pool = ThreadedConnectionPool(
            0, settings.pool_max, str(settings.database_url),
            cursor_factory=psycopg2.extras.RealDictCursor, connect_timeout=settings.connect_timeout,
            options=options, application_name="config-service",
            keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
        )
        self.pool.minconn = settings.pool_max
        self.slots = threading.BoundedSemaphore(settings.pool_max)
        self.executor = ThreadPoolExecutor(settings.executor_workers, thread_name_prefix="db")

    def warm(self) -> int:
        """Open up to `pool_min` connections now; a database that is down is logged, not fatal."""
        opened = []
        try:
            for _ in range(self.settings.pool_min):
                opened.append(self._borrow(time.monotonic() + self.settings.pool_acquire_timeout))
        except ServiceUnavailable:
            cause = dbprobe.probe(str(self.settings.database_url), timeout=self.settings.connect_timeout)
            log.warning("database unreachable at start-up (%s); requests answer 503 until it is back",
                        cause.line if cause else "it answers now")
        finally:
            for conn in opened:
                self._give_back(conn, broken=False)
        return len(opened)

    def close(self) -> None:
        """Drain the executor, then close every connection."""
        self.executor.shutdown(wait=True)
        self.pool.closeall()

    def idle(self) -> int:
        """How many open connections wait in the pool."""
        return len(self.pool._pool)

    def _discard_idle(self) -> None:
        """Close every idle connection; the pool opens fresh ones as they are needed."""
        with self.pool._lock:
            idle, self.pool._pool[:] = list(self.pool._pool), []
        for conn in idle:
            conn.close()

    def _borrow(self, deadline: float) -> psycopg2.extensions.connection:
        if not self.slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ServiceUnavailable("No database connection became free in time.")
        try:
            return self.pool.getconn()
        except psycopg2.Error as error:
            self.slots.release()
            log.warning("cannot connect to the database: %s", first_line(error))
            raise ServiceUnavailable("The database is unavailable.") from None
        except BaseException:
            self.slots.release()
            raise

    def _give_back(self, conn: psycopg2.extensions.connection, *, broken: bool) -> None:
        try:
            if not broken and not conn.closed and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                conn.rollback()
            self.pool.putconn(conn, close=broken or bool(conn.closed))
        except psycopg2.Error:
            self.pool.putconn(conn, close=True)
        finally:
            self.slots.release()

    def _unit(self, deadline: float, transaction: bool, fn: Callable[..., T], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> T:
        """Borrow, do `fn(cursor, *args, **kwargs)`, commit and give back: one trip through the executor."""
        attempt = 0
        while True:
            attempt += 1
            conn = self._borrow(deadline)
            stage = "work"
            try:
                conn.autocommit = not transaction
                with conn.cursor() as cur:
                    result = fn(cur, *args, **kwargs)
                if transaction:
                    stage = "commit"
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
                # A connection that died before commit left nothing behind: the work may run again, once,
                # on a fresh connection (the usual case after a database restart: stale idle connections).
                if stage == "work" and attempt == 1:
                    continue
                log.warning("database connection failed: %s", first_line(error))
                raise ServiceUnavailable("The database is unavailable.") from None
            except BaseException:
                self._give_back(conn, broken=bool(conn.closed))
                raise
            self._give_back(conn, broken=False)
            return result

    async def run(self, fn: Callable[..., T], *args: Any, transaction: bool = False, **kwargs: Any) -> T:
        """Run `fn(cursor, *args, **kwargs)` as one unit of work on a pooled connection, off the event loop.

        Autocommit by default: every unit of work here is one statement, so BEGIN/COMMIT would be two wasted round
        trips. `transaction=True` for a unit of several statements that must commit together.
        """
        deadline = time.monotonic() + self.settings.pool_acquire_timeout
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._unit, deadline, transaction, fn, args, kwargs)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg2.extensions.connection]:
        """Lend a connection for one unit of work: commit on success, roll back on error, always give it back.

        Every statement made on it blocks the event loop's thread unless run through `self.executor`; request
        handlers use `run`, which does the whole unit in one executor call.
        """
        deadline = time.monotonic() + self.settings.pool_acquire_timeout
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(self.executor, self._borrow, deadline)
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


def first_line(error: BaseException) -> str:
    # A driver message can run to several lines; one is enough for the log, and none goes to the client.
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def unsafe_durability(cur: Any) -> list[str]:
    """The settings under which the database could lose a commit it acknowledged ("fsync=off", ...)."""
    cur.execute("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')")
    return sorted(f"{r['name']}={r['setting']}" for r in cur.fetchall() if r["setting"] == "off")


def ping(cur: Any) -> bool:
    """True when the database answers a query."""
    cur.execute("SELECT 1 AS ok")
    return cur.fetchone()["ok"] == 1
