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
import hashlib
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from db import dbprobe, failures
from wire import jsontext
from db.primary import IDENTITY, Identity, Primary, identity_of
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
# Seconds between two looks at whether POOL_MIN connections are open.
KEEP_EVERY = 1.0
# Seconds between two asks, by a unit short of a slot, that the event loop close a connection idle for a while.
ASK_LOOP_EVERY = 0.05
# TCP keepalives on every connection (the pool's and the listener's): a peer that is gone is noticed on an idle
# connection too.
KEEPALIVES = dict(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
NO_CONNECTION = "No database connection became free in time."
# After an attempt to connect ran out of CONNECT_TIMEOUT (a host that does not answer: frozen, or cut off), for this
# many seconds one attempt at a time goes on, and the others fail at once (`Database._open_lent`).
HUNG_WINDOW = 5.0
HUNG = "a host of DATABASE_URL does not answer (an attempt to connect, under way, will tell when it does)"
UNKNOWN_OUTCOME = ("The database connection broke while the request was being served: if it was a change, whether "
                   "it was applied is unknown. Read the resource before you try the change again.")


# Statements prepared on every pooled connection (`prepared`): {SQL text: (name, PREPARE, EXECUTE template)}.
PREPARED: dict[str, tuple[str, str, str]] = {}
_PARAMETER = re.compile(r"%\((\w+)\)s")
# A session's statement and lock timeouts, in ms (`Database.timeouts_of`).
TIMEOUTS = ("SELECT (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS statement, "
            "(SELECT setting FROM pg_settings WHERE name = 'lock_timeout') AS lock")
# A statement the server connection it ran on does not hold (SQLSTATE 26000): psycopg2 makes it an OperationalError,
# which is not a broken connection here (`Database.lost_statements`).
LOST = psycopg2.errors.InvalidSqlStatementName


def prepared(query: str) -> str:
    """Register `query` (SQL with %(name)s parameters) to be prepared on every pooled connection when it opens, and
    then executed as a prepared statement: PostgreSQL plans it for its first five executions on a connection, then
    keeps one generic plan if that is estimated no costlier, instead of planning at every execution (for the writes'
    and the history's statements of several CTEs, planning is most of their server time; the loop's connections
    keep the generic plan from the first: db/loop.py, Plans). A
    parameter's type is inferred where it is used, so one used only where no type is implied (in a SELECT list) is
    cast in the SQL (`%(now)s::timestamptz`). Returns `query`, for `UPDATE = prepared(...)`.

    A statement is named by a digest of its SQL, not by its place in the registry: one name is one statement in
    every version of the service, so no version can run another's statement under the name it knows (where sessions
    are shared between clients, a pool in transaction mode: `Database.lost_statements`)."""
    if "%%" in query:
        raise ValueError("a prepared statement has no literal %")
    names = list(dict.fromkeys(_PARAMETER.findall(query)))
    place = {name: f"${n}" for n, name in enumerate(names, 1)}
    body = _PARAMETER.sub(lambda m: place[m.group(1)], query)
    name = f"config_service_{hashlib.sha256(body.encode()).hexdigest()[:20]}"
    PREPARED.setdefault(query, (name, f"PREPARE {name} AS {body}",
                                f"EXECUTE {name} ({', '.join(f'%({n})s' for n in names)})"))
    return query


class _Prepared:
    """A statement registered with `prepared` is executed as the one its connection prepared; and the SQL its
    connection holds back (`Connection.prefix`: settings for the transaction, a savepoint) goes in one message with
    the next statement, at no round trip of its own. One message is one transaction, also without BEGIN, so a
    setting made there holds for that statement's transaction. A prepared statement the session does not hold
    (`Database.lost_statements`) is sent again at once as plain SQL, with what went before it, in autocommit, where
    nothing of that message was done; in a transaction, which it aborted, the unit of work runs again whole."""

    def execute(self, query: Any, vars: Any = None) -> Any:  # noqa: A002 - psycopg2's name
        conn = self.connection  # type: ignore[attr-defined]
        prefix, conn.prefix = conn.local + conn.prefix, ""
        if conn.prepared and (entry := PREPARED.get(query)) is not None and entry[0] in conn.prepared:
            if conn.database is None or not conn.database.unprepared:
                try:
                    return super().execute(prefix + entry[2], vars)  # type: ignore[misc]
                except LOST as error:
                    if conn.database is None or not conn.autocommit:
                        raise  # its transaction is aborted: the unit runs again, unprepared (`Database._unit`)
                    conn.database.lost_statements(error)  # the message was one transaction: nothing of it was done
            conn.prepared = frozenset()
        return super().execute(prefix + query, vars)  # type: ignore[misc]


class Cursor(_Prepared, psycopg2.extras.RealDictCursor):
    """The pool's cursors (`_Prepared`), whose rows are dicts."""


class TupleCursor(_Prepared, psycopg2.extensions.cursor):
    """`Cursor` with rows as tuples: for many rows made dicts at once (`dict(zip(names, row))`), which costs less
    than psycopg2's dict rows, built a column at a time."""


KEY_ID = re.compile(r"[0-9A-Z]{26}")


def as_key(key_id: str, fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` as a unit of work made with the managed API key `key_id` (a ULID): the feed entries and revisions it
    writes name the key (`changes.changed_by_key`): its first statement carries the setting
    `config_service.key_id` (migration 0009) for its transaction."""
    setting = key_setting(key_id)

    def unit(cur: Any, *args: Any, **kwargs: Any) -> T:
        cur.connection.prefix += setting
        return fn(cur, *args, **kwargs)
    return unit


def key_setting(key_id: str) -> str:
    """The SQL that names managed API key `key_id` (a ULID) as the maker of its transaction's changes (`as_key`)."""
    if KEY_ID.fullmatch(key_id) is None:
        raise ValueError("a key id is a ULID")
    return f"SELECT set_config('config_service.key_id', '{key_id}', true);\n"


def idempotent(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a unit of work that changes nothing: when its connection breaks under it, it is run again once on a
    fresh one. A change never is (its commit may have happened): it answers 503 saying the outcome is unknown."""
    fn.idempotent = True  # type: ignore[attr-defined]
    return fn


class Connection(psycopg2.extensions.connection):
    """A pooled connection, with the identity of the server it is on (see primary.py), and the SQL its next
    statement carries (see `Cursor`)."""

    identity: Identity | None = None
    prefix: str = ""
    prepared: frozenset[str] = frozenset()  # the names of the statements prepared on it (`prepared`)
    database: "Database | None" = None  # the pool it is of, which may have given its prepared statements up
    # SQL that begins every message sent on it: the session's timeouts, set in each transaction where the server did
    # not take them from the connection's startup parameters (`Database.timeouts_of`).
    local: str = ""


class Database:
    """A pool of connections to the primary, and a `ThreadPoolExecutor` that does the blocking work.

    At least POOL_MIN connections are open (opened at start-up, and again within a second of a restart or a failover
    that dropped them) and at most POOL_MAX (a semaphore counts them out); a connection opened is kept. The
    executor has one thread per connection: a unit of work waits for a thread, and so for a connection, at most
    POOL_ACQUIRE_TIMEOUT, then answers 503. A connection is checked when it is lent: one whose server hung up while
    it was idle (a restart), or that is not on the primary (primary.py), is closed instead, and a new one opened.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = str(settings.database_url)
        self.bound = settings.statement_timeout_ms / 1000 + BOUND_MARGIN
        statement, lock = settings.statement_timeout_ms, settings.lock_timeout_ms
        options = f"-c statement_timeout={statement} -c lock_timeout={lock}"
        self._connect_args = dict(
            cursor_factory=Cursor, connection_factory=Connection,
            connect_timeout=settings.connect_timeout, options=options,
            tcp_user_timeout=int(self.bound * 1000), **KEEPALIVES,
        )
        # The timeouts as each transaction sets them where a connection's startup parameters did not (`timeouts_of`).
        self.expected_timeouts = (str(statement), str(lock))
        self.local_timeouts = f"SET LOCAL statement_timeout = {statement}; SET LOCAL lock_timeout = {lock}; "
        self._told_timeouts = False
        self.primary = Primary()
        self.outage = failures.Outage(log, "the database")  # its connections' failures, said once in a while
        self.passed_over = failures.Seldom(log)  # the hosts that answered but are not the primary, likewise
        self._hung_at: float | None = None  # when an attempt to connect last ran out of CONNECT_TIMEOUT
        self._probing = threading.Lock()  # while hung: held by the one attempt in flight
        # Prepared statements given up for good (`lost_statements`): every statement runs as plain SQL.
        self.unprepared = False
        # Told, from whichever thread found it, that server sessions are shared (app.py: the listener gives up).
        self.on_shared: Callable[[], None] = lambda: None
        self._idle: list[Connection] = []
        self._open_count = 0  # connections open, idle or lent
        self._lock = threading.Lock()
        self._filling = threading.Lock()
        self.slots = threading.BoundedSemaphore(settings.pool_max)
        # A thread more than connections could only wait for one; a thread fewer would leave one unused.
        self.executor = ThreadPoolExecutor(settings.pool_max, thread_name_prefix="db")
        self._busy: dict[int, tuple[Connection, float]] = {}  # thread id -> its connection and deadline
        self._closed = threading.Event()
        # Called after every unit of work that may have written (the worker's publisher's `kick`: publisher.py).
        self.written: Callable[[], None] = lambda: None
        # The connections of single statements on the event loop (db/loop.py), once the worker's loop runs.
        self.on_loop: Any = None
        self.loop_open = 0  # its connections open, counted within POOL_MAX (under `_lock`)
        for name, loop in (("db-watchdog", self._watch), ("db-keeper", self._keep)):
            threading.Thread(target=loop, name=name, daemon=True).start()

    def lost_statements(self, error: BaseException | None = None) -> None:
        """Give prepared statements up for good (until the worker restarts): a statement prepared on a connection's
        session was not there when it ran (SQLSTATE 26000), or a new connection's session already held one (`error`
        None). Either is a server connection shared between clients: a pool in transaction mode (PgBouncer's), which
        hands each transaction to whichever server connection is free. From now on every statement runs as plain
        SQL, and a new connection prepares none; the statement that met it runs again so (`_Prepared.execute`,
        `_unit`, the loop's). The listener's notifications cannot be trusted there either: `on_shared` tells it
        (it also finds such a pool out itself: live/listener.py)."""
        if self.unprepared:
            return
        self.unprepared = True
        self.on_shared()
        cause = first_line(error) if error is not None else "a new connection's session already held the statements"
        log.error("prepared statements given up (%s): a pool in transaction mode between the service and PostgreSQL? "
                  "Every statement now runs as plain SQL, planned each time, until the service restarts; use the "
                  "pool's session mode", cause)

    def options_refused(self, error: BaseException) -> bool:
        """Whether `error`, a connection's failure, is a pool's refusal of its startup parameter `options` (PgBouncer
        refuses a parameter `ignore_startup_parameters` does not name). Then connections are opened without it from
        now on (their timeouts set in each transaction instead: `timeouts_of`), and True: connect again."""
        if "unsupported startup parameter: options" not in str(error):
            return False
        with self._lock:
            if "options" not in self._connect_args:
                return True  # (dropped meanwhile, by another connection's refusal)
            self._connect_args = {key: value for key, value in self._connect_args.items() if key != "options"}
        log.warning("the database (a pool?) refuses the startup parameter `options` that sets each connection's "
                    "statement and lock timeouts: connecting without it, each transaction sets them itself")
        return True

    def timeouts_of(self, found: tuple[str, str]) -> str:
        """What a connection whose session has the statement and lock timeouts `found` (`pg_settings`, in ms) sends
        before every message (`Connection.local`): nothing when they are the settings' (the server took them from
        the startup parameters), else SET LOCAL of both, for the transaction of each message. A pool between the
        service and PostgreSQL may drop startup parameters (PgBouncer's `ignore_startup_parameters`), and a session
        setting made after connecting would stay on a server connection other clients share (a pool in transaction
        mode): per transaction, they hold in every mode and leak into none, at the price of two SETs a message."""
        if tuple(found) == self.expected_timeouts:
            return ""
        if not self._told_timeouts:
            self._told_timeouts = True
            log.warning("the database did not take the connections' statement and lock timeouts from their startup "
                        "parameters (%s ms and %s ms found, a pool that ignores them?): each transaction sets them "
                        "itself", *found)
        return self.local_timeouts

    def warm(self) -> int:
        """Open POOL_MIN connections now; how many are open. A database that is down is logged, not fatal."""
        try:
            self._fill()
        except psycopg2.Error:
            cause = dbprobe.probe(self.url, timeout=self.settings.connect_timeout)
            log.warning("database unreachable at start-up (%s); requests answer 503 until it is back",
                        cause.line if cause else "it answers now")
        with self._lock:
            return self._open_count

    def close(self) -> None:
        """Drain the executor, then close every connection."""
        self.executor.shutdown(wait=True)
        self._closed.set()
        self._discard_idle()

    def _discard_idle(self) -> None:
        """Close every idle connection; new ones are opened as they are needed."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn)

    # -- connections -------------------------------------------------------------------------------------------
    def _keep(self) -> None:
        """Every KEEP_EVERY seconds, close the idle connections that could not be lent (see `_usable`), and open
        connections up to POOL_MIN: after a restart or a failover, before requests need them. A database that is
        down is tried again next time, quietly (requests tell it)."""
        while not self._closed.wait(KEEP_EVERY):
            dead = []
            with self._lock:
                idle, self._idle = self._idle, []
                for conn in idle:
                    (self._idle if self._usable(conn) else dead).append(conn)
            for conn in dead:
                self._close(conn)
            with contextlib.suppress(psycopg2.Error):
                self._fill()

    def _fill(self) -> None:
        """Open connections until POOL_MIN are open, each under a free slot (so never past POOL_MAX)."""
        with self._filling:
            while not self._closed.is_set():
                if not self.slots.acquire(blocking=False):
                    return  # every slot is lent: POOL_MIN connections are open
                with self._lock:
                    room = (self._open_count < self.settings.pool_min
                            and self._open_count + self.loop_open < self.settings.pool_max)
                    if room:
                        self._open_count += 1  # reserved under the lock the loop's `make_room` counts under
                if not room:
                    self.slots.release()
                    return
                try:
                    conn = self._open(reserved=True)
                except BaseException:
                    self.slots.release()
                    raise
                self._give_back(conn, broken=False)

    def make_room(self) -> bool:
        """Whether the event loop may open one more connection beside its own and the executor's (within POOL_MAX),
        counted in `loop_open` if so: an idle connection of the executor's is closed to make room if need be."""
        with self._lock:
            if self._open_count + self.loop_open >= self.settings.pool_max:
                if not self._idle:
                    return False
                conn = self._idle.pop(0)
                self._open_count -= 1
            else:
                conn = None
            self.loop_open += 1
        if conn is not None:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
        return True

    def loop_closed(self) -> None:
        """One of the event loop's connections was closed."""
        with self._lock:
            self.loop_open -= 1

    def _open(self, reserved: bool = False) -> Connection:
        """A new connection to the primary, counted open from before it connects (`reserved`: counted already),
        so that the event loop's `make_room` counts it too."""
        if not reserved:
            with self._lock:
                self._open_count += 1
        started = time.monotonic()
        try:
            conn = self._connect()
        except BaseException as error:
            with self._lock:
                self._open_count -= 1
            if isinstance(error, psycopg2.Error):
                self.connect_failed(started)
            raise
        self.connected(conn)  # (whoever opened it, a request or the pool's refill: an outage ends here)
        return conn

    def _close(self, conn: Connection) -> None:
        """Close a connection counted open."""
        with self._lock:
            self._open_count -= 1
        with contextlib.suppress(psycopg2.Error):
            conn.close()

    def connect(self, application_name: str) -> Connection:
        """A connection to the primary of the pool's kind, autocommit, not counted in the pool (the publisher's)."""
        return self._connect(application_name)

    def _connect(self, application_name: str = "config-service") -> Connection:
        """A new connection to the primary: where libpq's host list leads (the first host that takes it, with
        `target_session_attrs`), else, when that one is not the primary (an old one, back beside the new), each
        other host in turn."""
        try:
            conn = psycopg2.connect(self.url, **{**self._connect_args, "application_name": application_name})
        except psycopg2.OperationalError as error:
            if not self.options_refused(error):
                raise
            conn = psycopg2.connect(self.url, **{**self._connect_args, "application_name": application_name})
        args = {**self._connect_args, "application_name": application_name}
        if self._admit(conn):
            return conn
        refused = f"{conn.info.host}:{conn.info.port}"
        conn.close()
        for host, port in dbprobe.hosts(self.url):
            if f"{host}:{port}" == refused:
                continue
            try:
                conn = psycopg2.connect(dbprobe.single(self.url, host, port), **args)
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
            cur.execute(TIMEOUTS)
            conn.local = self.timeouts_of(tuple(cur.fetchone().values()))
        if self.primary.admit(conn.identity):
            conn.database = self
            if not self.unprepared:
                conn.prepared = prepare(conn)
            return True
        # Said once in a while: a host passed over is tried at every connection (3 lines a second in a trial).
        self.passed_over.warn(f"not using {conn.info.host}:{conn.info.port}: {conn.identity} is not the primary "
                              f"({self.primary.current} is)")
        return False

    def _usable(self, conn: Connection) -> bool:
        """An idle connection is worth lending: open, on the primary, and its server has not hung up meanwhile (a
        socket that is readable while no query runs holds the server's goodbye, or nothing at all)."""
        if conn.closed or not self.primary.is_current(conn.identity):
            return False
        try:
            return not readable(conn.fileno())
        except (OSError, ValueError, psycopg2.Error):
            return False

    def _borrow(self, deadline: float) -> Connection:
        while not self.slots.acquire(blocking=False):
            # The loop's idle connections hold slots: one idle for a while is closed to free its slot, asked for
            # again every ASK_LOOP_EVERY while this waits (the loop keeps those it lends again at once).
            left = deadline - time.monotonic()
            step = left
            if self.on_loop is not None:
                self.on_loop.give_up_idle()
                step = min(left, ASK_LOOP_EVERY)
            if self.slots.acquire(timeout=max(0.0, step)):
                break
            if step >= left:
                raise ServiceUnavailable(NO_CONNECTION)
        try:
            while True:
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                if conn is None:
                    return self._open_lent()
                if self._usable(conn):
                    return conn
                self._close(conn)
        except psycopg2.Error as error:
            self.slots.release()
            self.outage.failed(error)
            raise ServiceUnavailable("The database is unavailable.") from None
        except BaseException:
            self.slots.release()
            raise

    def hung(self) -> bool:
        """Whether an attempt to connect ran out of CONNECT_TIMEOUT within the last HUNG_WINDOW seconds."""
        at = self._hung_at
        return at is not None and time.monotonic() - at < HUNG_WINDOW

    def connect_failed(self, started: float) -> None:
        """An attempt to connect begun at `started` (monotonic) failed: one that took CONNECT_TIMEOUT found a host
        that does not answer."""
        if time.monotonic() - started >= self.settings.connect_timeout * 0.9:
            self._hung_at = time.monotonic()

    def connected(self, conn: Connection) -> None:
        self._hung_at = None
        self.outage.connected(f"{conn.info.host}:{conn.info.port}")

    def _open_lent(self) -> Connection:
        """A new connection for a unit of work. While a host hangs (`hung`), one attempt at a time: the others fail
        at once, rather than each holding its thread and its client CONNECT_TIMEOUT for the same silence (2 s a
        request, 4 for a read of two steps, in an on-call trial with a primary's processes stopped), and the one in
        flight tells when a host answers again."""
        probing = self.hung()
        if probing and not self._probing.acquire(blocking=False):
            raise psycopg2.OperationalError(HUNG)
        try:
            return self._open()
        finally:
            if probing:
                self._probing.release()

    def _give_back(self, conn: Connection, *, broken: bool) -> None:
        conn.prefix = ""  # what a unit that raised before its first statement held back is not the next one's
        try:
            try:
                if not broken and not conn.closed and conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
            except psycopg2.Error:
                broken = True
            with self._lock:  # the pool's `_closed` is read under the lock that `close` empties it under
                kept = not (broken or conn.closed or self._closed.is_set())
                if kept:
                    self._idle.append(conn)
            if not kept:
                self._close(conn)
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
    def bounded(self, conn: Connection, longer: float = 0.0) -> Any:
        """While in it, the calling thread's work on `conn` ends within the bound: the watchdog shuts its socket."""
        key = threading.get_ident()
        with self._lock:
            self._busy[key] = (conn, time.monotonic() + self.bound + longer)
        try:
            yield
        finally:
            with self._lock:
                del self._busy[key]

    def _unit(self, deadline: float, transaction: bool, fn: Callable[..., T], args: tuple[Any, ...],
              kwargs: dict[str, Any], longer: float = 0.0) -> T:
        """Borrow, do `fn(cursor, *args, **kwargs)`, commit and give back: one trip through the executor."""
        attempt = 0
        lost = False  # it met a prepared statement its session did not hold (`LOST`)
        while True:
            attempt += 1
            conn = self._borrow(deadline)
            try:
                with self.bounded(conn, longer):
                    conn.autocommit = not transaction
                    try:
                        with conn.cursor() as cur:
                            result = fn(cur, *args, **kwargs)
                        if transaction:
                            conn.commit()
                    finally:
                        if not getattr(fn, "idempotent", False):
                            self.written()  # it may have committed a write: publish it
            except RETRYABLE as error:
                self._give_back(conn, broken=False)
                cancelled("a unit of work", error, attempt)
                continue
            except TIMED_OUT:
                self._give_back(conn, broken=False)
                raise ServiceUnavailable("The database did not answer in time.") from None
            except LOST as error:
                self._give_back(conn, broken=False)
                if not lost:  # rolled back, nothing of it done: it runs again, as plain SQL (once: then it is)
                    lost = True
                    self.lost_statements(error)
                    continue
                log.warning("database statement failed: %s", first_line(error))
                raise ServiceUnavailable("The database is unavailable.") from None
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
            return result

    async def run(self, fn: Callable[..., T], *args: Any, transaction: bool = False, longer: float = 0.0,
                  wait: float | None = None, **kwargs: Any) -> T:
        """Run `fn(cursor, *args, **kwargs)` as one unit of work on a pooled connection, off the event loop.

        Autocommit by default: every unit of work here is one statement, so BEGIN/COMMIT would be two wasted round
        trips. `transaction=True` for a unit of several statements that must commit together; `longer` (seconds)
        adds to the bound of one whose many statements may together take longer than one may (an import).

        It waits for a thread, and so a connection, at most POOL_ACQUIRE_TIMEOUT (`wait`: less, what is left of a
        wait begun elsewhere, `loop.first_row`'s): then it answers 503, not run.
        """
        wait = self.settings.pool_acquire_timeout if wait is None else wait
        work = self.executor.submit(self._unit, time.monotonic() + wait, transaction, fn, args, kwargs, longer)
        expired = []

        def expire() -> None:  # still waiting for a thread: every connection is busy
            if work.cancel():
                expired.append(True)

        timer = asyncio.get_running_loop().call_later(wait, expire)
        try:
            result = await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            if expired and not asyncio.current_task().cancelling():
                raise ServiceUnavailable(NO_CONNECTION) from None
            raise
        finally:
            timer.cancel()
            # What `fn` raised (a 404, a 412) holds this frame in its traceback, and the future holds it (in its
            # callbacks' chained future): a cycle, which only the cyclic collector would free, with what the
            # callers' frames hold (a PUT's document). Broken here, it is freed as the caller is done with it.
            work = timer = None
        return result


def cancelled(what: str, error: BaseException, attempt: int) -> None:
    """The database rolled back `what` (a deadlock, a serialization failure): logged, and run again by the caller
    until RETRIES are spent, then 503. Nothing runs SERIALIZABLE and every write takes its locks in one order: a
    retry means a bug."""
    kind = "deadlock" if isinstance(error, psycopg2.errors.DeadlockDetected) else "serialization failure"
    log.warning("the database cancelled %s (%s), attempt %d", what, kind, attempt)
    if attempt > RETRIES:
        raise ServiceUnavailable("The database is busy; try again.") from None


def readable(fd: int) -> bool:
    """Whether socket `fd` has something to read, or has hung up, now (poll(2): any descriptor number, where
    select(2) takes none past 1,023, and a worker holding thousands of requests has such numbers)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


_UNPREPARED: set[str] = set()


def prepare(conn: Connection) -> frozenset[str]:
    """Prepare every registered statement on `conn` (autocommit, each alone); the names prepared. One that does not
    prepare (a parameter whose type nothing implies) is said once and executed as plain SQL. One the new session
    already held means sessions are shared: its pool gives prepared statements up (`Database.lost_statements`)."""
    done, failed = set(), []
    with conn.cursor() as cur:
        for name, statement, _ in PREPARED.values():
            try:
                cur.execute(statement)
                done.add(name)
            except psycopg2.OperationalError:
                raise
            except psycopg2.errors.DuplicatePreparedStatement:
                if conn.database is not None:
                    conn.database.lost_statements()
                return frozenset()
            except psycopg2.Error as error:
                if name not in _UNPREPARED:
                    _UNPREPARED.add(name)
                    failed.append(f"{name}: {first_line(error)}")
    if failed:  # one line for all (on a database not migrated, every statement fails: 27 lines a worker were said)
        log.warning("%d statement%s not prepared, run as plain SQL instead: %s", len(failed),
                    " is" if len(failed) == 1 else "s are", "; ".join(failed[:3]) + ("; ..." if len(failed) > 3 else ""))
    return frozenset(done)


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



@idempotent
def ping(cur: Any) -> bool:
    """True when the database answers a query."""
    cur.execute("SELECT 1 AS ok")
    return cur.fetchone()["ok"] == 1
