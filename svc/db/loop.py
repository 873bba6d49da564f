"""Single statements on the event loop: the writes every client makes most (a configuration's PUT, an override's)
run on connections in psycopg2's asynchronous mode, driven by the worker's event loop, instead of through the
executor's threads.

A unit of work through the executor costs a thread's wake-up, a hand-over of the GIL each way and a wake-up of the
loop; under 64 writers the threads and the loop contend for the GIL, and that contention is the writes' tail. Here a
statement is sent, the loop watches its socket, and its row is read once the socket has the answer: no thread, no
hand-over (a measurement of the same UPDATE at 64 concurrent callers: 135-156 µs of CPU per statement through the
executor, 60-81 µs here).

The guarantees are the executor's (`database.Database._unit`):
- Connections: they count against POOL_MAX, each holding one of the pool's slots while it is open (an idle one of the
  executor's is closed to make room), and at most half of POOL_MAX are the loop's (none with POOL_MAX=1). The
  executor, short of a slot, has the loop close one idle for GIVEN_UP_AFTER or more. When the loop's are all lent, a
  statement waits for the next one given back; one that has waited OVERFLOW_AFTER runs through the executor if it has
  a slot free (within what is left of POOL_ACQUIRE_TIMEOUT), so statements held up in the database (by a lock, say) do
  not hold up the others for longer than that, and POOL_MAX statements may be in flight, as before. Under a burst the
  loop's connections turn over every millisecond or so and the statements do not leave the loop: the executor's
  threads, whose hand-overs of the GIL with the loop were the writes' tail, stay out of it (PUT to 1,000 applications,
  one worker, 64 connections, interleaved A/B: p99 63-96 ms waiting first, 108-142 ms running the overflow through the
  executor at once). libpq resolves a host's name blocking: a host named by a name (not an address, a socket's folder
  or localhost) is resolved on the loop (`loop.getaddrinfo`, within the connect's bound) and its addresses given to
  libpq as `hostaddr`, each under the host's name (which TLS verifies), in the resolver's order, as libpq tries them
  itself. A connection is checked as the executor's are when it is lent (on the primary, the server has not hung up),
  and is on the primary when it opens.
- Bounds: a statement that has not answered within the bound (STATEMENT_TIMEOUT_MS plus a margin) has its
  connection closed from this side, whatever the server does, and answers 503; a connection is had within
  POOL_ACQUIRE_TIMEOUT, on the loop or the executor: one that overflows waits there for what is left of it.
- Outcomes: a deadlock or serialization failure runs the statement again (it was rolled back); a statement
  cancelled by the server's timeouts answers 503; a broken connection answers 503 saying that the outcome of the
  change is unknown (it may have committed), and what broke it broke the executor's idle connections too.
- A write is published once it may have committed (`Database.written`).

Plans: the loop's connections run the writes' prepared statements and nothing else, each kept to its generic plan from
its first execution (`plan_cache_mode = force_generic_plan`, a setting of the connection's session, as its prepared
statements are; the plan is made again, generic still, when a table's statistics change). Left to itself, PostgreSQL
plans a prepared statement anew for each of its first five executions, then keeps the generic plan only if its estimate
is no worse than theirs; the statement of many writes takes its writes as arrays, whose length the generic plan does not
know, so a connection whose first five statements carried few writes (a light load, or two workers at 16 connections)
planned every one after that anew: 0.49 ms a statement, about as much as its execution (0.6 ms). Under PUTs at two
workers and 16 connections that was 1,306-2,169 of 2,863-3,722 statements in two rounds of 5 s (none in a third), and
none since. The generic plan is the one the connections that kept it ran (index scans; for a statement of one write 0.69
ms against 1.12 planned each time, with 32, 2.7 ms against 3.8, `EXPLAIN`-free timings on one connection).

Writes in one statement (`batched`, `LoopPool.combined`): when every connection of the loop's is lent, a write that
has a form for many (the PUTs of configurations and overrides) does not wait for a connection alone. It joins the
others of its kind made with the same key, and the next connection given back carries them all (BATCH_MAX at most)
in one statement: one round trip, one commit and one flush of the write-ahead log, where each would have had its
own. A write that arrives while a connection is idle, and none of its kind waits, runs alone at once: batching costs
no wait when the loop is not busy. But while the machine's processors are the bound (the worker's loop waits for one
a fifth of the time or more: `Contention`), a statement of few writes costs nearly what one of many does, and the
next statement waits up to LINGER (2 ms) after the last one's answer for half of the writers it answered to write
again (`_linger`). Under PUTs at two workers (putload, 5-s rounds, interleaved, 2026-12-06), waiting up to 1 ms:
4,498-4,903 a second against 4,098-4,114 at 16 connections, 8,759-8,987 against 7,861-8,300 at 64 (statements of
23-25 writes against 16-18); up to 2 ms against 1 ms, 5,784-6,527 against 4,763-5,539 at 16 connections (three
pairs), even at 64; waiting for all of them instead of half, no better. With one worker, where a processor is to
spare, it does not wait (waiting there cost 7-14% at 16 connections). In a statement:
- Each write keeps its own preconditions, checked there, and its own outcome: its row, or none (its caller then says
  why, 404 or 412, as after a statement of its own). They are checked on the row as last committed when the
  statement locks it, not as its snapshot saw it: a change another transaction commits meanwhile (psql's, which
  locks no application) makes an If-Match stale, is written over without one, and a row deleted is 404.
- One write per application is made, the first of it to come; the others of that application are deferred to the
  next statement. Each application's changes stay a transaction each, as its history reads them (a position inside
  one transaction's changes reads the position before them). The statement says which application each write is of,
  and the next ones take one write of an application known; two writes of one configuration or override never share
  one.
- It waits for no lock: a write whose application another transaction holds (a write of its own, a change set) is
  not made there, and runs alone, waiting for that lock without holding up the writes of other applications.
- Failed as a whole (a unique name taken, a deadlock), it was rolled back: each write runs again alone (`Alone`), to
  its own outcome; a statement that carried one write only failed with that write's own error (a deadlock aside,
  which runs again), and that is its answer. A timeout or a broken connection answers each of its writes as it
  would answer one.

Writes of one application (`LoopPool.turn`): they share no statement, and the database makes each wait for the one
ahead on the application's row, which numbers the feed. Each went at once on a connection of its own, so a stream of
writes to one application had up to POOL_MAX statements of each worker waiting on that lock, each commit handing it
on through a queue of backends (with two workers, 1,121-1,298 µs of PostgreSQL's CPU per PUT, against 100 or so for
PUTs to many applications), and they held the loop's connections meanwhile. Now at most
APPLICATION_WRITERS of an application's writes are under way at once in all (each worker allows its share, at least
one: four with one worker, two each with two): one writing, the others waiting behind it in the database so that the
next one starts as it commits; the next ones wait their turn in the worker, in the order they came, within
POOL_ACQUIRE_TIMEOUT (then 503; the wait for a connection comes after it). Counted from the moment its application is
known: a configuration's row names it, and a statement of many says whose each write is. Interleaved A/B (putload,
PUTs to the 1,000 configurations of one application, 64 connections, 5-s rounds, three pairs each, 2026-12-07): one
worker 946-1,142 PUTs a second against 810-899, two workers 1,077-1,278 against 771-910, PostgreSQL's CPU per PUT
641-801 µs against 1,056-1,158 and 596-765 against 1,121-1,298; PUTs to 1,000 applications, which meet no turn,
even (6,605 a second against 6,627, one worker).
"""

import asyncio
import collections
import contextlib
import contextvars
import datetime
import decimal
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2.extras import Json

from db import database, dbprobe
from db.database import RETRYABLE, TIMED_OUT, UNKNOWN_OUTCOME, Connection, Database, first_line
from db.primary import IDENTITY, identity_of
from wire.problems import ServiceUnavailable

log = logging.getLogger("config_service")

POLL_OK, POLL_READ = psycopg2.extensions.POLL_OK, psycopg2.extensions.POLL_READ
# How long a connection must have been idle for the executor, short of a slot, to have it closed (`give_up_idle`).
GIVEN_UP_AFTER = 0.05
# How long a statement waits for one of the loop's connections before it runs through the executor, if that has a
# slot free (and how often it asks again after that).
OVERFLOW_AFTER = 0.1


# Set on each of the loop's connections: its statements (the writes', above all those of many) keep their generic
# plan from the first execution, whatever the first ones carried ("Plans", in the module's docstring).
GENERIC = "SET plan_cache_mode = force_generic_plan"
# At most this many writes in one statement (`LoopPool.combined`).
BATCH_MAX = 32
# Writes of one kind made with one key (a group: `LoopPool.combined`) share statements once this many of the
# group's statements are in flight on the loop (`LoopPool.crowded`): those that come meanwhile wait for one to be
# done and go together in the next. A statement in flight WRITE_STALLED_AFTER or longer (held up by a lock, say) no
# longer counts, and no write waits there longer than that in all.
WRITES_AHEAD = 1
WRITE_STALLED_AFTER = 0.025
# The applications of at most this many items are kept (what a statement of many writes learns: each of its writes
# is of a different one); then they are learnt anew.
OWNERS_KEPT = 100_000
# While the processors are the bound (`Contention`), a group's next statement waits, up to LINGER after the group's
# statement of two writes or more was answered, for LINGER_SHARE of the writers that statement answered to write again
# (`LoopPool._linger`). The processors are the bound when the worker's loop waited for one CONTENDED of the time or
# more, measured over CONTENTION_SAMPLE or more from the kernel's scheduler statistics (SCHEDSTAT).
LINGER = 0.002
LINGER_SHARE = 0.5
CONTENDED = 0.2
CONTENTION_SAMPLE = 0.1
SCHEDSTAT = "/proc/thread-self/schedstat"
# The groups whose last statement's answer is kept (`LoopPool._answered`) before those over LINGER old are dropped.
ANSWERED_KEPT = 1024
# At most this many writes of one application (as far as known) are under way at once in all the workers, each worker
# allowing its share (at least one): from the first step of `first_row` to its answer. The next ones wait their turn
# in the worker, in order (`LoopPool.turn`), not in the database on the application's lock ("Writes of one
# application", in the module's docstring).
APPLICATION_WRITERS = 4
HELD_UP = "The writes of this application ahead of this one did not finish in time."


class Batch:
    """The form for many of a write (`batched`): `query` takes each parameter of the `single` statement as an array
    of one element per write, in order, and answers each write's row with its place `n` in them (1, 2, ...), whether
    it was `deferred` (another write of its application came first), `busy` (to be run alone: its application was
    another transaction's, not waited for) or `written`, and the application it is of (`owner`). One write alone
    runs as the single statement, which costs less. `lists`: parameters whose value is a list of integers (or None),
    passed as the text of an integer array.

    Each array goes as one parameter, the text of a PostgreSQL array (`_array`), rendered here: psycopg2 adapts a
    list element by element (quoting each string through libpq, a timestamp through its isoformat), 7 µs a write,
    which was a tenth of the event loop's time under a burst of PUTs."""

    def __init__(self, single: str, query: str, lists: tuple[str, ...] = ()) -> None:
        self.single = single
        self.query = database.prepared(query)
        self.names = tuple(dict.fromkeys(database._PARAMETER.findall(query)))
        self.lists = frozenset(lists)

    def values(self, each: list[dict[str, Any]]) -> dict[str, str]:
        """The batch's parameters from each write's own, each array a column of them (`_column`)."""
        return {name: _column([_int_array(one[name]) for one in each] if name in self.lists
                              else [one[name] for one in each]) for name in self.names}


def _int_array(value: list[int] | None) -> str | None:
    return None if value is None else "{" + ",".join(str(int(v)) for v in value) + "}"


def _column(values: list[Any]) -> str:
    """`_array(values)`, with the columns a batch has most written at C speed: text without NUL (names, ids, JSON
    documents, integer arrays), every one escaped in one pass over them joined (a write's `_array` of a 32-write
    batch was 5 µs a write, a twentieth of the event loop's time under a stream of PUTs), and all NULL. Any other
    column (a mix of NULL and text, a timestamp, a number) is `_array`'s."""
    values = [value.dumps(value.adapted) if isinstance(value, Json) else value for value in values]
    if values and all(type(value) is str for value in values):
        joined = "\x00".join(values)
        if joined.count("\x00") == len(values) - 1:  # (a NUL in one would be taken for a separator)
            if '"' in joined or "\\" in joined:
                joined = joined.replace("\\", "\\\\").replace('"', '\\"')
            return '{"' + joined.replace("\x00", '","') + '"}'
    elif values and all(value is None for value in values):
        return "{" + ",".join(["NULL"] * len(values)) + "}"
    return _array(values)


def _array(values: list[Any]) -> str:
    """`values` as the text of a one-dimensional PostgreSQL array (its input syntax, section 8.15.6 of its manual):
    each element in double quotes, with `"` and `\\` escaped by a backslash, and NULL for None. An element is text, a
    JSON document (psycopg2's `Json`: its text), a timestamp (its ISO 8601 text, with its offset), a boolean, an
    integer or a Decimal; anything else is a TypeError (before the statement is sent: each write then runs alone)."""
    out = []
    for value in values:
        if value is None:
            out.append("NULL")
            continue
        if isinstance(value, Json):
            value = value.dumps(value.adapted)
        elif isinstance(value, datetime.datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | decimal.Decimal):
            value = str(value)
        elif not isinstance(value, str):
            raise TypeError(f"no array element of {type(value).__name__}")
        out.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


# {a single statement: its form for many} (`batched`).
BATCHES: dict[str, Batch] = {}


def batched(single: str, many: str, lists: tuple[str, ...] = ()) -> None:
    """Register `many` as the form of the write `single` for many writes at once (`Batch`)."""
    BATCHES[single] = Batch(single, many, lists)


class Alone(Exception):
    """Run this write as a statement of its own: the one it joined failed as a whole and was rolled back (a unique
    name taken, a deadlock), or skipped it (its application was another transaction's), or no connection of the
    loop's could be had for it (`left`: as `Unavailable`'s)."""

    def __init__(self, left: float | None = None) -> None:
        super().__init__()
        self.left = left


class _Write:
    """One write waiting in a group (`LoopPool.combined`): its `arrival` (its place in line), and the loop time by
    which it must have a connection (`deadline`); `passed`: a statement left it for the next (`_linger` waits for
    no statement of such a write, which would wait at each)."""
    __slots__ = ("item", "params", "future", "arrival", "deadline", "passed")

    def __init__(self, item: Any, params: Callable[[], dict[str, Any]], future: asyncio.Future, arrival: int,
                 deadline: float) -> None:
        self.item, self.params, self.future, self.arrival, self.deadline = item, params, future, arrival, deadline
        self.passed = False


class Contention:
    """Whether the machine's processors are the bound, as the thread that asks sees it (the worker's loop): it waited
    for a processor CONTENDED of the time or more since the reading before, taken CONTENTION_SAMPLE or more ago. The
    reading is the second field of the kernel's scheduler statistics for the thread (SCHEDSTAT: nanoseconds runnable
    but not running, Linux). Never contended where they cannot be read, nor at the first reading."""

    def __init__(self, path: str = SCHEDSTAT, clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.clock = path, clock
        self._at: float | None = None
        self._waited: float | None = None
        self._contended = False

    def waited(self) -> float | None:
        """Seconds the thread has waited for a processor since it began; None if that cannot be read."""
        try:
            with open(self.path, "rb") as stats:
                return int(stats.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def __call__(self) -> bool:
        now = self.clock()
        if self._at is None or now - self._at >= CONTENTION_SAMPLE:
            waited = self.waited()
            self._contended = waited is not None and self._waited is not None and self._at is not None \
                and (waited - self._waited) / (now - self._at) >= CONTENDED
            self._at, self._waited = now, waited
        return self._contended


class _Group:
    """The writes of one kind, made with one key, waiting for a connection; `asking`: a task waits for one."""
    __slots__ = ("pending", "asking")

    def __init__(self) -> None:
        self.pending: collections.deque[_Write] = collections.deque()
        self.asking = False


def _overflow(now: float, deadline: float) -> float:
    """When a statement waiting since `now` for one of the loop's connections asks the executor (again): after
    OVERFLOW_AFTER, or halfway to its acquire `deadline` if that comes first (a short POOL_ACQUIRE_TIMEOUT), so that
    it has time left to wait there; not sooner than 10 ms (no asking ever more often as the deadline nears)."""
    return now + min(OVERFLOW_AFTER, max((deadline - now) / 2, 0.01))


class Unavailable(Exception):
    """No connection of the loop's could be had (none open and none may be, or one would not open, or none came
    back within OVERFLOW_AFTER): the statement was not sent, and runs through the executor instead, waiting for one
    there at most `left` seconds (None: POOL_ACQUIRE_TIMEOUT), what is left of the wait it began on the loop."""

    def __init__(self, left: float | None = None) -> None:
        super().__init__()
        self.left = left


class LoopPool:
    """Connections in asynchronous mode, lent to one statement at a time, on one event loop (the worker's)."""

    def __init__(self, db: Database, size: int | None = None) -> None:
        self.db = db
        self.size = db.settings.pool_max // 2 if size is None else size  # POOL_MAX=1: none, all the executor's
        self._idle: list[Connection] = []
        self._open = 0
        self._waiting: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._groups: dict[tuple[Batch, str], _Group] = {}
        self._owners: dict[Any, str] = {}  # {item: the application it is of}, learnt from the statements of many
        self._arrivals = 0  # writes that joined a group, to keep them in line
        self._tasks: set[asyncio.Task] = set()
        # {a group's statement in flight: (the group's key, the loop time it was sent)}; {key: its carriers waiting}
        self._writing: dict[object, tuple[tuple[Batch, str], float]] = {}
        self._wrote: dict[tuple[Batch, str], collections.deque[asyncio.Future[None]]] = {}
        # {key: (how many writers the group's last statement answered, the loop time it did, `_arrivals` then)}, and
        # {key: (the group whose carrier waits, for how many writes, the future that wakes it)} (`_linger`)
        self._answered: dict[tuple[Batch, str], tuple[int, float, int]] = {}
        self._filling: dict[tuple[Batch, str], tuple[_Group, int, asyncio.Future[None]]] = {}
        # {application: [its writes under way, the writes waiting their turn or None]} (`turn`), and how many of an
        # application's writes this worker lets be under way at once (its share of APPLICATION_WRITERS)
        self._turns: dict[str, list[Any]] = {}
        self.turns = max(1, math.ceil(APPLICATION_WRITERS / max(1, db.settings.workers)))
        self.contended = Contention()

    # -- connections -------------------------------------------------------------------------------------------
    async def _wait(self, conn: Connection, deadline: float) -> None:
        """Until `conn` has done what it was asked (connect, a statement): its errors raise here. Past `deadline`
        (loop time) the connection is closed and TimeoutError raised."""
        try:
            async with asyncio.timeout_at(deadline):
                await ready(conn)
        except TimeoutError:
            conn.close()
            raise

    async def _connect(self) -> Connection:
        """A new connection on the primary, its statements prepared; Unavailable when none would open."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.db.settings.connect_timeout + self.db.bound
        conn = None
        if self.db.hung():  # a host does not answer: the executor's pool tries, one attempt at a time
            raise Unavailable
        started = time.monotonic()
        try:
            async with asyncio.timeout_at(deadline):
                where = await addresses(self.db.url)
            for attempt in (1, 2):  # (again without `options` when a pool refuses it: `Database.options_refused`)
                try:
                    conn = psycopg2.connect(self.db.url, async_=True, **{**self.db._connect_args, **where,
                                                                          "application_name": "config-service"})
                    # A host that takes no connection in CONNECT_TIMEOUT (frozen, say): the executor's pool, whose
                    # connecting goes on to the next host, opens one instead.
                    await self._wait(conn, min(deadline, loop.time() + self.db.settings.connect_timeout))
                    break
                except psycopg2.OperationalError as error:
                    if attempt == 2 or not self.db.options_refused(error):
                        raise
                    if conn is not None:
                        conn.close()
                        conn = None
            cur = conn.cursor()
            cur.execute(IDENTITY)
            await self._wait(conn, deadline)
            conn.identity = identity_of(cur.fetchone())
            cur.execute(database.TIMEOUTS)
            await self._wait(conn, deadline)
            conn.local = self.db.timeouts_of(tuple(cur.fetchone().values()))
            if not self.db.primary.admit(conn.identity):
                raise Unavailable  # the executor's pool finds the primary among the hosts, if another one is
            conn.database = self.db
            if self.db.unprepared:  # (a session setting too would stay on a server connection other clients share)
                self.db.connected(conn)
                return conn
            try:
                cur.execute(GENERIC)
                await self._wait(conn, deadline)
            except psycopg2.OperationalError:
                raise
            except psycopg2.Error as error:  # (PostgreSQL before 12, or a pooler that refuses it): planned as before
                log.warning("the event loop's connections plan as the server chooses: %s", first_line(error))
            done = set()
            for name, statement, _ in database.PREPARED.values():
                try:
                    cur.execute(statement)
                    await self._wait(conn, deadline)
                    done.add(name)
                except psycopg2.OperationalError:
                    raise
                except psycopg2.errors.DuplicatePreparedStatement:  # a session shared: see `database.prepare`
                    self.db.lost_statements()
                    self.db.connected(conn)
                    return conn
                except psycopg2.Error:
                    pass  # said once by the executor's pool (`database.prepare`); executed as plain SQL
            conn.prepared = frozenset(done)
            self.db.connected(conn)
            return conn
        except (psycopg2.Error, OSError, TimeoutError, Unavailable) as error:
            if conn is not None:
                conn.close()
            if not isinstance(error, Unavailable):
                self.db.connect_failed(started)
                self.db.outage.failed(error if str(error) else "no answer in time")
            raise Unavailable from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _usable(self, conn: Connection) -> bool:
        if conn.closed or not self.db.primary.is_current(conn.identity):
            return False
        try:
            return not database.readable(conn.fileno())
        except (OSError, ValueError, psycopg2.Error):
            return False

    async def _borrow(self, deadline: float | None = None, overflow: float | None = None) -> Connection:
        """An idle connection, a new one (under a slot of the executor's pool, within POOL_MAX), or the next one
        given back, within POOL_ACQUIRE_TIMEOUT (`deadline`, loop time, once a wait has begun). Unavailable when the
        loop has none of its own, or has waited OVERFLOW_AFTER (`overflow`: from when) and the executor has a slot
        free (then the statement runs there: statements held up in the database hold up the others no longer, and a
        burst of writes may have all of POOL_MAX)."""
        self._loop = loop = asyncio.get_running_loop()
        while self._idle:
            conn = self._idle.pop()
            if self._usable(conn):
                return conn
            self._drop(conn)
        if self._open < self.size and not self._closed and self.db.slots.acquire(blocking=False):
            if not self.db.make_room():
                self.db.slots.release()
                raise Unavailable
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                self.db.loop_closed()
                self.db.slots.release()
                raise
        if self._open == 0:
            raise Unavailable  # the loop has none: run it through the executor
        if deadline is None:
            deadline = loop.time() + self.db.settings.pool_acquire_timeout
        if overflow is None:
            overflow = _overflow(loop.time(), deadline)
        waiter = loop.create_future()
        self._waiting.append(waiter)
        try:
            while not waiter.done():
                now = loop.time()
                if now >= deadline:
                    raise TimeoutError
                if now >= overflow:
                    if self._executor_has_a_slot():  # waited long enough: it runs through the executor, within
                        raise Unavailable(deadline - now)  # what is left of the same acquire timeout
                    overflow = _overflow(now, deadline)
                await asyncio.wait((waiter,), timeout=min(deadline, overflow) - now)
            conn = waiter.result()
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())  # handed over just as this one gave up: to the next
            if isinstance(error, TimeoutError):
                raise ServiceUnavailable(database.NO_CONNECTION) from None
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)
        if conn is None:  # one was dropped: open another in its place, or wait on, within the same acquire timeout
            return await self._borrow(deadline, overflow)
        return conn

    def _executor_has_a_slot(self) -> bool:
        if not self.db.slots.acquire(blocking=False):
            return False
        self.db.slots.release()
        return True

    def _give_back(self, conn: Connection | None) -> None:
        """Lend `conn` to the oldest waiter, or keep it idle; None (a connection dropped) wakes the oldest waiter
        to open one in its place."""
        if conn is not None and self._closed:
            self._drop(conn)
            conn = None
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)

    def _drop(self, conn: Connection) -> None:
        """Close a connection of the loop's and free its slot."""
        with contextlib.suppress(psycopg2.Error):
            conn.close()
        self._open -= 1
        self.db.loop_closed()
        self.db.slots.release()

    def give_up_idle(self) -> None:
        """From any thread: close the connection idle longest, if it has been idle GIVEN_UP_AFTER, freeing its slot
        for the executor, which has none free (the loop opens another when writes need it). Under a stream of
        writes the loop's connections are idle for moments only, and are kept: closing every idle one whenever a
        unit of the executor's lacked a slot made the loop open 10-15 new connections a second under 64 writers
        (closing one each time, 57-99)."""
        loop = self._loop
        if loop is not None and self._idle:
            with contextlib.suppress(RuntimeError):  # the loop is closed: so are its connections
                loop.call_soon_threadsafe(self._drop_one_idle)

    def _drop_one_idle(self) -> None:
        # The one idle longest is the first: connections are lent last-in first-out.
        if self._idle and time.monotonic() - self._idle[0].idle_since >= GIVEN_UP_AFTER:
            self._drop(self._idle.pop(0))

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)

    def _broken(self, conn: Connection) -> None:
        """What broke one connection (a restart, a failover) broke the idle ones too, the executor's as well. One
        waiter opens a connection in the broken one's place: idle ones there were none while anyone waited."""
        self._drop(conn)
        self._drop_idle()
        self.db._discard_idle()
        self._give_back(None)

    def close(self) -> None:
        self._closed = True
        self._drop_idle()
        waiting, self._waiting = self._waiting, collections.deque()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(ServiceUnavailable(database.NO_CONNECTION))
        groups, self._groups = self._groups, {}
        for group in groups.values():
            pending = list(group.pending)
            group.pending.clear()
            self._settle(pending, lambda write: ServiceUnavailable(database.NO_CONNECTION))

    # -- one statement -----------------------------------------------------------------------------------------
    async def first_row(self, query: str, params: Callable[[], dict[str, Any]], *, prefix: str = "",
                        group: tuple[Batch, str] | None = None) -> Any:
        """Run `query` with `params()` (called once a connection is had) in autocommit, after
        the SQL `prefix` in the same message; its first row, or None. Unavailable when the loop has no connection
        to give (the caller runs it through the executor instead); the database's own errors (a unique violation)
        raise as they are. `group`: the key of the writes it is one of, for which it counts in flight (`crowded`).
        A prepared statement runs here on its generic plan ("Plans", in the module's docstring)."""
        attempt = 0
        lost = False  # it met a prepared statement its session did not hold (`database.LOST`)
        while True:
            attempt += 1
            conn = await self._borrow()
            loop = asyncio.get_running_loop()
            outcome = None
            sent = False
            writing = object() if group is not None else None
            try:
                conn.prefix = prefix
                cur = conn.cursor()
                values = params()
                try:
                    sent = True
                    if writing is not None:
                        self._writing[writing] = (group, loop.time())  # type: ignore[assignment]
                    cur.execute(query, values)
                    await self._wait(conn, loop.time() + self.db.bound)
                finally:
                    self._written(writing)
                    self.db.written()  # it may have committed: publish it
                row = cur.fetchone() if cur.description is not None else None
            except RETRYABLE as error:
                outcome = "retry"
                database.cancelled("a statement", error, attempt)
                continue
            except TIMED_OUT:
                outcome = "kept"
                raise ServiceUnavailable("The database did not answer in time.") from None
            except database.LOST as error:
                outcome = "kept"
                if not lost:  # one message, one transaction, rolled back: it runs again, as plain SQL (once)
                    lost = True
                    self.db.lost_statements(error)
                    continue
                log.warning("database statement failed: %s", first_line(error))
                raise ServiceUnavailable("The database is unavailable.") from None
            except (psycopg2.OperationalError, psycopg2.InterfaceError, TimeoutError, OSError) as error:
                outcome = "broken"
                log.warning("database connection failed: %s", first_line(error) if str(error) else
                            "no answer within the bound")
                raise ServiceUnavailable(UNKNOWN_OUTCOME) from None
            except psycopg2.Error:
                outcome = "kept"
                raise
            except BaseException:
                # Cancelled, or failed, with the statement perhaps in flight: this connection cannot be lent again
                # (the server is not in question, so the others stay).
                outcome = "in flight" if sent else None
                raise
            finally:
                self._after(conn, outcome)
            return row

    def _after(self, conn: Connection, outcome: str | None) -> None:
        """Give `conn` back after a statement, as its `outcome` says: "broken" (and the idle ones with it), "in flight"
        (cancelled while the server may still run it: dropped), else lent again."""
        conn.prefix = ""
        if outcome == "broken" or (conn.closed and outcome != "in flight"):
            self._broken(conn)
        elif outcome == "in flight":
            self._drop(conn)
            self._give_back(None)
        else:
            self._give_back(conn)

    # -- writes of one application -----------------------------------------------------------------------------
    def turn(self, item: Any) -> tuple[str | None, asyncio.Future[None] | None]:
        """A write of `item` begins: the application it is of (None when not known: not counted), and None when it
        may go now, or the future that says its turn has come (then its turn is held for it, unless it was
        cancelled: `turn_over`). Each turn taken is handed on with `turn_over(application)` once the write is done."""
        owner = self._owners.get(item)
        if owner is None:
            return None, None
        turns = self._turns.get(owner)
        if turns is None:
            self._turns[owner] = [1, None]
            return owner, None
        if turns[0] < self.turns:
            turns[0] += 1
            return owner, None
        waiter = asyncio.get_running_loop().create_future()
        if turns[1] is None:
            turns[1] = collections.deque()
        turns[1].append(waiter)
        return owner, waiter

    def turn_over(self, owner: str) -> None:
        """A write of application `owner` is done: the next one waiting takes its turn."""
        turns = self._turns.get(owner)
        if turns is None:
            return
        waiting = turns[1]
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # its turn now: the count stays
                return
        turns[0] -= 1
        if turns[0] <= 0:
            del self._turns[owner]

    def turn_given_up(self, owner: str, waiter: asyncio.Future[None]) -> None:
        """A write of application `owner` gave up waiting for its turn (`waiter`): it leaves the line, and a turn
        it was given just then goes to the next."""
        if waiter.done() and not waiter.cancelled():
            self.turn_over(owner)
            return
        turns = self._turns.get(owner)
        if turns is not None and turns[1]:
            with contextlib.suppress(ValueError):
                turns[1].remove(waiter)

    # -- writes in one statement -------------------------------------------------------------------------------
    def crowded(self, batch: Batch, prefix: str) -> bool:
        """Whether a write of `batch` made with `prefix` would wait for a connection now: none idle and as many open
        as may be, or others of its kind wait already (it waits behind them), or the next statement of its kind waits
        for the writers the last one answered (`_returning`)."""
        if self._closed:
            return False
        group = self._groups.get((batch, prefix))
        return (not self._idle and 0 < self._open >= self.size) or (group is not None and bool(group.pending)) \
            or self._writes_ahead((batch, prefix))[0] >= WRITES_AHEAD or self._returning((batch, prefix)) is not None

    def _returning(self, key: tuple[Batch, str]) -> tuple[int, float, int] | None:
        """The answer of group `key`'s last statement (`_answered`) if the group's next statement waits for the
        writers it answered (`_linger`): it answered two or more, less than LINGER ago, and the processors are the
        bound (`contended`). Else None."""
        answered = self._answered.get(key)
        if answered is None or answered[0] < 2 or asyncio.get_running_loop().time() >= answered[1] + LINGER:
            return None
        return answered if self.contended() else None

    async def _linger(self, key: tuple[Batch, str], group: _Group) -> None:
        """Before group `key`'s next statement: while the processors are the bound, wait until LINGER_SHARE of the
        writers its last statement answered have written again (besides the writes that waited already), or LINGER
        after that answer. A statement of few writes costs the database and the worker nearly what one of many does
        (a commit, a round trip, a trigger's run), and with no processor to spare what a fuller statement saves goes
        to the other work; with one to spare the wait only delays."""
        answered = self._returning(key)
        if answered is None or self._closed or any(write.passed for write in group.pending):
            return  # (a write a statement passed over waits for none: it would wait at each statement)
        count, at, arrivals = answered
        before = sum(1 for write in group.pending if write.arrival <= arrivals)
        target = min(BATCH_MAX, before + math.ceil(count * LINGER_SHARE))
        if len(group.pending) >= target:
            return
        future = asyncio.get_running_loop().create_future()
        self._filling[key] = (group, target, future)
        try:
            async with asyncio.timeout_at(at + LINGER):
                await future
        except TimeoutError:
            pass  # they did not all come: the statement goes with those that did
        finally:
            if key in self._filling and self._filling[key][2] is future:
                del self._filling[key]
            future.cancel()

    def _answer(self, key: tuple[Batch, str], writers: int) -> None:
        """Group `key`'s statement answered `writers` writes now (`_linger` waits for them)."""
        now = asyncio.get_running_loop().time()
        if len(self._answered) >= ANSWERED_KEPT:
            self._answered = {k: v for k, v in self._answered.items() if v[1] > now - LINGER}
        self._answered[key] = (writers, now, self._arrivals)

    def _writes_ahead(self, key: tuple[Batch, str]) -> tuple[int, float | None]:
        """How many of group `key`'s statements are in flight, not counting those sent WRITE_STALLED_AFTER ago or
        more; and the loop time the first of those will have been, or None."""
        stalled = asyncio.get_running_loop().time() - WRITE_STALLED_AFTER
        recent = [sent for of, sent in self._writing.values() if of == key and sent > stalled]
        return len(recent), (min(recent) + WRITE_STALLED_AFTER if recent else None)

    def _written(self, writing: object | None) -> None:
        """A group's statement is done (or was never sent): the group's next carrier waiting for one goes on."""
        entry = self._writing.pop(writing, None) if writing is not None else None
        if entry is not None:
            self._wake_one(entry[0])

    def _wake_one(self, key: tuple[Batch, str]) -> None:
        waiters = self._wrote.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if waiters is not None and not waiters:
            del self._wrote[key]

    def _gathering(self, writes: list[_Write]) -> bool:
        """Whether writes waiting to be carried wait for the statement ahead (`_behind`), gathering those that come
        meanwhile: unless they are two or more and no two of them could share a statement (the writes of one
        application, one statement each as far as known). Those go at once: the database holds each on its
        application's lock, and it follows the one ahead the sooner."""
        return len(writes) < 2 or len(self._one_statement(writes, 2)[0]) == 2

    def _one_statement(self, writes: list[_Write], most: int) -> tuple[list[_Write], list[_Write]]:
        """Those of `writes` one statement takes (at most `most`, in order, one of each item and of each application
        known), and the others, in order."""
        taken: list[_Write] = []
        kept: list[_Write] = []
        items: set[Any] = set()
        owners: set[Any] = set()
        for write in writes:
            owner = self._owners.get(write.item)
            if write.item in items or owner in owners or len(taken) >= most:
                kept.append(write)
            else:
                taken.append(write)
                items.add(write.item)
                if owner is not None:
                    owners.add(owner)
        return taken, kept

    async def _behind(self, key: tuple[Batch, str]) -> None:
        """Until fewer than WRITES_AHEAD of group `key`'s statements are in flight (`_writes_ahead`), and at most
        WRITE_STALLED_AFTER in all: the writes that come meanwhile go in the next one."""
        loop = asyncio.get_running_loop()
        until = loop.time() + WRITE_STALLED_AFTER
        while True:
            ahead, stalls = self._writes_ahead(key)
            now = loop.time()
            if ahead < WRITES_AHEAD or stalls is None or self._closed or now >= until:
                return
            waiter = loop.create_future()
            self._wrote.setdefault(key, collections.deque()).append(waiter)
            try:
                # Awaited itself, the waiter wakes this task as the statement ahead is done, before the writes that
                # statement answers go on: the next statement is sent first (on the connection just given back,
                # unless another caller waited for one), and the database runs it while the loop answers them
                # (`asyncio.wait` woke it a turn later, behind them all, the database idle). Unless the processors
                # are the bound: then the next statement waits for some of those writers first (`_linger`).
                async with asyncio.timeout(max(min(stalls, until) - now, 0.001)):
                    await waiter
            except TimeoutError:
                pass  # the one ahead stalled, or this wait is over: both are seen above
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one(key)  # woken just as it was cancelled: the next one's turn
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()

    async def combined(self, batch: Batch, prefix: str, item: Any, params: Callable[[], dict[str, Any]]) -> Any:
        """The row of one write (`params()`, called once the connection is known), run with the others of `batch`
        made with `prefix` that wait for the next connection, in one statement (the module's docstring); `item`
        names what it writes (two writes of one item never share a statement). Its row, or None; Alone when it must
        run as a statement of its own. It waits for a connection at most POOL_ACQUIRE_TIMEOUT, as one alone."""
        loop = asyncio.get_running_loop()
        group = self._groups.get((batch, prefix))
        if group is None:
            group = self._groups[(batch, prefix)] = _Group()
        self._arrivals += 1
        write = _Write(item, params, loop.create_future(), self._arrivals,
                       loop.time() + self.db.settings.pool_acquire_timeout)
        group.pending.append(write)
        filling = self._filling.get((batch, prefix))
        if filling is not None and filling[0] is group and len(group.pending) >= filling[1] and not filling[2].done():
            filling[2].set_result(None)  # as many as its carrier waited for (`_linger`)
        self._ask(batch, prefix, group)
        try:
            row = await write.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                group.pending.remove(write)  # not sent yet: it never will be
            raise
        finally:
            # An error its future answers has this frame in its traceback: the frame then lets go of the write and
            # its future, which hold that error (else a cycle that only the collector frees: `app.GC_YOUNG`).
            write = group = None  # noqa: F841
        return row

    def _ask(self, batch: Batch, prefix: str, group: _Group) -> None:
        """Have a task wait for a connection for the group's writes, unless one does."""
        if group.pending and not group.asking:
            group.asking = True
            # Its own context: it serves many requests, and carries none's.
            task = asyncio.get_running_loop().create_task(self._carry(batch, prefix, group),
                                                          context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _settle(writes: list[_Write], failure: Callable[[_Write], BaseException]) -> None:
        """Answer `writes` (those whose callers still wait) with an exception each, `failure(write)`."""
        for write in writes:
            if not write.future.done():
                write.future.set_exception(failure(write))

    async def _carry(self, batch: Batch, prefix: str, group: _Group) -> None:
        """Wait for a connection (until the first of the waiting writes' acquire deadlines), then send the group's
        writes waiting then (BATCH_MAX at most, one per item and per application known) in one statement; those
        left wait for the next connection."""
        loop = asyncio.get_running_loop()
        live = [write for write in group.pending if not write.future.done()]
        try:
            if not live:
                raise _Nothing
            gathered = self._gathering(live)
            if gathered:
                await self._behind((batch, prefix))
                await self._linger((batch, prefix), group)
            conn = await self._borrow(min(write.deadline for write in live))
        except BaseException as error:
            group.asking = False
            now = loop.time()
            if isinstance(error, _Nothing):
                failed, failure = [], None
            elif isinstance(error, Unavailable):  # each runs through the executor, within what is left of its wait
                failed, failure = list(group.pending), lambda write: Alone(max(write.deadline - now, 0.0))
            elif isinstance(error, ServiceUnavailable) and not self._closed:  # no connection in time: those whose
                failed = [write for write in group.pending if write.deadline <= now + 0.001]  # wait is over; the
                failure = lambda write: ServiceUnavailable(database.NO_CONNECTION)  # noqa: E731 - others wait on
            else:  # cancelled, or closed (the worker is stopping), or what no connection should fail with
                failed, failure = list(group.pending), lambda write: ServiceUnavailable(database.NO_CONNECTION)
            for write in failed:
                with contextlib.suppress(ValueError):
                    group.pending.remove(write)
            if failure is not None:
                self._settle(failed, failure)
            if not isinstance(error, Exception):
                raise
            self._ask(batch, prefix, group)
            self._forget(batch, prefix, group)
            return
        group.asking = False
        taken, kept = self._one_statement([write for write in group.pending if not write.future.done()], BATCH_MAX)
        group.pending.clear()  # those whose callers gave up go
        group.pending.extend(kept)
        for write in kept:
            write.passed = True
        self._ask(batch, prefix, group)
        if not taken:
            self._give_back(conn)
            self._forget(batch, prefix, group)
            return
        try:
            await self._send_batch(conn, batch, prefix, group, taken, counted=gathered)
        finally:
            # Each is answered, or deferred, by now; unless something unforeseen failed.
            self._settle([write for write in taken if write not in group.pending],
                         lambda write: ServiceUnavailable(UNKNOWN_OUTCOME))
            self._forget(batch, prefix, group)

    def _forget(self, batch: Batch, prefix: str, group: _Group) -> None:
        """Drop a group with nothing to do (there is one for each key that writes)."""
        if not group.pending and not group.asking and self._groups.get((batch, prefix)) is group:
            del self._groups[(batch, prefix)]

    def _owned(self, item: Any, owner: str) -> None:
        """Note the application `item` is of (it never changes): a statement takes one write of each application."""
        if len(self._owners) >= OWNERS_KEPT:
            self._owners.clear()
        self._owners[item] = owner

    async def _send_batch(self, conn: Connection, batch: Batch, prefix: str, group: _Group,
                          taken: list[_Write], counted: bool = True) -> None:
        """Run `taken` as one statement on `conn` and answer each write; those it deferred go back to `group`, in
        the order they came. `counted`: it counts in flight for the group (`crowded`), unless its writes went
        without gathering (`_gathering`)."""
        loop = asyncio.get_running_loop()
        outcome = None
        sent = False
        alone = len(taken) == 1
        rows: dict[int, Any] = {}
        later: list[_Write] = []  # deferred: another of its application's is in this statement
        apart: set[int] = set()  # busy (its application another transaction's), or its new name taken: alone
        failure: Callable[[_Write], BaseException] | None = None
        try:
            conn.prefix = prefix
            cur = conn.cursor() if alone else conn.cursor(cursor_factory=database.TupleCursor)
            values = taken[0].params() if alone else batch.values([write.params() for write in taken])
            writing = object() if counted else None
            try:
                sent = True
                if writing is not None:
                    self._writing[writing] = ((batch, prefix), loop.time())
                cur.execute(batch.single if alone else batch.query, values)
                await self._wait(conn, loop.time() + self.db.bound)
            finally:
                self._written(writing)
                self.db.written()  # it may have committed: publish it
            if alone:
                row = cur.fetchone() if cur.description is not None else None
                if row is not None:
                    rows[1] = row
            names = () if alone else [column.name for column in cur.description]
            for found in () if alone else cur.fetchall():
                row = dict(zip(names, found))
                n, deferred, busy, written = row.pop("n"), row.pop("deferred"), row.pop("busy"), row.pop("written")
                self._owned(taken[n - 1].item, row.pop("owner"))
                if deferred:
                    later.append(taken[n - 1])
                elif busy:
                    apart.add(n)
                elif written:
                    rows[n] = row
        except RETRYABLE as error:
            outcome = "kept"
            log.warning("the database cancelled a statement of %d writes (%s): each runs again alone", len(taken),
                        first_line(error))
            failure = _alone
        except TIMED_OUT as error:
            outcome = "kept"
            if isinstance(error, psycopg2.errors.LockNotAvailable) and not alone:
                failure = _alone  # rolled back: each waits for its own locks alone
            else:
                failure = lambda write: ServiceUnavailable("The database did not answer in time.")  # noqa: E731
        except database.LOST as error:
            outcome = "kept"
            self.db.lost_statements(error)
            failure = _alone  # rolled back, nothing of it done: each runs again alone, as plain SQL
        except (psycopg2.OperationalError, psycopg2.InterfaceError, TimeoutError, OSError) as error:
            outcome = "broken"
            log.warning("database connection failed: %s", first_line(error) if str(error) else
                        "no answer within the bound")
            failure = lambda write: ServiceUnavailable(UNKNOWN_OUTCOME)  # noqa: E731
        except psycopg2.Error as error:
            outcome = "kept"
            # Rolled back as a whole: each runs again alone, to its own outcome; one write alone had its own (what
            # its statement run again would raise).
            failure = (lambda write, error=error: error) if alone else _alone
        except BaseException:
            outcome = "in flight" if sent else None
            failure = (lambda write: ServiceUnavailable(UNKNOWN_OUTCOME)) if sent else _alone
            raise
        finally:
            self._after(conn, outcome)
            if failure is not None:
                self._settle(taken, failure)
                failure = None  # (it holds the error it answered with, whose traceback holds this frame)
            else:
                if counted:
                    self._answer((batch, prefix), len(taken) - len(later) - len(apart))
                if later:  # carried once: a new acquire timeout, and in line as they came
                    deadline = loop.time() + self.db.settings.pool_acquire_timeout
                    for write in later:
                        write.deadline, write.passed = deadline, True
                    waiting = sorted([*group.pending, *later], key=lambda write: write.arrival)
                    group.pending.clear()
                    group.pending.extend(waiting)
                    self._ask(batch, prefix, group)
                deferred = set(map(id, later))
                for n, write in enumerate(taken, 1):
                    if write.future.done() or id(write) in deferred:
                        continue
                    if n in apart:
                        write.future.set_exception(Alone())  # it waits for its application's lock alone
                    else:
                        write.future.set_result(rows.get(n))


def _alone(write: _Write) -> BaseException:
    return Alone()


class _Nothing(Exception):
    """A group's task found no write waiting."""


async def ready(conn: psycopg2.extensions.connection) -> None:
    """Drive an asynchronous connection until its connect or query is done, waiting on the loop. The socket is read
    again after every poll: while it moves on to the next host of a list, libpq opens a new one."""
    loop = asyncio.get_running_loop()
    while True:
        state = conn.poll()
        if state == POLL_OK:
            return
        fd = conn.fileno()
        done = loop.create_future()
        watch, unwatch = ((loop.add_reader, loop.remove_reader) if state == POLL_READ
                          else (loop.add_writer, loop.remove_writer))
        watch(fd, lambda: done.done() or done.set_result(None))
        try:
            await done
        finally:
            unwatch(fd)


async def first_row(db: Database, query: str, params: Callable[[], dict[str, Any]], *,
                    key_id: str | None = None, item: Any = None) -> Any:
    """The first row of one statement, `query` with `params()`, in autocommit: on the event loop where the worker has
    its loop's pool (`Database.on_loop`) and it has a connection to give, else through the executor. `key_id`: the
    managed API key that makes the change (`database.as_key`). `item`: what a write with a form for many
    (`batched`) writes, which lets it share a statement with others when the loop's connections are all lent; such a
    write of an application with as many writes under way as the worker allows waits its turn first (`LoopPool.turn`),
    within POOL_ACQUIRE_TIMEOUT."""
    pool = db.on_loop
    if pool is None or item is None:
        return await _first_row(db, query, params, key_id, item)
    owner, waiter = pool.turn(item)
    if waiter is not None:  # as many of its application's writes are under way: it waits its turn here
        try:
            async with asyncio.timeout(db.settings.pool_acquire_timeout):
                await waiter
        except BaseException as error:
            pool.turn_given_up(owner, waiter)
            if isinstance(error, TimeoutError):
                raise ServiceUnavailable(HELD_UP) from None
            raise
    try:
        row = await _first_row(db, query, params, key_id, item)
    finally:
        if owner is not None:
            pool.turn_over(owner)
    if owner is None and isinstance(row, dict) and (application := row.get("application_id")) is not None:
        pool._owned(item, application)  # a configuration's row names it
    return row


async def _first_row(db: Database, query: str, params: Callable[[], dict[str, Any]], key_id: str | None,
                     item: Any) -> Any:
    prefix = database.key_setting(key_id) if key_id is not None else ""
    wait = None
    pool = db.on_loop
    if pool is not None:
        try:
            if item is not None and (batch := BATCHES.get(query)) is not None:
                if not pool.crowded(batch, prefix):  # alone at once, counted in flight for its group
                    return await pool.first_row(query, params, prefix=prefix, group=(batch, prefix))
                try:
                    return await pool.combined(batch, prefix, item, params)
                except Alone as alone:  # alone after all, not counted: it held up no other write
                    if alone.left is not None:
                        raise Unavailable(alone.left) from None
            return await pool.first_row(query, params, prefix=prefix)
        except Unavailable as error:
            wait = error.left

    def unit(cur: Any) -> Any:
        cur.connection.prefix += prefix
        cur.execute(query, params())
        return cur.fetchone() if cur.description is not None else None
    return await db.run(unit, wait=wait)


async def addresses(url: str) -> dict[str, str]:
    """The `host`, `hostaddr` and `port` that connect to `url`'s hosts without libpq resolving a name (it would
    block the loop): each host named by a name is resolved here, on the loop, and stands once for each of its
    addresses, in the resolver's order (libpq's own, trying each in turn). Nothing when no host needs a resolver
    (IP addresses, a socket's folder, localhost) or the URL gives `hostaddr` itself. Unavailable when no name
    resolves (the executor's pool connects then, and says why)."""
    if "hostaddr" in psycopg2.extensions.parse_dsn(url):
        return {}
    listed = dbprobe.hosts(url)
    if all(_local(host) for host, _ in listed):
        return {}
    loop = asyncio.get_running_loop()
    hosts, hostaddrs, ports = [], [], []
    for host, port in listed:
        if _local(host):
            found = [""]  # libpq's own: an empty hostaddr uses the host as it is
        else:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                continue  # as libpq does with a name that does not resolve: on to the next host
            found = list(dict.fromkeys(info[4][0] for info in infos))
        hosts += [host] * len(found)
        hostaddrs += found
        ports += [str(port)] * len(found)
    if not hosts:
        raise Unavailable
    return {"host": ",".join(hosts), "hostaddr": ",".join(hostaddrs), "port": ",".join(ports)}


def _local(host: str) -> bool:
    """Whether libpq reaches `host` without asking a resolver: an IP address, a socket's folder, localhost."""
    if host.startswith("/") or host in ("", "localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
