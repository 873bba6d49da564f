"""The worker's read cache: rendered answers kept current by the change notifications, and never served stale.

Reads are linearizable: a GET answers a state at least as new as every write acknowledged before it began, on
whichever worker the write ran. The cache holds rendered answers (ETag and body) under the keys of `keys.py`: a
configuration's or an application's, and pages under a group whose every change makes them stale.

A read that finds its key here first waits for a *sync round* (`Listener.sync`): one query on the listening
connection that began after the read did. PostgreSQL delivers a listener every notification of the transactions
that committed before that query, ahead of the query's answer, so once the round is back every write acknowledged
before the read began has had its notification applied here: what is still here is current. Reads share rounds,
as etcd's ReadIndex shares its confirmation: a round in flight serves the reads that came before it, and the reads
that arrive meanwhile wait for the next one. A read that finds nothing goes to the database and leaves what it read
here, unless a notification for that key arrived while it read. Reads of a key that another read is already
fetching join that fetch when it began after them, or, after a sync round, when no notification for the key has
arrived since it began (this is what answers 1,000 waiters of one configuration with one query).

The reads of one request share one round: the tick at which the request began (`began`, set by the middleware
that authenticates it, whose look-up of the request's key is the request's first read) is the one every read of it
waits past, so checking the key and reading the resource cost one round between them, not two.

Until the listener is connected, or when a round does not come back in time, reads go to the database; the cache
is emptied whenever the listener connects or is lost, since notifications may have been missed. Those reads of one
key still share what they can (`_uncached`): a read joins a fetch that began after it did, and one that finds a
fetch in flight that began before it waits for that one to land, or for `UNKEPT_WAIT` past its start, and shares
the next; nothing of them is kept. So a worker starts at most one fetch of a key every `UNKEPT_WAIT` (and one at a
time while the database answers within it), however many requests ask for it, as etcd serves many linearizable
reads with one ReadIndex, instead of one a request (20,000 requests a second for one configuration would have been
20,000 queries a second, each holding a pooled connection, for as long as the listener is away).

A GET that accepts a stale answer (`tolerance`) may be answered from what is kept, if it was known current at most
so many seconds ago: at the sending of the last round that came back (`confirm`), as of which every kept entry was
current. With `Cache-Control: max-stale`, without a round; with `stale-if-error`, only when a current answer cannot
be had (503, after waiting for the database as a current read does), and then for the rest of the request's reads.
What was kept when the listener was lost stays kept for such reads, as it was then (`_past`), until a round of the
listener connected again comes back: with no primary to read, a client that asked for it is answered from the
worker's copy, with its `Age`, instead of 503.
"""

import asyncio
import contextvars
import dataclasses
import functools
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Response

from live.keys import APPLICATIONS, ENVIRONMENTS, Change
from wire.headers import Staleness
from wire.problems import ServiceUnavailable

# What an entry costs beyond its body: the key, the ETag, the objects around them.
ENTRY_OVERHEAD = 400
# Seconds past its start a read without a round waits for a fetch of its key that began before it, before the
# next is started (`_uncached`): far past a read of a database that answers (about a millisecond), far below the
# bound of one that hangs (CONNECT_TIMEOUT, STATEMENT_TIMEOUT_MS), so that a key is read at most 20 times a second per
# worker then.
UNKEPT_WAIT = 0.05
PROBE = "probe:"  # (`probe`'s keys among `_uncached`'s)
SHARED = "shared:"  # (`shared`'s)
WIDE = (APPLICATIONS, ENVIRONMENTS)  # groups that every page or view of a kind is in (`_unkept_landed`)

Sync = Callable[[int], Awaitable[bool]]

# The tick at which the request being served began: its reads need a round sent after it, and no later one.
began: contextvars.ContextVar[int] = contextvars.ContextVar("began", default=0)
# How stale an answer the request being served accepts (its `Cache-Control`); None: none.
tolerance: contextvars.ContextVar[Staleness | None] = contextvars.ContextVar("tolerance", default=None)
# The `began` tick of the pass of reads that found the database unavailable and took what was kept (`stale-if-error`):
# that pass's other reads take it at once; a held request's next check, a pass of its own, asks the database again.
unavailable: contextvars.ContextVar[int] = contextvars.ContextVar("unavailable", default=-1)


@dataclass(slots=True)
class Entry:
    """A rendered answer: its ETag (empty: none) and JSON body."""

    etag: str
    body: bytes
    generation: tuple[int, ...] = ()  # for grouped answers: their groups' generations when the read began
    application: str | None = None  # a configuration's application (what a key's scope is checked against)
    value: object = None  # what is kept when it is not an answer (the keys, `access.py`)
    tick: int = 0  # when the read of the database that made it began
    lines: bytes | None = None  # its header lines as written whole (`fastpath.py`), once rendered
    age: int | None = None  # a stale answer's `Age` in seconds (`ReadCache.stale`); None: current
    confirmed: float = 0.0  # and when what it answers was last known current (`ReadCache.clock`)

    def response(self) -> Response:
        headers = {"ETag": self.etag} if self.etag else {}
        if self.age is not None:
            headers["Age"] = str(self.age)
        return Response(self.body, headers=headers or None, media_type="application/json")


@dataclass(slots=True)
class Flight:
    """A read of the database in progress for one key."""

    tick: int
    future: asyncio.Future
    groups: tuple[str, ...] = ()
    stale: bool = False
    began: float = 0.0  # (`clock()`: for `_uncached`)


class ReadCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.size = 0
        self._ticks = itertools.count(1)
        self._flights: dict[str, list[Flight]] = {}  # every fetch in flight per key, the newest last
        self._unkept: dict[str, Flight] = {}  # `_uncached`'s newest fetch in flight per key
        self._unkept_tasks: set[asyncio.Future] = set()  # all of them (the loop holds its tasks only weakly)
        self._fetches: set[asyncio.Future] = set()  # `_fetch`'s, likewise
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self._sync: Sync | None = None  # while the listener is connected: True once a round after a tick is back
        self._synced: Callable[[int], bool] | None = None  # and whether it is back already, without waiting
        self._confirmed: float | None = None  # when the last round that came back was sent (`time.monotonic`)
        # What was kept when the listener was lost, its groups' generations, and when it was last known current:
        # for the reads that accept a stale answer, until a round of the listener connected again is back.
        self._past: tuple[dict[str, Entry], dict[str, int], float] | None = None
        self.clock = time.monotonic
        # Told of a change no notification has told of yet (`_unkept_landed`): the listener wakes its waiters.
        self.found_newer: Callable[[Change], None] | None = None

    def tick(self) -> int:
        """The next tick of the clock that orders reads and sync rounds."""
        return next(self._ticks)

    # -- the listener's state --------------------------------------------------------------------------------
    def connected(self, sync: Sync, synced: Callable[[int], bool] | None = None) -> None:
        """The listener is connected: start empty (notifications may have been missed) and trust what is kept
        once `sync(tick)` answers True; `synced(tick)` says whether it would at once."""
        self._clear()
        self._sync, self._synced = sync, synced

    def disconnected(self, keep: bool = True) -> None:
        """The listener is lost: forget everything and read the database until it is back; what was kept, as of the
        last round that came back, is kept apart for the reads that accept a stale answer (`stale`), unless not to
        `keep` (the listener's rounds cannot be trusted: what they confirmed may have missed changes)."""
        if not keep:
            self._past = None
        elif self._sync is not None and self._confirmed is not None and self.entries:
            self._past = (dict(self.entries), dict(self._generations), self._confirmed)
        self._sync = self._synced = None
        self._clear()

    def confirm(self, sent: float) -> None:
        """A sync round sent at `sent` (`clock()`) is back: everything kept was current when it was sent (and what
        was set aside when the listener was lost, older, is no longer needed)."""
        if self._confirmed is None or sent > self._confirmed:
            self._confirmed = sent
        self._past = None

    def stale(self, key: str, groups: tuple[str, ...], accepted: float) -> Entry | None:
        """The answer kept under `key`, if it was known current at most `accepted` seconds ago (rounded up, as its
        `Age` says), as a copy that carries its `Age`; None otherwise. While the listener is connected, as of the
        last round that came back; while it is lost, as of the last one before (`_past`)."""
        if self._sync is not None and self._confirmed is not None:
            entries, generations, confirmed = self.entries, self._generations, self._confirmed
        elif self._past is not None:  # (lost, or connected again and no round back yet)
            entries, generations, confirmed = self._past
        else:
            return None
        entry = entries.get(key)
        if entry is None:
            return None
        if groups and entry.generation != tuple(generations.get(group, 0) for group in groups):
            return None
        age = self.age(confirmed)
        if age > accepted:
            return None
        return dataclasses.replace(entry, age=age, confirmed=confirmed, lines=None)

    def age(self, confirmed: float) -> int:
        """The `Age` of what was last known current at `confirmed`: the seconds since, rounded up."""
        return math.ceil(max(0.0, self.clock() - confirmed))

    # -- reading ---------------------------------------------------------------------------------------------
    def read(self, key: str, fetch: Callable[[], Awaitable[Entry]],
             group: str | tuple[str, ...] | None = None) -> Awaitable[Entry]:
        """The current answer under `key`, in `group` (one or several): kept, or `fetch()`ed from the database
        (and kept, unless it went stale meanwhile). What `fetch` raises (a 404, say) is raised, and not kept. For
        a request that accepts a stale answer (`tolerance`), perhaps what was kept, with its `Age`."""
        group = (group,) if isinstance(group, str) else group or ()
        accepted = tolerance.get()
        if accepted is None:
            return self._read(key, fetch, group)
        return self._tolerant(key, fetch, group, accepted)

    async def _tolerant(self, key: str, fetch: Callable[[], Awaitable[Entry]], group: tuple[str, ...],
                        accepted: Staleness) -> Entry:
        always = accepted.always
        if accepted.if_error is not None and unavailable.get() == began.get():
            always = accepted.if_error if always is None else max(always, accepted.if_error)
        if always is not None and (entry := self.stale(key, group, always)) is not None:
            return entry
        try:
            return await self._read(key, fetch, group)
        except ServiceUnavailable:
            if accepted.if_error is None or (entry := self.stale(key, group, accepted.if_error)) is None:
                raise
            # The pass's other reads (its key's, then its resource's) take what was kept at once, as of the same
            # state, not each after waiting for the database as long again.
            unavailable.set(began.get())
            return entry

    async def _read(self, key: str, fetch: Callable[[], Awaitable[Entry]], group: tuple[str, ...]) -> Entry:
        started, sync = began.get() or self.tick(), self._sync
        if self.max_bytes <= 0:
            return await fetch()
        if sync is None:
            return await self._uncached(key, fetch, started, group)
        try:
            flight = self._newest(key)
            if flight is not None and flight.tick > started:
                return await asyncio.shield(flight.future)  # it began after this read did: it is new enough
            kept = self.entries.get(key)
            if kept is not None and kept.tick > started:
                # Read from the database after this read began, and no notification of it since: new enough, as a
                # fetch in flight that began after it would be (the 1,000 held requests one change wakes).
                entry = self._valid(key, group)
                if entry is not None:
                    return entry
            if key in self.entries or flight is not None:
                if not await sync(started):  # False at once while the listener is down or a round is late
                    return await self._uncached(key, fetch, started, group)
                entry = self._valid(key, group)
                if entry is not None:
                    return entry
                flight = self._newest(key)
                if flight is not None and not flight.stale:
                    return await asyncio.shield(flight.future)
            return await self._fetch(key, fetch, group)
        except BaseException:
            # What a fetch raised is one error for every read that joined it, kept by the fetch's future, and a
            # joined read's traceback holds this frame: without `flight` in it, that is no cycle (see `_fetch`).
            flight = None
            raise

    def kept(self, key: str) -> Entry | None:
        """What is kept under `key` now, however old: not an answer to serve (`read` is), but something to act on
        before it is confirmed (`current`)."""
        return self.entries.get(key)

    def known(self, key: str) -> Entry | None:
        """What is kept under `key`, or what was set aside when the listener was lost (`stale` may serve it), however
        old: not an answer, something that cannot have changed (a configuration's application)."""
        entry = self.entries.get(key)
        if entry is None and self._past is not None:
            entry = self._past[0].get(key)
        return entry

    async def probe(self, key: str, fetch: Callable[[], Awaitable[object]]) -> None:
        """`fetch()`, whose answer and error are dropped, joined by any other probe of `key` while it runs: a read
        made only to take the time a read of the database takes, once for the requests that ask at once, as those
        of a key not kept share one fetch (`scopes.as_missing`). The shared fetch of `_uncached`, any one in flight
        being new enough."""
        try:
            await self._uncached(PROBE + key, fetch, started=0)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - what it raised is no one's answer
            pass

    async def shared[T](self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        """`fetch()` for a read that began at the request's tick (`began`), shared with every read of `key` that a
        fetch new enough for it serves: one that began after it did, as `_uncached`'s (one that began before it is
        waited out, then the next is shared). Nothing of it is kept: for what is read afresh each time, whose
        answer a notification does not name (a page of the change feed after a position), so that the 1,000 held
        requests one change wakes (at the tick it was applied at, `Waiters.wake`) read it once between them."""
        return await self._uncached(SHARED + key, fetch, began.get() or self.tick())  # type: ignore[arg-type]

    def current(self, key: str, started: int) -> Entry | None:
        """What `read` would answer at once for a read that began at tick `started`, without waiting: the entry
        kept under `key` (one without groups), if a sync round sent after `started` is already back. None when it
        is not known at once (nothing kept, no round back yet, the listener down): `read` it."""
        entry = self.entries.get(key)
        if entry is None or self._synced is None or not self._synced(started):
            return None
        self.entries.move_to_end(key)  # used, as a read's answer is: the last to be evicted
        return entry

    def _newest(self, key: str) -> Flight | None:
        flights = self._flights.get(key)
        return flights[-1] if flights else None

    def _generation(self, groups: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self._generations.get(group, 0) for group in groups)

    def _valid(self, key: str, groups: tuple[str, ...]) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if groups and entry.generation != self._generation(groups):
            self._drop(key)
            return None
        self.entries.move_to_end(key)
        return entry

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[Entry]], groups: tuple[str, ...]) -> Entry:
        """A read of the database under `key`, kept once it lands unless something made it stale meanwhile. It runs
        as a task of its own, as `_uncached`'s do: the reads that joined it (requests alike, the 1,000 held requests
        one change wakes) must not lose it when the one that started it goes away. That one may be cancelled (its
        client gone, a held request's check cut at its deadline: `Waiters.hold`); its fetch then lands for the
        others, and is kept, as if it had waited."""
        # (It begins once this task yields: its tick is taken now, as it was when it ran in the caller's task. In
        # the request's context: the reads it makes wait past the request's `began`.)
        task = asyncio.get_running_loop().create_task(fetch())
        flight = Flight(self.tick(), task, groups)
        self._flights.setdefault(key, []).append(flight)
        self._fetches.add(task)
        task.add_done_callback(functools.partial(self._fetched, key, flight, self._epoch, self._generation(groups)))
        del task
        try:
            return await asyncio.shield(flight.future)
        except BaseException:
            # The task keeps what it raised and its traceback, which holds this frame: without `flight` in it, no
            # cycle, and a failed read (a 404) is freed as its readers are done with it.
            flight = None
            raise

    def _fetched(self, key: str, flight: Flight, epoch: int, generation: tuple[int, ...],
                 task: asyncio.Future) -> None:
        """`_fetch`'s read landed: kept unless a change made it stale, before the reads awaiting it resume. (A read
        that comes between its landing and this takes its answer from the task: new enough, as the flight was for
        it, `_read`.)"""
        self._fetches.discard(task)
        self._landed(key, flight)
        if task.cancelled() or task.exception() is not None:  # (retrieved: those that joined get it, or no one)
            return
        if not flight.stale and epoch == self._epoch and self._sync is not None:
            entry = task.result()
            entry.generation, entry.tick = generation, flight.tick
            self._store(key, entry)

    async def _uncached(self, key: str, fetch: Callable[[], Awaitable[Entry]], started: int,
                        groups: tuple[str, ...] = ()) -> Entry:
        """A read of the database for a read that began at tick `started`, when nothing kept can answer it (the
        listener is lost, or a round is late): a fetch of `key` that began after it did, its own or one it joins;
        one that began before it is waited out, since it may have missed a write acknowledged before this read
        began. The fetch runs as a task of its own, so that the request that started it going away does not end it
        for those that joined. Not kept: with no round to confirm it, nothing says when it goes stale. But an answer
        other than the one kept under `key` is a change whose notification has not come (the listener late, not
        lost): what is kept is dropped, and the key's waiters are told (`_unkept_landed`)."""
        flight: Flight | None = None
        try:
            while True:
                flight = self._unkept.get(key)
                if flight is None:
                    break
                if flight.tick > started:
                    return await asyncio.shield(flight.future)
                # An older fetch: what it answers is not this read's, nor its errors. It is waited out only until
                # UNKEPT_WAIT past its start (the database may be hanging: this read would wait for its bound
                # twice); then the first read to see it still the newest starts the next, and the others join that.
                left = flight.began + UNKEPT_WAIT - self.clock()
                if left > 0:
                    landed, _ = await asyncio.wait((flight.future,), timeout=left)
                    if landed or self._unkept.get(key) is not flight:
                        continue
                break
            task = asyncio.get_running_loop().create_task(fetch(), context=contextvars.Context())  # (no request's)
            flight = self._unkept[key] = Flight(self.tick(), task, groups, began=self.clock())
            self._unkept_tasks.add(task)
            task.add_done_callback(functools.partial(self._unkept_landed, key, flight))
            del task
            return await asyncio.shield(flight.future)
        except BaseException:
            # The future keeps the error and its traceback, which holds this frame: without `flight` in it, no
            # cycle (as `_fetch`).
            flight = None
            raise

    def _unkept_landed(self, key: str, flight: Flight, future: asyncio.Future) -> None:
        self._unkept_tasks.discard(future)
        if self._unkept.get(key) is flight:
            del self._unkept[key]
        if future.cancelled() or future.exception() is not None:  # (retrieved: those that joined get it, or no one)
            return
        kept, entry = self.entries.get(key), future.result()
        if kept is not None and (kept.etag != entry.etag or kept.body != entry.body):
            # The database answers otherwise than what is kept: a write committed whose notification has not come.
            # While only the listening connection is slow (its rounds late, not lost), the notification may come
            # DEAD_SECONDS later, and the held requests of the key would wait that long; a GET read it now. What
            # is kept goes, and the key's waiters re-check (those of a group every view is in, `APPLICATIONS`,
            # `ENVIRONMENTS`, are left to the notification: waking them all would read every view again, while the
            # database is slow to answer). A fetch older than what is kept wakes them for nothing, no worse.
            change = Change((key,), tuple(group for group in flight.groups if group not in WIDE))
            self.apply(change)
            if self.found_newer is not None:
                self.found_newer(change)

    def _landed(self, key: str, flight: Flight) -> None:
        flights = self._flights[key]
        flights.remove(flight)
        if not flights:
            del self._flights[key]

    # -- keeping it current ----------------------------------------------------------------------------------
    def apply(self, change: Change) -> None:
        """A notification: what it names is stale (whatever the version: a write from psql need not raise it), in
        what was set aside when the listener was lost too (kept until a round is back: a check that a change woke
        must not find what the change made stale there)."""
        if change.everything:
            self._past = None
            self._clear()
            return
        if self._past is not None:
            past, generations, _ = self._past
            for key in change.entries:
                past.pop(key, None)
            for group in change.groups:
                generations[group] = generations.get(group, 0) + 1
        for key in change.entries:
            self._drop(key)
            for flight in self._flights.get(key, ()):  # every one: an older fetch may end after a newer one
                flight.stale = True
        for group in change.groups:
            self._generations[group] = self._generations.get(group, 0) + 1
            for flights in self._flights.values():
                for flight in flights:
                    if group in flight.groups:
                        flight.stale = True
        if len(self._generations) > 100_000:  # bounded: forgetting generations forgets the pages with them
            self._clear()

    def _store(self, key: str, entry: Entry) -> None:
        self._drop(key)
        self.entries[key] = entry
        self.size += len(entry.body) + ENTRY_OVERHEAD
        while self.size > self.max_bytes and self.entries:
            _, evicted = self.entries.popitem(last=False)
            self.size -= len(evicted.body) + ENTRY_OVERHEAD

    def _drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body) + ENTRY_OVERHEAD

    def _clear(self) -> None:
        self._epoch += 1
        self._confirmed = None
        self.entries.clear()
        self._generations.clear()
        self.size = 0
        for flights in self._flights.values():
            for flight in flights:
                flight.stale = True
