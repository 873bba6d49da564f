"""The worker's copy of what is read, kept current by the change feed's notifications, and never served stale.

Reads are linearizable: a GET answers a state at least as new as every write acknowledged before it began, on
whichever worker the write ran. The copy holds rendered answers (ETag and body) under keys: `c:<configuration>`
and `a:<application>`, versioned, and listing pages, under a group (`l:<application>` for an application's
configurations, `apps` for the application listing) whose every change makes them stale.

A read that finds its key in the copy first waits for a *sync round* (`Watcher.sync`): one query on the listening
connection that began after the read did. PostgreSQL delivers a listener every notification of the transactions
that committed before that query, ahead of the query's answer, so once the round is back every write acknowledged
before the read began has had its notification applied here: what is still in the copy is current. Reads share
rounds, as etcd's ReadIndex shares its confirmation: a round in flight serves the reads that came before it, and
the reads that arrive meanwhile wait for the next one. A read that finds nothing goes to the database, as before,
and leaves what it read in the copy, unless a notification for that key arrived while it read. Reads of a key that
another read is already fetching join that fetch when it began after them, or, after a sync round, when no
notification for the key has arrived since it began (this is what answers 1,000 waiters of one configuration with
one query).

While the listener is down, or a round does not come back within `SYNC_TIMEOUT`, reads go to the database; the
copy is emptied whenever the listener connects or is lost, since notifications may have been missed.
"""

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from wire import etags
from wire.replies import render_json
from wire.problems import NotFound

# The longest a sync round may take; past it, its reads and the next ones read the database instead.
SYNC_TIMEOUT = 1.0
# What an entry costs beyond its body: the key, the ETag, the objects around them.
ENTRY_OVERHEAD = 400


@dataclass(slots=True)
class Entry:
    """A rendered answer: its ETag (empty: none) and JSON body."""

    etag: str
    body: bytes
    generation: int = 0  # for pages: their group's generation when the read that made them began

    def response(self) -> Response:
        return Response(self.body, headers={"ETag": self.etag} if self.etag else None, media_type="application/json")


@dataclass(slots=True)
class Flight:
    """A read of the database in progress for one key."""

    tick: int
    future: asyncio.Future
    group: str | None = None
    stale: bool = False


@dataclass
class Copy:
    max_bytes: int
    entries: OrderedDict[str, Entry] = field(default_factory=OrderedDict)
    size: int = 0
    hits: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        self._ticks = itertools.count(1)
        self._flights: dict[str, list[Flight]] = {}  # every fetch in flight per key, the newest last
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self.sync: Callable[[int], Awaitable[bool]] | None = None  # set by the watcher: True once a round
        self.current = False  # after the read's tick has come back; `current`: the listener is connected

    def tick(self) -> int:
        return next(self._ticks)

    # -- reading ---------------------------------------------------------------------------------------------
    async def read(self, key: str, fetch: Callable[[], Awaitable[tuple[Entry | None, Any]]],
                   group: str | None = None) -> tuple[Entry | None, Any]:
        """The current entry of `key` and whatever `fetch` gave with it. `fetch()` reads the database and gives
        the entry to keep (or None: keep nothing) and a value for the caller (a 404 problem, say)."""
        started = self.tick()
        if self.max_bytes <= 0 or not self.current:
            return await fetch()
        flight = self._newest(key)
        if flight is not None and flight.tick > started:
            return await self._join(flight)  # it began after this read did: it is new enough
        if key in self.entries or flight is not None:
            if not await self._synced(started):
                return await fetch()
            entry = self._valid(key, group)
            if entry is not None:
                self.hits += 1
                return entry, None
            flight = self._newest(key)
            if flight is not None and not flight.stale:
                return await self._join(flight)
        self.misses += 1
        return await self._fetch(key, fetch, group)

    def _newest(self, key: str) -> Flight | None:
        flights = self._flights.get(key)
        return flights[-1] if flights else None

    async def _synced(self, started: int) -> bool:
        # The watcher answers False at once when the listener is down or a round is late (SYNC_TIMEOUT).
        return False if self.sync is None else await self.sync(started)

    def _valid(self, key: str, group: str | None) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if group is not None and entry.generation != self._generations.get(group, 0):
            self._drop(key)
            return None
        self.entries.move_to_end(key)
        return entry

    async def _join(self, flight: Flight) -> tuple[Entry | None, Any]:
        self.hits += 1
        return await asyncio.shield(flight.future)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[tuple[Entry | None, Any]]],
                     group: str | None) -> tuple[Entry | None, Any]:
        loop = asyncio.get_running_loop()
        flight = Flight(self.tick(), loop.create_future(), group)
        epoch = self._epoch
        generation = self._generations.get(group, 0) if group is not None else None
        self._flights.setdefault(key, []).append(flight)
        try:
            result = await fetch()
        except BaseException as error:
            if not flight.future.done():
                flight.future.set_exception(error)
                flight.future.exception()  # retrieved: joined readers get it, nobody else must
            raise
        finally:
            flights = self._flights[key]
            flights.remove(flight)
            if not flights:
                del self._flights[key]
        if not flight.future.done():
            flight.future.set_result(result)
        entry = result[0]
        if entry is not None and not flight.stale and epoch == self._epoch and self.current:
            if generation is not None:
                entry.generation = generation
            self._store(key, entry)
        return result

    # -- keeping it current ----------------------------------------------------------------------------------
    def _store(self, key: str, entry: Entry) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body) + ENTRY_OVERHEAD
        self.entries[key] = entry
        self.size += len(entry.body) + ENTRY_OVERHEAD
        while self.size > self.max_bytes and self.entries:
            _, evicted = self.entries.popitem(last=False)
            self.size -= len(evicted.body) + ENTRY_OVERHEAD

    def _drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body) + ENTRY_OVERHEAD

    def changed(self, key: str) -> None:
        """A notification: `key` changed (whatever the version: a write from psql need not raise it)."""
        self._drop(key)
        for flight in self._flights.get(key, ()):  # every one: an older fetch may end after a newer one
            flight.stale = True

    def group_changed(self, group: str) -> None:
        """A notification: every page of `group` is stale."""
        self._generations[group] = self._generations.get(group, 0) + 1
        for flights in self._flights.values():
            for flight in flights:
                if flight.group == group:
                    flight.stale = True
        if len(self._generations) > 100_000:  # bounded: forgetting generations forgets the pages with them
            self.clear()

    def clear(self) -> None:
        """Forget everything (the listener connected or was lost: notifications may have been missed)."""
        self._epoch += 1
        self.entries.clear()
        self._generations.clear()
        self.size = 0
        for flights in self._flights.values():
            for flight in flights:
                flight.stale = True


def versioned(model: type[BaseModel]) -> Callable[[dict], Entry]:
    """What renders a row of `model` (with `id` and `version`) as an answer with its strong ETag."""
    def render(row: dict) -> Entry:
        return Entry(etags.make(row["id"], row["version"]), render_json(model, row))
    return render


async def answer(copy: Copy, key: str, read: Callable[[], Awaitable[Any]], render: Callable[[Any], Entry],
                 group: str | None = None) -> Entry:
    """The current answer under `key`: from the copy when it is current, else `render(await read())`. A 404 of
    `read` is raised, and not kept."""
    async def fetch() -> tuple[Entry | None, Any]:
        try:
            found = await read()
        except NotFound as missing:
            return None, missing
        return render(found), None

    entry, missing = await copy.read(key, fetch, group)
    if entry is None:
        raise missing
    return entry
