import asyncio
import functools

import pytest

from live import readcache
from live.keys import EVERYTHING, Change
from live.readcache import Entry, ReadCache, tolerance
from tools import harness
from wire.headers import Staleness
from wire.problems import NotFound, ServiceUnavailable


def run(test):
    """An async test run on an event loop of its own."""
    @functools.wraps(test)
    def sync() -> None:
        asyncio.run(test())
    return sync


class Database:
    """A fake table of one value per key, counting reads; `gate` holds reads until set."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def read(self, key: str) -> int:
        self.reads += 1
        value = self.values.get(key)
        await self.gate.wait()
        if value is None:
            raise NotFound("no such key")
        return value


def cache_with(max_bytes: int = 10_000, synced: bool = True) -> tuple[ReadCache, list[int]]:
    """A read cache whose listener is connected; its sync rounds answer `synced` and are listed by tick."""
    cache = ReadCache(max_bytes=max_bytes)
    rounds: list[int] = []

    async def sync(tick: int) -> bool:
        rounds.append(tick)
        await asyncio.sleep(0)
        return synced

    cache.connected(sync)
    return cache, rounds


def get(cache: ReadCache, db: Database, key: str, group: str | None = None, size: int = 0):
    async def fetch() -> Entry:
        value = await db.read(key)
        return Entry(f'"{value}"', str(value).encode().ljust(size))  # padded to `size` bytes
    return cache.read(key, fetch, group)


def changed(*entries: str, groups: tuple[str, ...] = ()) -> Change:
    return Change(entries, groups)


@run
async def test_a_second_read_is_answered_from_the_cache_after_a_sync_round():
    cache, rounds = cache_with()
    db = Database()
    db.values["c:1"] = 1
    assert (await get(cache, db, "c:1")).body == b"1" and rounds == []  # a miss needs no round: it reads the database
    assert (await get(cache, db, "c:1")).body == b"1"
    assert db.reads == 1 and len(rounds) == 1


@run
async def test_a_change_makes_the_next_read_go_to_the_database():
    cache, _ = cache_with()
    db = Database()
    db.values["c:1"] = 1
    await get(cache, db, "c:1")
    db.values["c:1"] = 2
    cache.apply(changed("c:1"))
    assert (await get(cache, db, "c:1")).body == b"2" and db.reads == 2


@run
async def test_a_change_during_a_read_keeps_that_read_out_of_the_cache():
    cache, _ = cache_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    reading = asyncio.create_task(get(cache, db, "c:1"))
    await harness.until_async(lambda: db.reads == 1, "the read's snapshot")
    db.values["c:1"] = 2
    cache.apply(changed("c:1"))  # committed after the read's snapshot, notified before it was kept
    db.gate.set()
    assert (await reading).body == b"1"  # fine for that read: it overlapped the write
    assert (await get(cache, db, "c:1")).body == b"2"  # but not kept for the next


@run
async def test_reads_that_find_a_fetch_in_flight_join_it_after_a_round():
    cache, rounds = cache_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    first = asyncio.create_task(get(cache, db, "c:1"))
    await asyncio.sleep(0)
    others = [asyncio.create_task(get(cache, db, "c:1")) for _ in range(50)]
    await asyncio.sleep(0)
    db.gate.set()
    assert {e.body for e in await asyncio.gather(first, *others)} == {b"1"}
    assert db.reads == 1 and rounds


@run
async def test_a_fetch_outlives_the_read_that_started_it_for_those_that_joined_it_and_is_kept():
    """The read that started a fetch is cancelled (its client gone, a held request's check cut at its deadline): the
    reads that joined it are answered by it all the same, not with its cancellation (which they answered as a 503,
    "the service stopped"), and what it read is kept. A 404 is everyone's."""
    for value in (1, None):
        cache, _ = cache_with()
        db = Database()
        if value is not None:
            db.values["c:1"] = value
        db.gate.clear()
        first = asyncio.create_task(get(cache, db, "c:1"))
        await harness.until_async(lambda: db.reads == 1, "the first read's fetch")
        joined = [asyncio.create_task(get(cache, db, "c:1")) for _ in range(3)]
        await settle()  # (they join it after their round)
        first.cancel()
        await settle()
        db.gate.set()
        answers = await asyncio.gather(*joined, return_exceptions=True)
        assert first.cancelled() and db.reads == 1, db.reads  # the one fetch, not ended with the read that began it
        for answer in answers:
            assert answer.body == b"1" if value is not None else isinstance(answer, NotFound), answer
        if value is not None:
            assert (await get(cache, db, "c:1")).body == b"1" and db.reads == 1  # kept
        assert cache._flights == {} and cache._fetches == set()


@run
async def test_a_fetch_made_stale_in_flight_is_not_joined():
    cache, _ = cache_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    first = asyncio.create_task(get(cache, db, "c:1"))
    await harness.until_async(lambda: db.reads == 1, "the first read's snapshot")
    db.values["c:1"] = 2
    cache.apply(changed("c:1"))
    later = asyncio.create_task(get(cache, db, "c:1"))
    await asyncio.sleep(0)
    db.gate.set()
    assert (await first).body == b"1" and (await later).body == b"2"


@run
async def test_pages_go_stale_with_their_group():
    cache, _ = cache_with()
    db = Database()
    db.values["p:1"] = 1
    await get(cache, db, "p:1", group="apps")
    db.values["p:1"] = 2
    cache.apply(changed(groups=("other",)))
    assert (await get(cache, db, "p:1", group="apps")).body == b"1"
    cache.apply(changed(groups=("apps",)))
    assert (await get(cache, db, "p:1", group="apps")).body == b"2"


@run
async def test_without_a_listener_or_a_round_every_read_goes_to_the_database():
    no_round, _ = cache_with(synced=False)
    no_listener, _ = cache_with()
    no_listener.disconnected()
    for cache in (no_round, no_listener):
        db = Database()
        db.values["c:1"] = 1
        for _ in range(3):
            await get(cache, db, "c:1")
        assert db.reads == 3


@run
async def test_missing_is_raised_and_not_kept():
    cache, _ = cache_with()
    db = Database()
    with pytest.raises(NotFound):
        await get(cache, db, "c:1")
    db.values["c:1"] = 1
    assert (await get(cache, db, "c:1")).body == b"1"


@run
async def test_memory_stays_within_the_setting_least_recently_used_leave_first():
    cache, _ = cache_with(max_bytes=3 * (400 + 1000))
    db = Database()
    for i in range(10):
        db.values[f"c:{i}"] = i
        await get(cache, db, f"c:{i}", size=1000)
        await get(cache, db, "c:0", size=1000)  # keep c:0 in use
        assert cache.size <= cache.max_bytes
    assert set(cache.entries) == {"c:0", "c:8", "c:9"}


@run
async def test_a_change_of_everything_forgets_everything_and_reads_in_flight_are_not_kept():
    cache, _ = cache_with()
    db = Database()
    db.values["c:1"] = 1
    await get(cache, db, "c:1")
    db.gate.clear()
    cache.apply(changed("c:1"))
    reading = asyncio.create_task(get(cache, db, "c:1"))
    await asyncio.sleep(0)
    cache.apply(EVERYTHING)
    db.gate.set()
    await reading
    assert "c:1" not in cache.entries and cache.size == 0


@run
async def test_a_change_makes_every_fetch_in_flight_stale_not_only_the_newest():
    cache, _ = cache_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    older = asyncio.create_task(get(cache, db, "c:1"))
    await asyncio.sleep(0)
    cache.apply(changed("c:1"))  # a first change: the older fetch is stale; a newer one starts
    newer = asyncio.create_task(get(cache, db, "c:1"))
    for _ in range(5):  # through its sync round, to its own read of the database
        await asyncio.sleep(0)
    assert db.reads == 2
    db.values["c:1"] = 2
    cache.apply(changed("c:1"))  # a second change, while both are in flight
    db.gate.set()
    await asyncio.gather(older, newer)
    assert "c:1" not in cache.entries  # neither read of version 1 was kept
    assert (await get(cache, db, "c:1")).body == b"2"


@run
async def test_reads_that_join_a_fetch_of_something_missing_get_its_404_too():
    cache, _ = cache_with()
    db = Database()
    db.gate.clear()
    first = asyncio.create_task(get(cache, db, "c:1"))
    await asyncio.sleep(0)
    others = [asyncio.create_task(get(cache, db, "c:1")) for _ in range(5)]
    await asyncio.sleep(0)
    db.gate.set()
    answers = await asyncio.gather(first, *others, return_exceptions=True)
    assert all(isinstance(a, NotFound) for a in answers) and db.reads == 1 and cache.entries == {}


async def a_failing_fetch(listener: str) -> tuple[ReadCache, Database, asyncio.Task]:
    """A read cache whose listener is "connected" or "lost" (`listener`), and a read of "c:1", which is not there,
    whose fetch is in flight (held until `db.gate` is set)."""
    cache, _ = cache_with()
    if listener == "lost":
        cache.disconnected()
    db = Database()
    db.gate.clear()
    first = asyncio.create_task(get(cache, db, "c:1"))
    await settle()
    return cache, db, first


@pytest.mark.parametrize("listener", ["connected", "lost"])
@pytest.mark.parametrize("starter", ["answered", "cancelled"])
def test_a_fetch_that_failed_alone_leaves_nothing_for_the_cyclic_collector(listener, starter, patient):
    """As below, for a fetch no other read joined (a GET of a configuration that is not there, every time: a 404 is
    never kept), whose read is answered its error, or goes away before it (then nobody awaits it)."""
    async def read() -> str:
        cache, db, alone = await a_failing_fetch(listener)
        if starter == "cancelled":
            alone.cancel()
            await settle()
        db.gate.set()
        await settle()
        # (gathered: re-raised in this frame, the error would hold it, and it the task, a cycle of the test's own)
        [answer] = await asyncio.gather(alone, return_exceptions=True)
        return type(answer).__name__

    asyncio.run(read())  # (what a first run makes for good)
    answer, left = harness.garbage_of(lambda: asyncio.run(read()))
    assert answer == ("NotFound" if starter == "answered" else "CancelledError")
    assert not left, f"cyclic garbage left by a failed fetch: {left}"


@pytest.mark.parametrize("listener", ["connected", "lost"])
def test_a_fetch_that_failed_leaves_nothing_for_the_cyclic_collector_whoever_joined_it(listener, patient):
    """The error a fetch raised is one for every read that joined it, and the fetch's future keeps it and its
    traceback: a frame on its way that holds the future made a cycle, the whole request's frames with it, freed only
    by the collector (which the service runs seldom: `app.GC_YOUNG`). Joined reads that swallow the error (a held
    request answering it itself, a key's ring read answered 503) are among them. So with the listener lost, where
    the reads that began after the first's fetch share the next one (`_uncached`)."""
    async def reads() -> list:
        cache, db, first = await a_failing_fetch(listener)

        async def swallowed() -> str:
            try:
                await get(cache, db, "c:1")
            except NotFound:
                return "swallowed"
            return "answered"

        others = [asyncio.create_task(swallowed()) for _ in range(3)]
        await asyncio.sleep(0)
        db.gate.set()
        answers = await asyncio.gather(first, *others, return_exceptions=True)
        assert db.reads == (1 if listener == "connected" else 2)  # they did join it (or, lost, the next)
        return [type(a).__name__ if isinstance(a, BaseException) else a for a in answers]

    asyncio.run(reads())  # (what a first run makes for good)
    answers, left = harness.garbage_of(lambda: asyncio.run(reads()))
    assert answers == ["NotFound", "swallowed", "swallowed", "swallowed"]
    assert not left, f"cyclic garbage left by a failed fetch: {left}"


@run
async def test_nothing_is_kept_while_the_listener_is_lost_and_it_reconnects_to_an_empty_cache():
    cache, _ = cache_with()
    db = Database()
    db.values["c:1"] = 1
    await get(cache, db, "c:1")
    cache.disconnected()
    assert cache.entries == {}
    await get(cache, db, "c:1")
    assert cache.entries == {}
    await get(cache, db, "c:1")
    assert db.reads == 3

    async def synced(tick: int) -> bool:
        return True

    cache.connected(synced)
    await get(cache, db, "c:1")
    await get(cache, db, "c:1")
    assert db.reads == 4
    cache.connected(synced)  # connected again: notifications may have been missed meanwhile
    assert cache.entries == {}


@run
async def test_the_reads_of_one_request_wait_past_the_tick_it_began_at_so_they_share_a_round():
    # The middleware sets `began` as the request arrives; every read of the request waits for a round after that
    # tick (one round, which the listener shares), not one after each read began.
    from live.readcache import began

    cache, rounds = cache_with()
    db = Database()
    db.values.update({"a": 1, "b": 2})
    await get(cache, db, "a")
    await get(cache, db, "b")
    request = cache.tick()

    async def one_request() -> None:
        began.set(request)
        await get(cache, db, "a")  # the key's look-up, say
        await get(cache, db, "b")  # then the resource

    rounds.clear()
    await asyncio.create_task(one_request())
    assert rounds == [request, request]
    rounds.clear()
    await get(cache, db, "a")  # outside any request: a tick of its own
    assert rounds and rounds[0] > request


@run
async def test_what_was_read_from_the_database_after_a_read_began_answers_it_without_a_round():
    # The 1,000 held requests one change wakes all read past the tick it was applied at: the first reads the
    # database, and those that come after its fetch ended take what it kept, without a round; a read that began
    # after that fetch did still waits for one.
    from live.readcache import began

    cache, rounds = cache_with()
    db = Database()
    db.values["c:1"] = 1
    await get(cache, db, "c:1")
    db.values["c:1"] = 2
    cache.apply(changed("c:1"))
    woken = cache.tick()

    async def held() -> bytes:
        began.set(woken)
        return (await get(cache, db, "c:1")).body

    rounds.clear()
    assert [await asyncio.create_task(held()) for _ in range(3)] == [b"2", b"2", b"2"]
    assert db.reads == 2 and rounds == []
    assert (await get(cache, db, "c:1")).body == b"2" and rounds  # begun after that fetch: a round
    assert db.reads == 2


@run
async def test_current_is_what_a_read_would_answer_at_once_and_none_until_its_round_is_known_back():
    cache = ReadCache(max_bytes=1 << 20)
    db = Database()
    db.values["keys"] = 1
    back: set[int] = set()

    async def sync(tick: int) -> bool:
        return True

    cache.connected(sync, lambda tick: tick in back)
    await get(cache, db, "keys")
    started = cache.tick()
    assert cache.kept("keys") is not None and cache.current("keys", started) is None  # its round not back yet
    back.add(started)
    db.values["other"] = 2
    await get(cache, db, "other")
    assert cache.current("keys", started) is cache.kept("keys")
    assert list(cache.entries)[-1] == "keys"  # used: the last to be evicted
    cache.apply(Change(("keys",)))
    assert cache.current("keys", started) is None and cache.kept("keys") is None
    await get(cache, db, "keys")
    cache.disconnected()
    assert cache.current("keys", started) is None


class Unreachable(Database):
    """A fake table that answers 503 while `down`, as the database does while no primary is reachable."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def read(self, key: str) -> int:
        if self.down:
            self.reads += 1
            raise ServiceUnavailable("The database is unavailable.")
        return await super().read(key)


def clocked(cache: ReadCache, now: float = 100.0) -> list[float]:
    """The cache's clock, set by the test: `clock[0]`."""
    clock = [now]
    cache.clock = lambda: clock[0]
    return clock


@run
async def test_a_read_that_accepts_max_stale_is_answered_from_what_is_kept_without_a_round_with_its_age():
    # Kept entries are current as of the sending of the last round that came back (`confirm`): a read that accepts
    # that much staleness is answered at once, with an `Age` rounded up; one that accepts less waits for a round.
    cache, rounds = cache_with()
    clock = clocked(cache)
    db = Database()
    db.values["c:1"] = 1
    await get(cache, db, "c:1")
    tolerance.set(Staleness(always=600))
    await get(cache, db, "c:1")
    assert db.reads == 1 and len(rounds) == 1  # never confirmed yet: the usual read, after a round
    cache.confirm(97.5)
    count = len(rounds)
    answer = await get(cache, db, "c:1")
    assert (answer.body, answer.age, len(rounds), db.reads) == (b"1", 3, count, 1)  # 2.5 s: Age 3
    assert answer.response().headers["age"] == "3" and cache.entries["c:1"].age is None  # a copy carries it
    tolerance.set(Staleness(always=2))
    answer = await get(cache, db, "c:1")
    assert answer.age is None and len(rounds) == count + 1  # too stale for it: confirmed by a round, current
    clock[0] = 97.5
    tolerance.set(Staleness(always=0))
    assert (await get(cache, db, "c:1")).age == 0
    tolerance.set(None)
    clock[0] = 200.0
    assert (await get(cache, db, "c:1")).age is None


@run
async def test_stale_if_error_answers_what_was_kept_only_when_the_database_answers_503():
    cache = ReadCache(max_bytes=10_000)
    late = [False]

    async def sync(tick: int) -> bool:
        return not late[0]  # late: the read goes to the database (a hung primary)

    cache.connected(sync)
    clock = clocked(cache)
    db = Unreachable()
    db.values["c:1"] = 1
    await get(cache, db, "c:1")
    cache.confirm(99.2)
    late[0] = True
    tolerance.set(Staleness(if_error=60))
    assert (await get(cache, db, "c:1")).age is None and db.reads == 2  # the database answers: current, no Age
    db.down = True
    clock[0] = 130.0
    answer = await get(cache, db, "c:1")
    assert (answer.body, answer.age, db.reads) == (b"1", 31, 3)  # 503 from the database: what was kept, aged
    assert (await get(cache, db, "c:1")).age == 31 and db.reads == 3  # the request's next read: at once
    tolerance.set(Staleness(if_error=60))
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:2")  # never kept
    tolerance.set(Staleness(if_error=30))
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:1")  # older than it accepts
    tolerance.set(None)
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:1")


@run
async def test_what_was_kept_when_the_listener_was_lost_answers_stale_reads_until_a_new_round_comes_back():
    cache, _ = cache_with()
    clock = clocked(cache)
    db = Unreachable()
    db.values.update({"c:1": 1, "c:2": 2, "p:1": 5})
    await get(cache, db, "c:1")
    await get(cache, db, "c:2")
    await get(cache, db, "p:1", group="g")
    cache.apply(changed("c:2"))  # changed: not kept, so not answered stale either
    cache.confirm(99.0)
    cache.disconnected()
    assert cache.entries == {}
    db.down = True
    clock[0] = 110.0
    tolerance.set(Staleness(if_error=600))
    assert (await get(cache, db, "c:1")).age == 11
    assert (await get(cache, db, "p:1", group="g")).age == 11
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:2")
    tolerance.set(Staleness(always=600))
    assert (await get(cache, db, "c:1")).age == 11  # at once, the database not asked
    db.down = False

    async def synced(tick: int) -> bool:
        return True

    cache.connected(synced)  # connected again, and lost again before a round came back: still the copy
    db.down = True
    assert (await get(cache, db, "c:1")).age == 11
    cache.confirm(109.0)  # a round of the new connection is back: the copy of before is forgotten
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:1")


@run
async def test_what_a_listener_that_gave_up_kept_is_no_copy():
    # A pool in transaction mode: the rounds that confirmed what is kept may have missed notifications.
    cache, db = await read_once("c:1")
    cache.confirm(99.0)
    cache.disconnected(keep=False)
    db.down = True
    tolerance.set(Staleness(always=600, if_error=600))
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:1")


async def read_once(key: str, group: str | None = None) -> tuple[ReadCache, Unreachable]:
    """A cache whose listener is connected, on a clock of its own, after one read of `key` (in `group`)."""
    cache, _ = cache_with()
    clocked(cache)
    db = Unreachable()
    db.values[key] = 5
    await get(cache, db, key, group=group)
    return cache, db


@run
async def test_a_page_whose_group_changed_is_not_answered_stale():
    cache, db = await read_once("p:1", "g")
    cache.confirm(99.0)
    cache.apply(changed(groups=("g",)))
    db.down = True
    tolerance.set(Staleness(always=600, if_error=600))
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "p:1", group="g")
    cache.disconnected()
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "p:1", group="g")


@run
async def test_nothing_is_answered_stale_before_a_round_confirmed_what_is_kept():
    cache, db = await read_once("c:1")
    cache.disconnected()  # lost before any round came back: what was kept is not known current as of any time
    db.down = True
    tolerance.set(Staleness(always=600, if_error=600))
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:1")


@run
async def test_a_held_requests_next_check_asks_the_database_again_after_one_took_what_was_kept():
    # A pass of reads that found the database unavailable takes what was kept for its other reads at once; the next
    # pass (a held request's next check begins at another tick) asks the database first again.
    from live.readcache import began
    cache, _ = cache_with(synced=False)  # rounds late: every read that can goes to the database (a hung primary)
    clocked(cache)
    db = Unreachable()
    db.values["c:1"] = 5
    await get(cache, db, "c:1")
    cache.confirm(99.0)
    tolerance.set(Staleness(if_error=600))
    began.set(cache.tick())
    db.down = True
    assert (await get(cache, db, "c:1")).age == 1 and db.reads == 2
    assert (await get(cache, db, "c:1")).age == 1 and db.reads == 2  # the same pass: at once
    db.down = False
    began.set(cache.tick())  # the next check (a poll: nothing notified meanwhile)
    answer = await get(cache, db, "c:1")
    assert answer.age is None and db.reads == 3  # current, from the database


@run
async def test_a_change_notified_after_the_listener_connected_again_drops_what_was_set_aside():
    cache, db = await read_once("c:1")
    db.values["p:1"] = 7
    await get(cache, db, "p:1", group="g")
    cache.confirm(99.0)
    cache.disconnected()

    async def synced(tick: int) -> bool:
        return True

    cache.connected(synced)  # no round back yet: what was set aside still answers stale reads
    tolerance.set(Staleness(always=600))
    db.down = True
    assert (await get(cache, db, "c:1")).age == 1 and (await get(cache, db, "p:1", group="g")).age == 1
    cache.apply(changed("c:1", groups=("g",)))  # a check this woke must not find the copy of before the change
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "c:1")
    with pytest.raises(ServiceUnavailable):
        await get(cache, db, "p:1", group="g")


async def settle() -> None:
    """Let every task run as far as it can without time passing."""
    for _ in range(20):
        await asyncio.sleep(0)


async def a_fetch_in_flight(cache: ReadCache | None = None) -> tuple[ReadCache, "Database", asyncio.Task]:
    """A read cache whose listener is lost (or `cache`), a database whose "c:1" is 1 and whose reads are held, and
    a read of "c:1" whose fetch is in flight."""
    if cache is None:
        cache, _ = cache_with()
        cache.disconnected()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    first = asyncio.create_task(get(cache, db, "c:1"))
    await settle()
    return cache, db, first


@pytest.fixture
def patient(monkeypatch):
    """Reads without a round wait out an older fetch however long it takes (`UNKEPT_WAIT`): no test here depends on
    how fast the machine runs it."""
    monkeypatch.setattr(readcache, "UNKEPT_WAIT", 3600.0)


def test_without_a_round_reads_of_one_key_at_once_share_a_fetch_that_began_after_them(patient):
    """While the listener is lost (or a round is late), 50 requests at once for one key are not 50 queries: those
    that began before the fetch in flight share the next one, which began after them all."""
    async def test() -> None:
        no_round, _ = cache_with(synced=False)
        no_round.entries["c:1"] = Entry('"0"', b"0")  # (kept: a read waits for a round, which is late)
        no_listener, _ = cache_with()
        no_listener.disconnected()
        for cache in (no_round, no_listener):
            db = Database()
            db.values["c:1"] = 1
            db.gate.clear()
            first = asyncio.create_task(get(cache, db, "c:1"))
            await settle()  # (its fetch is in flight)
            others = [asyncio.create_task(get(cache, db, "c:1")) for _ in range(50)]
            await settle()
            db.values["c:1"] = 2  # written before the next fetch reads: the 50 began after the first's fetch did
            db.gate.set()
            answers = await asyncio.gather(first, *others)
            assert [a.body for a in answers] == [b"1"] + [b"2"] * 50 and db.reads == 2
            assert cache._unkept == {}
    asyncio.run(test())


def test_without_a_round_a_read_never_takes_a_fetch_that_began_before_it(patient):
    """Linearizable: a read that begins while an older fetch is in flight waits it out and reads again, so a write
    acknowledged before the read began (after the old fetch read) is seen."""
    async def test() -> None:
        cache, db, old = await a_fetch_in_flight()
        db.values["c:1"] = 2  # the write acknowledged; the old fetch read 1
        new = asyncio.create_task(get(cache, db, "c:1"))
        await settle()
        db.gate.set()
        assert ((await old).body, (await new).body, db.reads) == (b"1", b"2", 2)
    asyncio.run(test())


def test_without_a_round_an_older_fetch_that_hangs_is_not_waited_out():
    """One older than `UNKEPT_WAIT` (the database hanging, say) is not waited for: the read fetches at once."""
    async def test() -> None:
        cache, _ = cache_with()
        cache.disconnected()
        now = [100.0]
        cache.clock = lambda: now[0]
        db = Database()
        db.values["c:1"] = 1
        db.gate.clear()
        hung = asyncio.create_task(get(cache, db, "c:1"))
        await settle()
        now[0] += readcache.UNKEPT_WAIT  # (its bound passed)
        later = asyncio.create_task(get(cache, db, "c:1"))
        await settle()
        assert db.reads == 2  # the hung one, and its own
        db.gate.set()
        assert [a.body for a in await asyncio.gather(hung, later)] == [b"1"] * 2
    asyncio.run(test())


def test_without_a_round_a_shared_fetch_outlives_the_request_that_started_it(patient):
    """The request whose read started the fetch goes away (cancelled): those that joined it (they began before it
    did) are answered by it all the same, and a 404 is everyone's."""
    async def test() -> None:
        cache, _ = cache_with()
        cache.disconnected()
        for value in (1, None):
            db = Database()
            if value is not None:
                db.values["c:1"] = value
            db.gate.clear()
            before = cache.tick()

            async def joining():
                readcache.began.set(before)  # (its request began before the fetch: it joins it)
                return await get(cache, db, "c:1")
            first = asyncio.create_task(get(cache, db, "c:1"))
            await settle()
            joined = [asyncio.create_task(joining()) for _ in range(3)]
            await settle()
            first.cancel()
            await settle()
            db.gate.set()
            answers = await asyncio.gather(*joined, return_exceptions=True)
            assert db.reads == 1, db.reads  # the one fetch, not ended with the request that started it
            for answer in answers:
                assert answer.body == b"1" if value is not None else isinstance(answer, NotFound), answer
            await settle()
            assert cache._unkept == {} and cache._unkept_tasks == set()
    asyncio.run(test())


def test_without_a_round_reads_that_waited_out_an_older_fetch_in_vain_share_the_next(monkeypatch):
    """Reads waiting for an older fetch that does not land within `UNKEPT_WAIT` (the database slow, or hanging)
    start one fetch between them when their wait runs out, not one each. Whatever the machine's speed: the older
    fetch lands only once the next one has begun, and the reads that still waited for it then join that one."""
    monkeypatch.setattr(readcache, "UNKEPT_WAIT", 0.01)

    async def test() -> None:
        cache, db, slow = await a_fetch_in_flight()
        began = cache.tick()  # (the 20 requests began now, after the slow fetch: however late each first runs)

        async def waiting_read():
            readcache.began.set(began)
            return await get(cache, db, "c:1")
        waiting = [asyncio.create_task(waiting_read()) for _ in range(20)]
        await harness.until_async(lambda: db.reads == 2, "a wait run out and the next fetch begun")
        db.gate.set()
        answers = await asyncio.gather(slow, *waiting)
        assert [a.body for a in answers] == [b"1"] * 21 and db.reads == 2, db.reads
    asyncio.run(test())



@run
async def test_a_read_past_a_late_round_that_finds_a_change_not_notified_drops_what_is_kept_and_says_so():
    """With only the listening connection slow (its rounds late, not lost), reads go to the database, and the
    notification of a change may come seconds later: the held requests of its key waited that long. A read that
    finds an answer other than the one kept tells of the change at once (`found_newer`, which wakes the key's
    waiters); one that finds the same answer tells nothing. A group every view is in is not told (it would wake
    every view's waiters)."""
    cache = ReadCache(max_bytes=10_000)
    late = []

    async def sync(tick: int) -> bool:
        return not late

    cache.connected(sync)
    told = []
    cache.found_newer = told.append
    db = Database()
    db.values.update({"c:1": 1, "c:2": 5})
    assert (await get(cache, db, "c:1")).body == b"1" and (await get(cache, db, "c:2", group="v:2")).body == b"5"
    assert cache.kept("c:1") is not None and cache.kept("c:2") is not None
    late.append(True)  # the rounds are late from now on: reads go to the database
    db.values["c:1"] = 2  # committed; its notification has not come
    readcache.began.set(cache.tick())
    assert (await get(cache, db, "c:1")).body == b"2"
    await settle()
    assert told == [Change(("c:1",))] and cache.kept("c:1") is None
    readcache.began.set(cache.tick())
    assert (await get(cache, db, "c:2", group="v:2")).body == b"5"  # the same answer: nothing to tell
    await settle()
    assert told == [Change(("c:1",))] and cache.kept("c:2") is not None
    db.values["c:2"] = 6
    readcache.began.set(cache.tick())
    assert (await cache.read("c:2", lambda: get_entry(db, "c:2"), ("v:2", "envs"))).body == b"6"
    await settle()
    assert told[1:] == [Change(("c:2",), ("v:2",))] and cache.kept("c:2") is None


async def get_entry(db: Database, key: str) -> Entry:
    value = await db.read(key)
    return Entry(f'"{value}"', str(value).encode())


@pytest.mark.parametrize("listener", ["connected", "lost", "read cache off"])
def test_a_shared_read_is_one_fetch_for_the_reads_it_began_after_and_never_kept(listener, patient):
    """`shared` (a page of the change feed): the reads that began before a fetch in flight take it, one that began
    after it waits it out and shares the next, whether the listener is up or not and the read cache on or off; what
    it reads is never kept (the next read, though nothing was notified, reads again)."""
    async def test() -> None:
        cache, _ = cache_with(max_bytes=0 if listener == "read cache off" else 10_000)
        if listener == "lost":
            cache.disconnected()
        db = Database()
        db.values["f:1"] = 1
        db.gate.clear()
        woken = cache.tick()  # (the tick a notification was applied at: every request it woke began then)

        async def read(began: int) -> int:
            readcache.began.set(began)
            return await cache.shared("f:1", lambda: db.read("f:1"))
        first = [asyncio.create_task(read(woken)) for _ in range(10)]
        await settle()
        assert db.reads == 1  # one fetch for the ten, begun after their tick
        later = asyncio.create_task(read(cache.tick()))  # a request that began after that fetch did
        await settle()
        db.values["f:1"] = 2  # written after the first fetch read, acknowledged before the later request began
        db.gate.set()
        assert await asyncio.gather(*first) == [1] * 10 and await later == 2 and db.reads == 2
        readcache.began.set(cache.tick())
        assert await cache.shared("f:1", lambda: db.read("f:1")) == 2 and db.reads == 3
        assert cache.entries == {} and cache._unkept == {}
    asyncio.run(test())
