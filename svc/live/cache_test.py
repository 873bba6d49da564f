import asyncio
import functools

import pytest

from live.cache import Copy, Entry, answer
from wire.problems import NotFound


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


def copy_with(max_bytes: int = 10_000, synced: bool = True) -> tuple[Copy, list[int]]:
    copy = Copy(max_bytes=max_bytes)
    copy.current = True
    rounds: list[int] = []

    async def sync(tick: int) -> bool:
        rounds.append(tick)
        await asyncio.sleep(0)
        return synced

    copy.sync = sync
    return copy, rounds


def get(copy: Copy, db: Database, key: str, group: str | None = None):
    return answer(copy, key, lambda: db.read(key), lambda value: Entry(f'"{value}"', str(value).encode()), group)


@run
async def test_a_second_read_is_answered_from_the_copy_after_a_sync_round():
    copy, rounds = copy_with()
    db = Database()
    db.values["c:1"] = 1
    assert (await get(copy, db, "c:1")).body == b"1" and rounds == []  # a miss needs no round: it reads the database
    assert (await get(copy, db, "c:1")).body == b"1"
    assert db.reads == 1 and len(rounds) == 1 and copy.hits == 1


@run
async def test_a_change_makes_the_next_read_go_to_the_database():
    copy, _ = copy_with()
    db = Database()
    db.values["c:1"] = 1
    await get(copy, db, "c:1")
    db.values["c:1"] = 2
    copy.changed("c:1")
    assert (await get(copy, db, "c:1")).body == b"2" and db.reads == 2


@run
async def test_a_change_during_a_read_keeps_that_read_out_of_the_copy():
    copy, _ = copy_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    reading = asyncio.create_task(get(copy, db, "c:1"))
    await asyncio.sleep(0)
    db.values["c:1"] = 2
    copy.changed("c:1")  # committed after the read's snapshot, notified before it was kept
    db.gate.set()
    assert (await reading).body == b"1"  # fine for that read: it overlapped the write
    assert (await get(copy, db, "c:1")).body == b"2"  # but not kept for the next


@run
async def test_reads_that_find_a_fetch_in_flight_join_it_after_a_round():
    copy, rounds = copy_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    first = asyncio.create_task(get(copy, db, "c:1"))
    await asyncio.sleep(0)
    others = [asyncio.create_task(get(copy, db, "c:1")) for _ in range(50)]
    await asyncio.sleep(0)
    db.gate.set()
    assert {e.body for e in await asyncio.gather(first, *others)} == {b"1"}
    assert db.reads == 1 and rounds


@run
async def test_a_fetch_made_stale_in_flight_is_not_joined():
    copy, _ = copy_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    first = asyncio.create_task(get(copy, db, "c:1"))
    await asyncio.sleep(0)
    db.values["c:1"] = 2
    copy.changed("c:1")
    later = asyncio.create_task(get(copy, db, "c:1"))
    await asyncio.sleep(0)
    db.gate.set()
    assert (await first).body == b"1" and (await later).body == b"2"


@run
async def test_pages_go_stale_with_their_group():
    copy, _ = copy_with()
    db = Database()
    db.values["p:1"] = 1
    await get(copy, db, "p:1", group="apps")
    db.values["p:1"] = 2
    copy.group_changed("other")
    assert (await get(copy, db, "p:1", group="apps")).body == b"1"
    copy.group_changed("apps")
    assert (await get(copy, db, "p:1", group="apps")).body == b"2"


@run
async def test_without_a_listener_or_a_round_every_read_goes_to_the_database():
    no_round, _ = copy_with(synced=False)
    no_listener, _ = copy_with()
    no_listener.current = False
    for copy in (no_round, no_listener):
        db = Database()
        db.values["c:1"] = 1
        for _ in range(3):
            await get(copy, db, "c:1")
        assert db.reads == 3


@run
async def test_missing_is_raised_and_not_kept():
    copy, _ = copy_with()
    db = Database()
    with pytest.raises(NotFound):
        await get(copy, db, "c:1")
    db.values["c:1"] = 1
    assert (await get(copy, db, "c:1")).body == b"1"


@run
async def test_memory_stays_within_the_setting_least_recently_used_leave_first():
    copy, _ = copy_with(max_bytes=3 * (400 + 1000))
    db = Database()
    for i in range(10):
        db.values[f"c:{i}"] = i
        await answer(copy, f"c:{i}", lambda i=i: db.read(f"c:{i}"), lambda v: Entry("", b"x" * 1000))
        await answer(copy, "c:0", lambda: db.read("c:0"), lambda v: Entry("", b"x" * 1000))  # keep c:0 in use
        assert copy.size <= copy.max_bytes
    assert set(copy.entries) == {"c:0", "c:8", "c:9"}


@run
async def test_clear_forgets_everything_and_reads_in_flight_are_not_kept():
    copy, _ = copy_with()
    db = Database()
    db.values["c:1"] = 1
    await get(copy, db, "c:1")
    db.gate.clear()
    copy.changed("c:1")
    reading = asyncio.create_task(get(copy, db, "c:1"))
    await asyncio.sleep(0)
    copy.clear()
    db.gate.set()
    await reading
    assert "c:1" not in copy.entries and copy.size == 0


@run
async def test_a_change_makes_every_fetch_in_flight_stale_not_only_the_newest():
    copy, _ = copy_with()
    db = Database()
    db.values["c:1"] = 1
    db.gate.clear()
    older = asyncio.create_task(get(copy, db, "c:1"))
    await asyncio.sleep(0)
    copy.changed("c:1")  # a first change: the older fetch is stale; a newer one starts
    newer = asyncio.create_task(get(copy, db, "c:1"))
    for _ in range(5):  # through its sync round, to its own read of the database
        await asyncio.sleep(0)
    assert db.reads == 2
    db.values["c:1"] = 2
    copy.changed("c:1")  # a second change, while both are in flight
    db.gate.set()
    await asyncio.gather(older, newer)
    assert "c:1" not in copy.entries  # neither read of version 1 was kept
    assert (await get(copy, db, "c:1")).body == b"2"
