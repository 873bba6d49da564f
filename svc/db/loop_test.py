import asyncio
import collections
import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator

import psycopg2.errors
import psycopg2.extensions
import pytest

from db import database, loop
from db.database import Database
from db.loop import LoopPool, Unavailable
from wire import jsontext
from wire.problems import ServiceUnavailable
from tools.harness import HANG, until, until_async


@pytest.fixture
def table(sql):
    sql.execute("CREATE TABLE IF NOT EXISTS loop_test_t (k int PRIMARY KEY, v int)")
    sql.execute("TRUNCATE loop_test_t")


def with_pool(settings, scenario, **update):
    """Run `scenario(db, pool)` on a new event loop, with a Database and its loop pool, closed after. Waits for a
    connection, a lock or a statement are bounded by what only a hang reaches, unless the test says otherwise: a
    statement waiting for the loop's connections asks the executor at OVERFLOW_AFTER or halfway to its acquire
    timeout (`loop._overflow`), and where a test makes OVERFLOW_AFTER long, the default second would make that half
    a second after it came, which a busy machine's stall reaches; and a lock's wait is within the statement's. The
    machine's processors are taken as never the bound (`loop.Contention`: a busy machine's would make statements
    wait for writers at random), unless the scenario says otherwise."""
    hang_ms = int(HANG * 1000)
    patient = {"pool_min": 0, "pool_acquire_timeout": 60, "lock_timeout_ms": hang_ms, "statement_timeout_ms": hang_ms}
    db = Database(settings.model_copy(update=patient | update))

    async def main():
        pool = db.on_loop = LoopPool(db)
        pool.contended = lambda: False
        try:
            return await scenario(db, pool)
        finally:
            pool.close()
    try:
        return asyncio.run(main())
    finally:
        db.close()


def _waiting(sql, condition: str) -> int:
    """The service's statements whose wait `condition` (on `pg_stat_activity`) describes."""
    sql.execute(f"SELECT count(*) AS n FROM pg_stat_activity WHERE {condition} "
                "AND application_name = 'config-service'")
    return sql.fetchone()["n"]


def _waiting_for_advisory(sql) -> int:
    """The service's statements waiting for an advisory lock the test holds."""
    return _waiting(sql, "wait_event = 'advisory'")


def backends(sql) -> list[int]:
    sql.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'config-service'")
    return [row["pid"] for row in sql.fetchall()]


def test_a_statement_runs_on_the_loop_without_an_executor_thread_and_publishes(settings, table):
    kicks = []

    async def scenario(db, pool):
        db.written = lambda: kicks.append(1)
        rows = [await loop.first_row(db, "INSERT INTO loop_test_t VALUES (%(k)s, 1) RETURNING k, v",
                                     lambda k=k: {"k": k}) for k in range(5)]
        return rows, len(db.executor._threads), pool._open

    rows, threads, opened = with_pool(settings, scenario)
    assert [(r["k"], r["v"]) for r in rows] == [(k, 1) for k in range(5)]
    assert threads == 0  # no unit of work went through the executor
    assert opened == 1  # one connection, lent five times in turn
    assert kicks == [1] * 5


def test_the_loop_pool_holds_slots_of_pool_max_and_at_most_half_of_them(settings, sql, table):
    async def scenario(db, pool):
        async def slow(k):
            return await loop.first_row(db, "SELECT pg_sleep(0.2), %(k)s AS k", lambda: {"k": k})
        rows = await asyncio.gather(*(slow(k) for k in range(6)))
        pids = {conn.info.backend_pid for conn in pool._idle}
        return [r["k"] for r in rows], pool._open, pool.size, db.slots._value, pids & set(backends(sql))

    ks, opened, size, free, connected = with_pool(settings, scenario, pool_max=4)
    assert ks == list(range(6))
    assert size == 2 and opened == 2 and len(connected) == 2
    assert free == 2  # the executor keeps the other half of POOL_MAX


def test_without_a_connection_of_its_own_and_no_slot_free_a_statement_runs_through_the_executor(settings):
    async def scenario(db, pool):
        taken = [db.slots.acquire(blocking=False) for _ in range(db.settings.pool_max)]
        assert all(taken)
        with pytest.raises(Unavailable):  # every slot is lent: the loop opens none past POOL_MAX
            await pool.first_row("SELECT 1 AS one", dict)
        for _ in taken:
            db.slots.release()
        db.on_loop = LoopPool(db, size=0)  # a loop that may open none
        return await loop.first_row(db, "SELECT 1 AS one", dict), pool._open, len(db.executor._threads)

    row, opened, threads = with_pool(settings, scenario)
    assert row["one"] == 1 and opened == 0 and threads == 1


def test_a_caller_waits_for_a_connection_at_most_pool_acquire_timeout(settings, sql):
    sql.execute("SELECT pg_advisory_lock(4244)")  # the holder's statement waits for it: until the test lets go

    async def scenario(db, pool):
        holder = asyncio.ensure_future(pool.first_row("SELECT pg_advisory_xact_lock_shared(4244), 1 AS held", dict))
        await asyncio.to_thread(until, lambda: _waiting_for_advisory(sql) == 1, "the holder's statement sent")
        assert db.slots.acquire(blocking=False)  # the executor's last slot is lent too
        try:
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable) as error:  # (a wait for the holder would end at HANG, failing)
                await asyncio.wait_for(pool.first_row("SELECT 1 AS one", dict), HANG)
            waited, holder_done = time.monotonic() - started, holder.done()
        finally:
            db.slots.release()
            await asyncio.to_thread(sql.execute, "SELECT pg_advisory_unlock(4244)")
        await holder
        return error.value, waited, holder_done, await pool.first_row("SELECT 1 AS one", dict)

    error, waited, holder_done, row = with_pool(settings, scenario, pool_max=2, pool_acquire_timeout=0.2)
    assert error.status == 503 and "No database connection" in error.detail
    assert waited > 0.15 and not holder_done  # its own timeout: the holder's statement had not ended
    assert row["one"] == 1  # the connection came back


def test_a_waiter_woken_to_open_a_connection_it_cannot_waits_on_within_the_same_acquire_timeout(settings):
    # A dropped connection wakes a waiter with None, to open one in its place; one that finds no room waits again,
    # within what is left of POOL_ACQUIRE_TIMEOUT: woken over and over, it would otherwise wait for ever.
    async def scenario(db, pool):
        holder = asyncio.ensure_future(pool.first_row("SELECT pg_sleep(30)", dict))
        await until_async(lambda: pool._open == 1 and not pool._idle, "the holder lent the loop's one connection")
        assert db.slots.acquire(blocking=False)  # the executor's last slot is lent too

        async def wake_again_and_again():
            while True:
                pool._give_back(None)
                await asyncio.sleep(0.05)
        waking = asyncio.ensure_future(wake_again_and_again())
        try:
            with pytest.raises(ServiceUnavailable) as error:
                await pool.first_row("SELECT 1 AS one", dict)
            return error.value, holder.done()
        finally:
            waking.cancel()
            db.slots.release()
            holder.cancel()
            await asyncio.gather(holder, waking, return_exceptions=True)

    error, holder_done = with_pool(settings, scenario, pool_max=2, pool_acquire_timeout=0.5)
    assert error.status == 503 and "No database connection" in error.detail
    assert not holder_done  # it gave up on its own, not once the holder's statement ended


def test_a_burst_larger_than_the_loop_s_half_runs_its_overflow_through_the_executor(settings, sql):
    sql.execute("SELECT pg_advisory_lock(4242)")  # every statement of the burst waits for it: all in flight at once

    async def scenario(db, pool):
        burst = asyncio.gather(*(loop.first_row(db, "SELECT pg_advisory_xact_lock_shared(4242), "
                                                    "pg_backend_pid() AS pid", dict) for _ in range(4)))
        await asyncio.to_thread(until, lambda: _waiting_for_advisory(sql) == 4, "four statements in flight")
        await asyncio.to_thread(sql.execute, "SELECT pg_advisory_unlock(4242)")
        rows = await burst
        return len({r["pid"] for r in rows}), pool._open, len(db.executor._threads)

    backends_used, opened, threads = with_pool(settings, scenario, pool_max=4)
    assert backends_used == 4 and opened == 2 and threads == 2  # POOL_MAX in flight: two on the loop, two in threads


def test_a_burst_larger_than_the_loop_s_connections_waits_for_them_and_stays_off_the_executor(settings, monkeypatch):
    """The statements beyond the loop's connections wait for the next one given back (which under a burst comes
    within a millisecond or so) rather than running through the executor's threads, while they have not waited
    OVERFLOW_AFTER (made long here: on a busy machine a statement may take longer than the real one)."""
    monkeypatch.setattr(loop, "OVERFLOW_AFTER", HANG)

    async def scenario(db, pool):
        rows = await asyncio.gather(*(loop.first_row(db, "SELECT pg_backend_pid() AS pid", dict) for _ in range(40)))
        return len({r["pid"] for r in rows}), pool._open, len(db.executor._threads)

    backends_used, opened, threads = with_pool(settings, scenario, pool_max=4)
    assert backends_used == 2 and opened == 2 and threads == 0  # 40 statements, the loop's two connections only


def test_an_acquire_timeout_shorter_than_overflow_after_still_overflows_within_it(settings, sql, monkeypatch):
    """With POOL_ACQUIRE_TIMEOUT shorter than OVERFLOW_AFTER, a statement that finds the loop's connections lent
    runs through the executor halfway through the timeout (not 503 while the executor has a slot), and waits there
    only for what is left of it. (Seconds here, for a busy machine's threads: 5 s and 2 s stand for 0.1 and less.)"""
    monkeypatch.setattr(loop, "OVERFLOW_AFTER", 5.0)
    sql.execute("SELECT pg_advisory_lock(4243)")
    waits = []

    async def scenario(db, pool):
        run = db.run

        async def recorded(fn, *args, **kwargs):
            waits.append(kwargs.get("wait"))
            return await run(fn, *args, **kwargs)
        monkeypatch.setattr(db, "run", recorded)
        burst = asyncio.gather(*(loop.first_row(db, "SELECT pg_advisory_xact_lock_shared(4243), "
                                                    "pg_backend_pid() AS pid", dict) for _ in range(3)))
        await asyncio.to_thread(until, lambda: _waiting_for_advisory(sql) == 3, "three statements in flight")
        await asyncio.to_thread(sql.execute, "SELECT pg_advisory_unlock(4243)")
        rows = await burst
        return len({r["pid"] for r in rows}), len(db.executor._threads)

    backends_used, threads = with_pool(settings, scenario, pool_max=4, pool_acquire_timeout=2.0)
    assert backends_used == 3 and threads == 1  # two on the loop, the third through the executor
    assert len(waits) == 1 and 0 < waits[0] <= 1.0  # after half of the timeout on the loop, at most the rest


def test_the_loop_makes_room_within_pool_max_by_closing_an_idle_connection_of_the_executor(settings, sql):
    async def scenario(db, pool):
        assert db.warm() == 4  # POOL_MIN = POOL_MAX: every connection the executor's, idle
        await asyncio.gather(*(pool.first_row("SELECT pg_sleep(0.2)", dict) for _ in range(2)))
        db._fill()  # the keeper's round: it opens none past POOL_MAX
        return db._open_count, pool._open

    executor_open, loop_open = with_pool(settings, scenario, pool_max=4, pool_min=4)
    assert (executor_open, loop_open) == (2, 2)


def test_a_statement_the_server_does_not_end_is_ended_from_this_side_and_its_outcome_is_unknown(settings, sql):
    async def scenario(db, pool):
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as unknown:
            await pool.first_row("SET statement_timeout = 0; SELECT pg_sleep(300)", dict)
        return unknown.value, time.monotonic() - started, pool._open, await pool.first_row("SELECT 1 AS one", dict)

    error, took, opened_after, row = with_pool(settings, scenario, statement_timeout_ms=1000)
    # The server sleeps on until it notices: ended here, so that the tests after this one count connections right.
    sql.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE '%%pg_sleep(300)%%' AND pid <> pg_backend_pid()")
    assert "whether it was applied is unknown" in error.detail
    assert took < 60  # the bound (1 s + 2 s), not the server's 300 s
    assert opened_after == 0  # the connection was closed, its slot freed
    assert row["one"] == 1


def test_a_statement_cancelled_by_the_server_is_503_and_the_connection_is_kept(settings):
    async def scenario(db, pool):
        with pytest.raises(ServiceUnavailable) as error:
            await pool.first_row("SELECT pg_sleep(5)", dict)
        return error.value, pool._open, len(pool._idle)

    error, opened, idle = with_pool(settings, scenario, statement_timeout_ms=1000)
    assert error.detail == "The database did not answer in time."
    assert opened == 1 and idle == 1


def test_a_broken_connection_is_dropped_with_the_idle_ones_and_the_change_is_not_sent_again(settings, sql, table):
    sent = []

    async def scenario(db, pool):
        await asyncio.gather(*(pool.first_row("SELECT pg_sleep(0.1)", dict) for _ in range(2)))
        assert len(pool._idle) == 2
        with pytest.raises(ServiceUnavailable) as unknown:
            await pool.first_row("INSERT INTO loop_test_t VALUES (1, 1); SELECT pg_terminate_backend(pg_backend_pid())",
                                 lambda: sent.append(1) or {})
        return unknown.value, pool._open, await pool.first_row("SELECT 1 AS one", dict)

    error, opened, row = with_pool(settings, scenario)
    assert "unknown" in error.detail
    assert opened == 0  # the broken one and the idle one, both closed
    assert sent == [1]  # sent once
    assert row["one"] == 1


def test_the_database_s_own_errors_raise_as_they_are_and_the_connection_stays(settings, table):
    async def scenario(db, pool):
        await pool.first_row("INSERT INTO loop_test_t VALUES (1, 1)", dict)
        with pytest.raises(psycopg2.errors.UniqueViolation):
            await pool.first_row("INSERT INTO loop_test_t VALUES (1, 2)", dict)
        return pool._open, await pool.first_row("SELECT v FROM loop_test_t WHERE k = 1", dict)

    opened, row = with_pool(settings, scenario)
    assert opened == 1 and row["v"] == 1


def test_deadlocks_are_retried(settings, table, caplog):
    sent = []

    async def scenario(db, pool):
        def params():
            sent.append(1)
            return {"fail": len(sent) < 3}
        # A deadlock the server reports, on the first two tries.
        query = ("DO $$ BEGIN IF %(fail)s THEN RAISE EXCEPTION USING ERRCODE = 'deadlock_detected'; END IF; END $$;"
                 "SELECT 'done' AS outcome")
        return await pool.first_row(query, params)

    assert with_pool(settings, scenario)["outcome"] == "done"
    assert len(sent) == 3
    assert [r.getMessage() for r in caplog.records if r.name == "config_service"] == [
        "the database cancelled a statement (deadlock), attempt 1",
        "the database cancelled a statement (deadlock), attempt 2"]


def test_a_connection_to_a_server_that_is_not_the_primary_is_not_used(settings, monkeypatch):
    from db import primary
    monkeypatch.setattr(loop, "identity_of", lambda row: primary.Identity("s", 1, recovery=True))

    async def scenario(db, pool):
        with pytest.raises(Unavailable):
            await pool.first_row("SELECT 1", dict)
        return pool._open, db.slots._value

    opened, free = with_pool(settings, scenario)
    assert opened == 0 and free == settings.pool_max


def test_a_statement_with_a_key_names_it_as_its_transaction_s_maker(settings):
    key = "01JC0000000000000000000000"

    async def scenario(db, pool):
        return await loop.first_row(db, "SELECT current_setting('config_service.key_id', true) AS key", dict,
                                    key_id=key), await pool.first_row(
            "SELECT current_setting('config_service.key_id', true) AS key", dict)

    made, next_one = with_pool(settings, scenario)
    assert made["key"] == key
    assert next_one["key"] in (None, "")  # the setting was the statement's transaction's only


def test_a_connection_handed_to_a_caller_that_gave_up_meanwhile_goes_to_the_next(settings):
    async def scenario(db, pool):
        conn = await pool._borrow()  # the loop's one connection (POOL_MAX 2: its half), lent
        assert db.slots.acquire(blocking=False)  # and the executor's one slot: the next caller waits for the loop
        waiter = asyncio.ensure_future(pool._borrow())
        await asyncio.sleep(0)
        pool._give_back(conn)  # handed over...
        waiter.cancel()  # ...as its caller gives up, in the same turn of the loop
        with pytest.raises(asyncio.CancelledError):
            await waiter
        db.slots.release()
        return pool._open, len(pool._idle), (await pool.first_row("SELECT 1 AS one", dict))["one"]

    opened, idle, one = with_pool(settings, scenario, pool_max=2)
    assert (opened, idle, one) == (1, 1, 1)  # kept, not lost with its slot


def test_a_statement_cancelled_in_flight_drops_its_connection_only(settings):
    async def scenario(db, pool):
        await asyncio.gather(*(pool.first_row("SELECT pg_sleep(0.1)", dict) for _ in range(2)))
        db.warm()
        executor_idle = len(db._idle)
        task = asyncio.ensure_future(pool.first_row("SELECT pg_sleep(5)", dict))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pool._open, len(pool._idle), executor_idle, len(db._idle), db.loop_open

    opened, idle, executor_before, executor_after, counted = with_pool(settings, scenario, pool_min=1)
    assert (opened, idle, counted) == (1, 1, 1)  # the cancelled one closed; the other kept
    assert executor_after == executor_before >= 1  # the executor's idle ones kept


def test_with_pool_max_1_every_statement_runs_through_the_executor(settings):
    async def scenario(db, pool):
        rows = [await loop.first_row(db, "SELECT 1 AS one", dict) for _ in range(3)]
        rows.append(await db.run(lambda cur: cur.execute("SELECT 2 AS two") or cur.fetchone()))
        return pool.size, pool._open, rows

    size, opened, rows = with_pool(settings, scenario, pool_max=1, pool_acquire_timeout=0.5)
    assert (size, opened) == (0, 0) and [r.get("one", r.get("two")) for r in rows] == [1, 1, 1, 2]


def test_the_executor_without_a_free_slot_has_the_loop_close_its_idle_connections(settings):
    together = threading.Barrier(4, timeout=20)  # four units that each hold their connection until all four have one

    def holds(cur):
        cur.execute("SELECT 1")
        together.wait()

    async def scenario(db, pool):
        await asyncio.gather(*(pool.first_row("SELECT pg_sleep(0.1)", dict) for _ in range(2)))
        assert pool._open == 2 and len(pool._idle) == 2  # two of POOL_MAX's four, idle on the loop
        await asyncio.gather(*(db.run(holds) for _ in range(4)))
        return pool._open, db.loop_open

    opened, counted = with_pool(settings, scenario, pool_max=4, pool_acquire_timeout=30)
    assert opened == 0 and counted == 0


def test_a_host_named_by_a_name_is_resolved_on_the_loop_and_each_of_its_addresses_tried_in_turn(settings,
                                                                                                    monkeypatch):
    # libpq would resolve the name itself, blocking the loop: the loop resolves it, and libpq gets its addresses.
    # The first address takes no connection (nothing listens on 127.0.0.2): libpq goes on to the next, as it does
    # with the addresses of a name it resolves itself.
    url = str(settings.database_url)
    host = psycopg2.extensions.parse_dsn(url)["host"]
    named = url.replace(f"@{host}:", "@db.config-service.test:", 1)
    assert named != url
    asked = []

    async def scenario(db, pool):
        async def getaddrinfo(name, port, **_):
            asked.append((name, port))
            assert name == "db.config-service.test"
            return [(2, 1, 6, "", ("127.0.0.2", port)), (2, 1, 6, "", (host, port)), (2, 1, 6, "", (host, port))]
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo, raising=False)
        row = await loop.first_row(db, "SELECT inet_server_port() AS port", dict)
        return row, pool._open, len(db.executor._threads)

    row, opened, threads = with_pool(settings.model_copy(update={"database_url": named}), scenario)
    port = int(psycopg2.extensions.parse_dsn(url)["port"])
    assert row["port"] == port and asked == [("db.config-service.test", port)]
    assert opened == 1 and threads == 0  # on the loop, not through the executor (whose libpq knows no such name)


def test_libpq_is_given_the_addresses_of_the_names_and_what_it_resolves_itself_as_it_was(monkeypatch):
    answers = {"db1.test": ["10.0.0.1", "10.0.0.2", "10.0.0.1"], "db2.test": ["fd00::2"]}

    async def getaddrinfo(name, port, **_):
        if name not in answers:
            raise OSError("Name or service not known")
        return [(2, 1, 6, "", (address, port)) for address in answers[name]]

    async def given(url):
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo, raising=False)
        return await loop.addresses(url)

    run = lambda url: asyncio.run(given(url))  # noqa: E731
    for local in ("postgresql://u:p@127.0.0.1:5432,10.0.0.2:5432/d", "postgresql://u:p@[::1]:5432/d",
                  "postgresql://u:p@localhost/d", "postgresql:///d?host=/var/run/postgresql",
                  "postgresql://u:p@db1.test/d?hostaddr=10.0.0.9"):
        assert run(local) == {}, local
    assert run("postgresql://u:p@db1.test:6432,127.0.0.1:5432,nowhere.test:5433,db2.test/d") == {
        "host": "db1.test,db1.test,127.0.0.1,db2.test",
        "hostaddr": "10.0.0.1,10.0.0.2,,fd00::2",
        "port": "6432,6432,5432,5432",
    }
    with pytest.raises(Unavailable):  # no name resolves: the executor's pool connects, and says why it cannot
        run("postgresql://u:p@nowhere.test,elsewhere.test/d")


def test_the_executor_short_of_a_slot_has_only_a_connection_idle_for_a_while_closed(settings, monkeypatch):
    # Under a stream of writes the loop's connections are idle for moments only: closing them whenever the executor
    # lacked a slot had the loop open 10-15 new ones a second. One idle GIVEN_UP_AFTER is closed, one at a time.
    async def scenario(db, pool):
        await asyncio.gather(*(pool.first_row("SELECT pg_sleep(0.1)", dict) for _ in range(2)))
        assert pool._open == 2 and len(pool._idle) == 2
        monkeypatch.setattr(loop, "GIVEN_UP_AFTER", 3600.0)
        for _ in range(3):
            pool.give_up_idle()
            await asyncio.sleep(0)
        kept = pool._open
        monkeypatch.setattr(loop, "GIVEN_UP_AFTER", 0.0)
        oldest = pool._idle[0]
        pool.give_up_idle()
        await asyncio.sleep(0)
        return kept, pool._open, oldest.closed, db.loop_open

    kept, opened, oldest_closed, counted = with_pool(settings, scenario, pool_max=4)
    assert kept == 2  # idle only just now: kept
    assert opened == 1 and oldest_closed and counted == 1  # then the one idle longest, alone


# -- writes in one statement (`LoopPool.combined`) -------------------------------------------------------------------
def _batches(monkeypatch) -> list[int]:
    """The number of writes each statement of many carried, and "alone" for each statement run alone on the loop
    (the test's own included). None overflows to the executor while the test holds the
    loop's connection."""
    monkeypatch.setattr(loop, "OVERFLOW_AFTER", 5.0)
    sizes = []
    send = LoopPool._send_batch

    async def counted(self, conn, batch, prefix, group, taken, **kwargs):
        sizes.append(len(taken))
        await send(self, conn, batch, prefix, group, taken, **kwargs)
    monkeypatch.setattr(LoopPool, "_send_batch", counted)
    alone = LoopPool.first_row

    async def counted_alone(self, query, params, **kwargs):
        sizes.append("alone")
        return await alone(self, query, params, **kwargs)
    monkeypatch.setattr(LoopPool, "first_row", counted_alone)
    return sizes


def _while_busy(db, pool, writes):
    """Run `writes` (functions of the Database, returning a coroutine) while the loop's one connection is lent to a
    slow statement: they wait for it together. Their outcomes (a row, or the exception), in order."""
    async def run():
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        tasks = []
        for write in writes:
            tasks.append(asyncio.create_task(write(db)))
            await asyncio.sleep(0)  # in this order
        await slow
        return await asyncio.gather(*tasks, return_exceptions=True)
    return run()


def test_writes_waiting_for_the_loop_share_one_statement_each_to_its_own_outcome(settings, cur, monkeypatch):
    from repositories import applications, changes, configurations
    from wire.etags import Named, Preconditions
    from wire.problems import NotFound, PreconditionFailed
    one = applications.create(cur, name="one", comments=None)["id"]
    other = applications.create(cur, name="other", comments=None)["id"]
    a1, a2 = (configurations.create(cur, application_id=one, name=n, comments=None, config={})["id"] for n in "ab")
    b1 = configurations.create(cur, application_id=other, name="c", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)

    def update(id, version=None, **config):
        when = Preconditions() if version is None else Preconditions([Named(version)])
        name = {a1: "a", a2: "b", b1: "c"}.get(id, "x")
        return lambda db: configurations.update_now(db, id, when=when, name=name, comments=None, config=config)

    async def scenario(db, pool):
        return await _while_busy(db, pool, [update(a1, 1, x=1), update(a2, x=2), update(b1, 5, x=3),
                                            update("01JD3B5ZQ6V2K9X4N8M7P1R0ST", x=4), update(a1, 2, x=5),
                                            update(b1, 1, x=6)])
    outcomes = with_pool(settings, scenario, pool_max=2)
    # Each as it would be alone: applied, applied, stale (412), missing (404), applied after the first (its
    # If-Match names the version the first made), applied.
    assert [o["version"] if isinstance(o, dict) else type(o) for o in outcomes] == \
        [2, 2, PreconditionFailed, NotFound, 3, 2]
    # One write per application in a statement: a1 and b1 (stale) first, a2 deferred by a1; then a2 and b1's second
    # (a1's second waits for its first, and then, its application known, for a2); then a1's second.
    assert sizes == ["alone", 4, 2, 1]
    feed = changes.after(cur, one, 0, limit=10)
    assert [(e["seq"], e["configuration_id"], e["version"]) for e in feed][2:] == [(3, a1, 2), (4, a2, 2), (5, a1, 3)]
    assert [(e["seq"], e["version"]) for e in changes.after(cur, other, 0, limit=10)] == [(1, 1), (2, 2)]
    cur.execute("SELECT configuration_id, version, config FROM configuration_revisions WHERE version > 1 "
                "ORDER BY configuration_id, version")
    assert [(r["configuration_id"], r["version"], jsontext.loads(r["config"])) for r in cur.fetchall()] == sorted(
        [(a1, 2, {"x": 1}), (a1, 3, {"x": 5}), (a2, 2, {"x": 2}), (b1, 2, {"x": 6})])


def test_a_statement_of_many_compares_each_version_as_written_in_its_epoch(settings, cur, monkeypatch, timeline):
    # Migration 0020: written at timeline 1, then the database promoted to 2; each write's If-Match and
    # If-None-Match name (version, epoch), in the statement of many as alone.
    from repositories import applications, configurations
    from wire.etags import Named, Preconditions
    from wire.problems import PreconditionFailed
    apps = [applications.create(cur, name=f"e{n}", comments=None)["id"] for n in range(4)]
    ids = [configurations.create(cur, application_id=app, name="c", comments=None, config={})["id"] for app in apps]
    timeline(2)
    sizes = _batches(monkeypatch)

    def update(id, when):
        return lambda db: configurations.update_now(db, id, when=when, name="c", comments=None, config={"x": 1})

    async def scenario(db, pool):
        return await _while_busy(db, pool, [
            update(ids[0], Preconditions([Named(1, 1)])),  # the version as written: applied, in epoch 2
            update(ids[1], Preconditions([Named(1, 2)])),  # the same number as a lost write in epoch 2 named it
            update(ids[2], Preconditions(none_match=[Named(1, 1)])),  # refuses the version as written
            update(ids[3], Preconditions(none_match=[Named(1, 2)]))])  # refuses another: applied
    outcomes = with_pool(settings, scenario, pool_max=2)
    assert [(o["version"], o["epoch"]) if isinstance(o, dict) else type(o) for o in outcomes] == [
        (2, 2), PreconditionFailed, PreconditionFailed, (2, 2)]
    assert "written in epoch 2" in outcomes[1].detail and outcomes[1].headers["ETag"] == f'"{ids[1]}.1"'
    assert 3 in sizes or 4 in sizes, sizes  # (they shared a statement)


def test_a_statement_of_many_that_fails_as_a_whole_runs_each_write_alone(settings, cur, monkeypatch):
    from repositories import applications, configurations
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a = configurations.create(cur, application_id=one, name="a", comments=None, config={})["id"]
    x = configurations.create(cur, application_id=other, name="x", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)

    def update(id, name, **config):
        return lambda db: configurations.update_now(db, id, name=name, comments=None, config=config)

    async def scenario(db, pool):
        return await _while_busy(db, pool, [update(a, "", x=1), update(x, "x", x=2)])
    refused, updated = with_pool(settings, scenario, pool_max=2)
    # An empty name (the contract refuses it before) breaks a check: the statement was rolled back, and each write
    # ran again alone, to its own outcome.
    assert sizes == ["alone", 2, "alone", "alone"]
    assert isinstance(refused, psycopg2.errors.CheckViolation) and updated["version"] == 2
    cur.execute("SELECT id, last_change FROM applications ORDER BY name")
    assert [r["last_change"] for r in cur.fetchall()] == [1, 2]  # x's change made once, a's none
    cur.execute("SELECT count(*) AS n FROM configuration_revisions WHERE configuration_id = %s", (x,))
    assert cur.fetchone()["n"] == 2


def test_a_write_that_waited_alone_for_the_loop_and_failed_is_answered_its_error_and_not_run_again(
        settings, cur, monkeypatch):
    from repositories import applications, configurations
    app = applications.create(cur, name="one", comments=None)["id"]
    a = configurations.create(cur, application_id=app, name="a", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)

    async def scenario(db, pool):
        return await _while_busy(db, pool, [lambda db: configurations.update_now(db, a, name="", comments=None,
                                                                                  config={"x": 1})])
    [refused] = with_pool(settings, scenario, pool_max=2)
    assert isinstance(refused, psycopg2.errors.CheckViolation)
    assert sizes == ["alone", 1]  # the slow statement, then its own, once: no statement of one run twice
    cur.execute("SELECT version FROM configurations WHERE id = %s", (a,))
    assert cur.fetchone()["version"] == 1


def test_a_rename_to_a_name_taken_runs_alone_and_the_others_stay_in_the_statement(settings, cur, monkeypatch):
    from repositories import applications, configurations
    from wire.problems import Conflict
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a, b = (configurations.create(cur, application_id=one, name=n, comments=None, config={})["id"] for n in "ab")
    x = configurations.create(cur, application_id=other, name="x", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)

    def update(id, name, **config):
        return lambda db: configurations.update_now(db, id, name=name, comments=None, config=config)

    async def scenario(db, pool):
        return await _while_busy(db, pool, [update(b, "a", x=1), update(x, "x", x=2)])
    renamed, updated = with_pool(settings, scenario, pool_max=2)
    assert sizes == ["alone", 2, "alone"]  # x's write made in the statement; b's alone, refused there
    assert isinstance(renamed, Conflict) and updated["version"] == 2
    cur.execute("SELECT id, last_change FROM applications ORDER BY name")
    assert [r["last_change"] for r in cur.fetchall()] == [2, 2]


def test_overrides_waiting_for_the_loop_share_one_statement_each_to_its_own_outcome(settings, cur, monkeypatch):
    from repositories import applications, changes, configurations, environments, overrides
    from wire.etags import Named, Preconditions
    from wire.problems import PreconditionFailed
    app = applications.create(cur, name="one", comments=None)["id"]
    config = configurations.create(cur, application_id=app, name="db", comments=None, config={"x": 0})["id"]
    prod, dev = (environments.create(cur, name=n, parent_id=None, comments=None)["id"] for n in ("prod", "dev"))
    for env in (prod, dev):
        overrides.put(cur, config, env, patch={"x": 1}, comments=None)
    sizes = _batches(monkeypatch)

    def replace(env, version, x):
        return lambda db: overrides.put_now(db, config, env, patch={"x": x}, comments="c",
                                         when=Preconditions([Named(version)]), actor="me")

    async def scenario(db, pool):
        return await _while_busy(db, pool, [replace(prod, 1, 2), replace(dev, 7, 3)])
    first, second = with_pool(settings, scenario, pool_max=2)
    assert sizes == ["alone", 2, 1]  # one application: dev's write waited for the statement after prod's
    assert (first["version"], jsontext.loads(first["patch"]), first["comments"], first["created"]) == \
        (2, {"x": 2}, "c", False)
    assert isinstance(second, PreconditionFailed)
    entry = changes.after(cur, app, 0, limit=10)[-1]
    assert (entry["seq"], entry["kind"], entry["environment_id"], entry["environment"], entry["version"],
            entry["by"]) == (4, "updated", prod, "prod", 2, "me")
    cur.execute("SELECT version, patch, created_by FROM override_revisions WHERE environment_id = %s "
                "ORDER BY version", (prod,))
    assert [(r["version"], jsontext.loads(r["patch"]), r["created_by"]) for r in cur.fetchall()] == \
        [(1, {"x": 1}, None), (2, {"x": 2}, "me")]


def test_a_write_given_up_before_its_statement_is_sent_is_never_sent(settings, cur, monkeypatch):
    from repositories import applications, configurations
    app = applications.create(cur, name="one", comments=None)["id"]
    a, b = (configurations.create(cur, application_id=app, name=n, comments=None, config={})["id"] for n in "ab")
    sizes = _batches(monkeypatch)

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        gone = asyncio.create_task(configurations.update_now(db, a, name="a", comments=None, config={"x": 1}))
        kept = asyncio.create_task(configurations.update_now(db, b, name="b", comments=None, config={"x": 1}))
        await asyncio.sleep(0.05)
        gone.cancel()
        await slow
        return await kept
    assert with_pool(settings, scenario, pool_max=2)["version"] == 2
    assert sizes == ["alone", 1]
    cur.execute("SELECT id, version FROM configurations ORDER BY name")
    assert [r["version"] for r in cur.fetchall()] == [1, 2]


def test_a_write_while_a_connection_is_idle_runs_alone_at_once(settings, cur, monkeypatch):
    from repositories import applications, configurations
    app = applications.create(cur, name="one", comments=None)["id"]
    a = configurations.create(cur, application_id=app, name="a", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)

    async def scenario(db, pool):
        return [await configurations.update_now(db, a, name="a", comments=None, config={"x": n}) for n in range(3)]
    assert [row["version"] for row in with_pool(settings, scenario, pool_max=2)] == [2, 3, 4]
    assert sizes == ["alone"] * 3  # each alone at once


@contextlib.contextmanager
def _garbage() -> Iterator[collections.Counter]:
    """What of what the block makes only the cyclic collector would free, by type (counted once the block ends; the
    collector is off within it)."""
    left: collections.Counter = collections.Counter()
    gc.collect()
    gc.disable()
    try:
        yield left
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left.update(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _held(database_url, id, table="applications"):
    """A transaction of another connection holding row `id` of `table` (an application: a change set, say; a
    configuration: a write waits for it): `.rollback()` lets go."""
    holder = psycopg2.connect(database_url)
    holder.cursor().execute(f"SELECT 1 FROM {table} WHERE id = %s FOR NO KEY UPDATE", (id,))
    return holder


def _gathered(pool) -> int:
    """The writes waiting to be carried, in every group."""
    return sum(len(group.pending) for group in pool._groups.values())


def test_a_write_whose_application_another_transaction_holds_waits_alone_holding_up_no_other(
        settings, cur, database_url, monkeypatch):
    from repositories import applications, configurations
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a = configurations.create(cur, application_id=one, name="a", comments=None, config={})["id"]
    b = configurations.create(cur, application_id=other, name="b", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)
    holder = _held(database_url, one)

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        with _garbage() as left:
            held = asyncio.create_task(configurations.update_now(db, a, name="a", comments=None, config={"x": 1}))
            free = asyncio.create_task(configurations.update_now(db, b, name="b", comments=None, config={"x": 1}))
            await slow
            written = await asyncio.wait_for(free, HANG)  # while `one` is still held
            waiting = not held.done()
            holder.rollback()
            later = await asyncio.wait_for(held, HANG)
            del held, free
        return written, waiting, later, left
    try:
        written, waiting, later, left = with_pool(settings, scenario, pool_max=2)
    finally:
        holder.close()
    assert sizes == ["alone", 2, "alone"]  # a's write ran alone, and waited there
    assert written["version"] == 2 and waiting  # b's write answered while a's waited for its application
    assert later["version"] == 2  # a's, made alone once the lock was let go
    # Sent back to run alone, it leaves nothing that only the cyclic collector frees (which the service runs seldom:
    # `app.GC_YOUNG`): the `Alone` its statement answered it with, kept in its future, had a traceback through the
    # frame that held that future.
    assert not left, left


def test_a_statement_of_one_write_that_fails_leaves_nothing_for_the_cyclic_collector(settings, cur, monkeypatch):
    """A write that waited for the loop's connection and went in a statement of its own there (`_send_batch` with
    one write), refused by the database (a rename to a name taken: 409): its error, delivered through its future,
    has a traceback through `_send_batch`'s frame, which must not keep it (`failure`)."""
    from repositories import applications, configurations
    from wire.problems import Conflict
    app = applications.create(cur, name="one", comments=None)["id"]
    configurations.create(cur, application_id=app, name="a", comments=None, config={})
    b = configurations.create(cur, application_id=app, name="b", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        with _garbage() as left:
            renamed = asyncio.create_task(configurations.update_now(db, b, name="a", comments=None, config={}))
            await slow
            try:
                await asyncio.wait_for(renamed, HANG)
                refused = None
            except Conflict as error:
                refused = error.status
            del renamed
        return refused, left
    refused, left = with_pool(settings, scenario, pool_max=2)
    assert sizes == ["alone", 1] and refused == 409
    assert not left, left


def _many(cur):
    """Six applications, a configuration each, an override of each in one environment."""
    from repositories import applications, configurations, environments, overrides
    apps = [applications.create(cur, name=f"app{k}", comments=None)["id"] for k in range(6)]
    configs = [configurations.create(cur, application_id=app, name="n", comments=None, config={"v": 0})["id"]
               for app in apps]
    env = environments.create(cur, name="prod", parent_id=None, comments=None)["id"]
    for config in configs:
        overrides.put(cur, config, env, patch={"x": 0}, comments=None)
    return configs, env


def _writes_of_every_kind(configs, env):
    """Writes of every outcome and of awkward values, as functions of the Database."""
    from repositories import configurations, overrides
    from wire.etags import Named, Preconditions
    big = "é€😀'\"\\" * 20000
    cases = [
        (configs[0], "it's \"quoted\" ✓ é", "NULL", {"u": "😀\u2028", "n": [1, None, {"a": "b"}], "{x,y}": "\\\""},
         Preconditions()),
        (configs[1], "n", "{c'\\x, \"y\"} ", {"big": big, "": ""}, Preconditions([Named(1)])),
        (configs[2], "n", None, {}, Preconditions([])),  # an If-Match naming no version of it: 412
        (configs[3], "n", None, {}, Preconditions(None, None)),  # If-None-Match: *, 412
        (configs[4], "n", None, {}, Preconditions(None, [Named(5)])),
    ]
    writes = [lambda db, c=c: configurations.update_now(db, c[0], name=c[1], comments=c[2], config=c[3], when=c[4])
              for c in cases]
    writes.append(lambda db: overrides.put_now(db, configs[5], env, patch={"ü": "'\"", "z": None}, comments=None,
                                               when=Preconditions([Named(1)]), actor="ä'"))
    writes.append(lambda db: overrides.put_now(db, configs[0], env, patch={"big": "x'" * 50000}, comments="",
                                               when=Preconditions(None, [Named(3)])))
    writes.append(lambda db: overrides.put_now(db, configs[1], env, patch={}, comments=None,
                                               when=Preconditions([])))
    return writes


def _rows(sql):
    """What the writes left in the database, without ids and times."""
    found = []
    for query in (
            "SELECT c.name, c.comments, c.config::text, c.version, a.name AS app FROM configurations c "
            "JOIN applications a ON a.id = c.application_id ORDER BY a.name",
            "SELECT a.name AS app, seq, kind, c.name, c.version, changed_by, changed_by_key, environment "
            "FROM changes c JOIN applications a ON a.id = c.application_id ORDER BY a.name, seq",
            "SELECT a.name AS app, r.version, r.name, r.comments, r.config::text, r.created_by "
            "FROM configuration_revisions r JOIN applications a ON a.id = r.application_id ORDER BY a.name, version",
            "SELECT a.name AS app, r.version, r.patch::text, r.comments, r.created_by "
            "FROM override_revisions r JOIN applications a ON a.id = r.application_id ORDER BY a.name, version",
            "SELECT name, last_change, version FROM applications ORDER BY name",
            # (the changes announced: a statement's are the lines of one row, migration 0019)
            "SELECT sum(1 + octet_length(payload) - octet_length(replace(payload, E'\\n', ''))) AS n FROM change_outbox"):
        sql.execute(query)
        found.append([dict(row) for row in sql.fetchall()])
    return found


def _outcome(outcome):
    if isinstance(outcome, dict):
        return {k: (jsontext.loads(v) if k in ("config", "patch") else v) for k, v in outcome.items()
                if k not in ("id", "application_id", "configuration_id", "environment_id", "created_at", "updated_at")}
    return type(outcome).__name__


def test_writes_in_one_statement_answer_and_write_exactly_what_each_alone_does(settings, cur, monkeypatch):
    cur.execute("TRUNCATE change_outbox")
    configs, env = _many(cur)
    sizes = _batches(monkeypatch)

    async def together(db, pool):
        return await _while_busy(db, pool, _writes_of_every_kind(configs, env))
    batched = with_pool(settings, together, pool_max=2)
    assert sorted(size for size in sizes if size != "alone") == [3, 5]  # the configurations', the overrides'
    rows = _rows(cur)
    cur.execute("TRUNCATE applications, configurations, environments, change_outbox CASCADE")
    configs, env = _many(cur)

    async def each_alone(db, pool):
        outcomes = []
        for write in _writes_of_every_kind(configs, env):
            try:
                outcomes.append(await write(db))
            except Exception as error:
                outcomes.append(error)
        return outcomes
    alone = with_pool(settings, each_alone, pool_max=2)
    assert [_outcome(o) for o in batched] == [_outcome(o) for o in alone]
    assert [_outcome(o) for o in batched][2:4] == ["PreconditionFailed"] * 2
    assert rows == _rows(cur)


@pytest.mark.parametrize("holding", ["environment", "application"])
def test_an_override_whose_environment_or_application_another_transaction_holds_goes_alone_holding_up_no_other(
        settings, cur, database_url, monkeypatch, holding):
    # The statement of many overrides locks the applications and environments it writes, skipping those held: such a
    # write is answered busy there, without holding up the others, and runs alone, waiting for what it needs. Alone, a
    # write of an application another transaction holds waits for it (it numbers the application's feed); one in an
    # environment held waits for nothing: since migration 0023 no revision refers to its environment, so it is
    # written while the holder still holds it (a check that it was still waiting there raced with its statement).
    from repositories import applications, changes, configurations, environments, overrides
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a = configurations.create(cur, application_id=one, name="a", comments=None, config={})["id"]
    b = configurations.create(cur, application_id=other, name="b", comments=None, config={})["id"]
    held_env, free_env = (environments.create(cur, name=n, parent_id=None, comments=None)["id"] for n in "ef")
    overrides.put(cur, a, held_env, patch={"x": 0}, comments=None)
    overrides.put(cur, b, free_env, patch={"x": 0}, comments=None)
    sizes = _batches(monkeypatch)
    if holding == "environment":
        holder = psycopg2.connect(database_url)  # a change of the environment, in its transaction
        holder.cursor().execute("SELECT version FROM environments WHERE id = %s FOR UPDATE", (held_env,))
    else:
        holder = _held(database_url, one)

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        held = asyncio.create_task(overrides.put_now(db, a, held_env, patch={"x": 1}, comments=None))
        await asyncio.sleep(0)
        free = asyncio.create_task(overrides.put_now(db, b, free_env, patch={"x": 1}, comments=None))
        await slow
        written = await asyncio.wait_for(free, HANG)  # while the environment (or the application) is still held
        if holding == "environment":
            later = await asyncio.wait_for(held, HANG)  # the environment still held
            holder.rollback()
            return written, None, later
        waiting = not held.done()
        holder.rollback()
        return written, waiting, await asyncio.wait_for(held, HANG)
    try:
        written, waiting, later = with_pool(settings, scenario, pool_max=2)
    finally:
        holder.close()
    assert sizes == ["alone", 2, "alone"]
    assert written["version"] == 2 and later["version"] == 2
    if holding == "application":
        assert waiting  # (in an environment held, it was written while still held: `held` awaited above)
    # Each application's feed numbered once for its write, after its creations (the configuration's, the override's).
    for app, env in ((one, held_env), (other, free_env)):
        entry = changes.after(cur, app, 0, limit=10)[-1]
        assert (entry["seq"], entry["kind"], entry["environment_id"], entry["version"]) == (3, "updated", env, 2)


def test_a_write_waits_for_a_connection_at_most_pool_acquire_timeout_from_when_it_came(settings, cur, monkeypatch):
    from repositories import applications, configurations
    apps = [applications.create(cur, name=f"a{k}", comments=None)["id"] for k in range(2)]
    configs = [configurations.create(cur, application_id=app, name="n", comments=None, config={})["id"]
               for app in apps]

    cur.execute("SELECT pg_advisory_lock(4245)")  # the slow statement waits for it: until the test lets go

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_advisory_xact_lock_shared(4245), 1 AS slept", dict))
        await asyncio.to_thread(until, lambda: _waiting_for_advisory(cur) == 1, "the slow statement sent")
        assert db.slots.acquire(blocking=False)  # the executor's slot: nothing overflows there

        async def timed(config):
            began = time.monotonic()
            with pytest.raises(ServiceUnavailable):  # (a wait for the slow statement would end at HANG, failing)
                await asyncio.wait_for(configurations.update_now(db, config, name="n", comments=None,
                                                                 config={"x": 1}), HANG)
            return time.monotonic() - began, slow.done()
        first = asyncio.create_task(timed(configs[0]))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(timed(configs[1]))  # joins the first's wait for a connection
        try:
            waited = await asyncio.gather(first, second)
        finally:
            db.slots.release()
            await asyncio.to_thread(cur.execute, "SELECT pg_advisory_unlock(4245)")
        await slow
        return waited
    waited = with_pool(settings, scenario, pool_max=2, pool_acquire_timeout=0.5)
    # Its own timeout, from when it came: not the first's (0.45 s for the second), and not the slow statement's end.
    assert all(took >= 0.49 and not slow_done for took, slow_done in waited)


def test_writes_waiting_when_the_pool_closes_are_answered_503(settings, cur, monkeypatch):
    from repositories import applications, configurations
    _batches(monkeypatch)
    apps = [applications.create(cur, name=f"a{k}", comments=None)["id"] for k in range(2)]
    configs = [configurations.create(cur, application_id=app, name="n", comments=None, config={})["id"]
               for app in apps]

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        writes = []
        for config in configs:
            writes.append(asyncio.create_task(configurations.update_now(db, config, name="n", comments=None,
                                                                       config={"x": 1})))
            await asyncio.sleep(0.02)
        pool.close()
        db.executor.shutdown(wait=False)  # as the worker's shutdown: the loop's pool, then the executor's
        return await asyncio.gather(*writes, return_exceptions=True)
    outcomes = with_pool(settings, scenario, pool_max=2)
    assert [type(o) for o in outcomes] == [ServiceUnavailable] * 2
    cur.execute("SELECT sum(version) AS versions FROM configurations")
    assert cur.fetchone()["versions"] == 2  # none was written


def test_writes_behind_a_statement_of_writes_in_flight_share_the_next_one_with_connections_to_spare(
        settings, cur, database_url, monkeypatch):
    """Once a statement of writes is in flight (WRITES_AHEAD), the writes that come wait for it, however many of the
    loop's connections are idle, and go together in the next statement: one commit for all of them."""
    from repositories import configurations
    configs, _ = _many(cur)
    cur.execute("SELECT application_id FROM configurations WHERE id = %s", (configs[0],))
    holder = _held(database_url, cur.fetchone()["application_id"])
    monkeypatch.setattr(loop, "WRITE_STALLED_AFTER", 3600.0)  # the one held counts in flight until it is done
    sizes = _batches(monkeypatch)

    def update(id):
        return lambda db: configurations.update_now(db, id, name="n", comments=None, config={"x": 1})

    async def scenario(db, pool):
        first = asyncio.create_task(update(configs[0])(db))
        await until_async(lambda: len(pool._writing) == 1, "the first write in flight")
        others = [asyncio.create_task(update(id)(db)) for id in configs[1:]]
        await until_async(lambda: _gathered(pool) == 5, "the others waiting")
        spare = pool._idle or pool._open < pool.size
        waited = not any(task.done() for task in others)
        holder.rollback()
        return spare, waited, [await asyncio.wait_for(task, HANG) for task in (first, *others)]
    try:
        spare, waited, rows = with_pool(settings, scenario, pool_max=8)
    finally:
        holder.close()
    assert spare and waited  # they waited with connections to spare
    assert sizes == ["alone", 5]  # the first alone at once, the five others in one statement after it
    assert [row["version"] for row in rows] == [2] * 6


def test_the_statement_behind_one_of_writes_is_sent_before_the_writes_that_one_answered_go_on(
        settings, cur, database_url, monkeypatch):
    """When a statement of writes answers, the statement of the writes gathered behind it is sent first, and the
    database runs it while the loop answers the first one's writes: not after them all."""
    from repositories import configurations
    configs, _ = _many(cur)
    monkeypatch.setattr(loop, "WRITE_STALLED_AFTER", 3600.0)  # the ones held count in flight until they are done
    sizes = _batches(monkeypatch)
    resumed = []  # len(sizes) as each write of the second statement went on

    async def update(db, id, seen=None):
        row = await configurations.update_now(db, id, name="n", comments=None, config={"x": 1})
        if seen is not None:
            seen.append(len(sizes))
        return row

    async def scenario(db, pool):
        first = asyncio.create_task(update(db, configs[0]))
        await until_async(lambda: len(pool._writing) == 1, "the first write in flight")
        second = [asyncio.create_task(update(db, id, resumed)) for id in configs[1:3]]
        await until_async(lambda: _gathered(pool) == 2, "the second statement's writes waiting")
        holders.append(_held(database_url, configs[1], "configurations"))  # holds the second statement in flight
        holders[0].rollback()
        await until_async(lambda: sizes == ["alone", 2], "the second statement sent")
        third = [asyncio.create_task(update(db, id)) for id in configs[3:]]
        await until_async(lambda: _gathered(pool) == 3, "the third statement's writes waiting")
        holders[1].rollback()
        return [await asyncio.wait_for(task, HANG) for task in (first, *second, *third)]
    holders = [_held(database_url, configs[0], "configurations")]
    try:
        rows = with_pool(settings, scenario, pool_max=8)
    finally:
        for holder in holders:
            holder.close()
    assert [row["version"] for row in rows] == [2] * 6
    assert sizes == ["alone", 2, 3]
    assert resumed == [3, 3]  # the third statement was sent before either write of the second went on


def test_a_statement_of_writes_held_up_by_a_lock_holds_up_the_others_no_longer_than_write_stalled_after(
        settings, cur, database_url, monkeypatch):
    """A write waiting for its application's lock counts in flight only WRITE_STALLED_AFTER: then the writes behind
    it go, while it still waits."""
    from repositories import configurations
    configs, _ = _many(cur)
    cur.execute("SELECT application_id FROM configurations WHERE id = %s", (configs[0],))
    holder = _held(database_url, cur.fetchone()["application_id"])
    monkeypatch.setattr(loop, "WRITE_STALLED_AFTER", 0.2)
    sizes = _batches(monkeypatch)

    def update(db, id):
        return configurations.update_now(db, id, name="n", comments=None, config={"x": 1})

    async def scenario(db, pool):
        held = asyncio.create_task(update(db, configs[0]))
        await until_async(lambda: len(pool._writing) == 1, "the held write in flight")
        others = await asyncio.wait_for(asyncio.gather(*(update(db, id) for id in configs[1:4])), HANG)
        waiting = not held.done()
        holder.rollback()
        return others, waiting, await asyncio.wait_for(held, HANG)
    try:
        others, waiting, held = with_pool(settings, scenario, pool_max=8)
    finally:
        holder.close()
    assert [row["version"] for row in others] == [2] * 3 and waiting  # written while the first still waited
    # The first alone; the three others together behind it, or (on a machine slow enough that they came after
    # it had stalled) each alone at once.
    assert sizes[0] == "alone" and sizes[1:] in ([3], ["alone"] * 3) and held["version"] == 2


def test_a_group_waits_only_for_its_own_statement_and_at_most_write_stalled_after(
        settings, cur, database_url, monkeypatch):
    """Writes gather behind a statement of their own group only (the same form made with the same key): an
    override's PUT does not wait for a configuration's statement, which it could not share. And a carrier waits at
    most WRITE_STALLED_AFTER in all, even behind statements that never stall."""
    from repositories import configurations, overrides
    configs, env = _many(cur)
    cur.execute("SELECT application_id FROM configurations WHERE id = %s", (configs[0],))
    holder = _held(database_url, cur.fetchone()["application_id"])
    monkeypatch.setattr(loop, "WRITE_STALLED_AFTER", 3600.0)  # the held one counts in flight until it is done

    async def scenario(db, pool):
        held = asyncio.create_task(configurations.update_now(db, configs[0], name="n", comments=None,
                                                             config={"x": 1}))
        await until_async(lambda: len(pool._writing) == 1, "the held write in flight")
        override = await asyncio.wait_for(overrides.put_now(db, configs[1], env, patch={"y": 1}, comments=None),
                                          HANG)
        waiting = not held.done()
        holder.rollback()
        await asyncio.wait_for(held, HANG)
        # A statement of a group that counts as recent for ever: a carrier of the group still goes on.
        monkeypatch.setattr(loop, "WRITE_STALLED_AFTER", 0.05)
        key = (loop.BATCHES[configurations.UPDATE], "")
        pool._writing[object()] = (key, asyncio.get_running_loop().time() + 3600)
        await asyncio.wait_for(pool._behind(key), HANG)
        return override, waiting
    try:
        override, waiting = with_pool(settings, scenario, pool_max=8)
    finally:
        holder.close()
    assert override["version"] == 2 and waiting  # written while the configuration's write still waited


def test_writes_that_could_share_no_statement_wait_for_none_ahead(settings):
    """The writes of one application (known from a statement before) go at once, one statement each, as the
    database would hold each behind the one ahead anyway; a lone write, or writes of different applications (or
    not known yet), wait for the statement ahead, gathering the others that come."""
    db = Database(settings.model_copy(update={"pool_min": 0}))
    try:
        pool = LoopPool(db)
        pool._owners.update({"a": "app1", "b": "app1", "c": "app2"})

        def writes(*items):
            return [loop._Write(item, dict, None, n, 0.0) for n, item in enumerate(items)]
        assert not pool._gathering(writes("a", "b")) and not pool._gathering(writes("a", "a", "b"))
        assert pool._gathering(writes("a")) and pool._gathering(writes("a", "c"))
        assert pool._gathering(writes("a", "x")) and pool._gathering(writes("x", "y"))  # "x", "y": not known
    finally:
        db.close()


def test_a_statement_of_many_writes_is_planned_once_whatever_the_first_ones_carried(settings, cur, monkeypatch):
    """Left to itself, PostgreSQL plans a prepared statement anew at each of its first five executions and keeps the
    generic plan only if that is estimated no costlier. The statement of many writes takes arrays, whose length the
    generic plan does not know: here its first five statements of two writes were planned each (5 custom plans
    without the setting), and on the bench's database a connection whose first statements carried few writes
    planned every one after them anew too (db/loop.py, Plans)."""
    from repositories import applications, configurations
    from wire.etags import Preconditions
    sizes = _batches(monkeypatch)
    owners = [applications.create(cur, name=f"app{k}", comments=None)["id"] for k in range(2)]
    ids = [configurations.create(cur, application_id=owner, name="c", comments=None, config={})["id"]
           for owner in owners]
    rounds = 8

    def update(id, k):
        return lambda db: configurations.update_now(db, id, when=Preconditions(), name="c", comments=None,
                                                    config={"k": k})

    async def scenario(db, pool):
        for k in range(rounds):
            outcomes = await _while_busy(db, pool, [update(id, k) for id in ids])
            assert [o["version"] for o in outcomes] == [k + 2] * 2
        name = database.PREPARED[loop.BATCHES[configurations.UPDATE].query][0]
        return await loop.first_row(db, "SELECT custom_plans, generic_plans FROM pg_prepared_statements "
                                        "WHERE name = %(name)s", lambda: {"name": name})

    plans = with_pool(settings, scenario, pool_max=2)  # one connection of the loop's, which ran them all
    assert sizes[:2 * rounds] == ["alone", 2] * rounds  # each round's two writes in one statement
    assert (plans["custom_plans"], plans["generic_plans"]) == (0, rounds)


def _answered_four_then(settings, monkeypatch, configs, contended, then):
    """Four writers of four applications (the first four of `configs`, `_many`'s) answered by one statement
    (gathered behind a slow one), with the processors the bound (`contended`) or not; then `then(db, pool, update,
    key)`, the group's key given. The statements' sizes, and what `then` returned."""
    from repositories import configurations
    sizes = _batches(monkeypatch)

    def update(db, id, x):
        return configurations.update_now(db, id, name="n", comments=None, config={"x": x})

    async def scenario(db, pool):
        pool.contended = lambda: contended
        first = await _while_busy(db, pool, [lambda db, id=id: update(db, id, 1) for id in configs[:4]])
        assert [row["version"] for row in first] == [2] * 4
        return await then(db, pool, update, next(iter(pool._answered)))
    return sizes, with_pool(settings, scenario, pool_max=2)


def test_while_the_processors_are_the_bound_the_next_statement_waits_for_half_the_writers_the_last_one_answered(
        settings, cur, monkeypatch):
    """A statement of few writes costs nearly what one of many does: while the processors are the bound, the
    statement after one that answered four writers waits for two of them to write again (the wait made as long as
    only a hang reaches: only they end it)."""
    monkeypatch.setattr(loop, "LINGER", HANG)
    configs, _ = _many(cur)

    async def then(db, pool, update, key):
        again = asyncio.create_task(update(db, configs[0], 2))
        await until_async(lambda: key in pool._filling, "the next statement waiting")
        waiting = pool._filling[key][1], _gathered(pool), again.done()
        second = asyncio.create_task(update(db, configs[1], 2))
        return waiting, await asyncio.wait_for(asyncio.gather(again, second), HANG)
    sizes, (waiting, rows) = _answered_four_then(settings, monkeypatch, configs, True, then)
    assert waiting == (2, 1, False)  # waiting for two, one come, not sent
    assert sizes == ["alone", 4, 2]  # the slow statement, the four, the two that came back together
    assert [row["version"] for row in rows] == [3, 3]


def test_with_a_processor_to_spare_a_write_after_a_statement_of_many_runs_alone_at_once(settings, cur, monkeypatch):
    monkeypatch.setattr(loop, "LINGER", HANG)
    configs, _ = _many(cur)

    async def then(db, pool, update, key):
        return await asyncio.wait_for(update(db, configs[0], 2), HANG), dict(pool._filling)
    sizes, (row, filling) = _answered_four_then(settings, monkeypatch, configs, False, then)
    assert sizes == ["alone", 4, "alone"] and not filling and row["version"] == 3


def test_the_next_statement_waits_for_the_writers_no_longer_than_linger_after_the_last_answer(
        settings, cur, monkeypatch):
    monkeypatch.setattr(loop, "LINGER", 1.0)
    configs, _ = _many(cur)

    async def then(db, pool, update, key):
        count, _, arrivals = pool._answered[key]
        answered = asyncio.get_running_loop().time()
        pool._answered[key] = (count, answered, arrivals)  # answered now: the wait is LINGER from here
        again = asyncio.create_task(update(db, configs[0], 2))
        await until_async(lambda: key in pool._filling, "the next statement waiting")
        row = await asyncio.wait_for(again, HANG)
        return row, asyncio.get_running_loop().time() - answered
    sizes, (row, waited) = _answered_four_then(settings, monkeypatch, configs, True, then)
    assert sizes == ["alone", 4, 1] and row["version"] == 3  # no writer came: it went alone, after LINGER
    assert waited >= 1.0 - 0.01


def test_the_processors_are_the_bound_when_the_thread_waited_for_one_a_fifth_of_the_time(tmp_path):
    stats, now = tmp_path / "schedstat", [64.0]  # (times in steps a float holds exactly)

    def waited(ns):
        stats.write_text(f"123456789 {ns} 42\n")
    contention = loop.Contention(str(stats), clock=lambda: now[0])
    waited(1_000_000_000)
    assert not contention()  # a first reading: nothing to compare it with
    now[0] += 0.125
    waited(1_030_000_000)
    assert contention()  # 30 ms of 125 waited
    now[0] += 0.0625
    waited(1_030_000_000)
    assert contention()  # within CONTENTION_SAMPLE of the last reading: not read again
    now[0] += 0.0625
    assert not contention()  # 0 ms of 125 since the reading before
    now[0] += 0.25
    waited(1_079_000_000)
    assert not contention()  # 49 ms of 250, under a fifth
    now[0] += 0.125
    stats.unlink()
    assert not contention()  # not readable: never the bound
    assert loop.Contention()() is False  # the real statistics, first reading
    # This thread's, where the kernel keeps them (Linux with scheduler statistics, as this machine's and CI's).
    assert isinstance(loop.Contention().waited(), float) == os.path.exists(loop.SCHEDSTAT)


def test_a_write_a_statement_passed_over_waits_for_no_writers_again(settings, cur, monkeypatch):
    """A write deferred by a statement (another of its application's went) goes in the next at once, even while the
    processors are the bound: waiting at each statement, a write queued behind many of its application's would wait
    LINGER as many times (here made as long as only a hang reaches)."""
    from repositories import applications, configurations
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a1, a2 = (configurations.create(cur, application_id=one, name=n, comments=None, config={})["id"] for n in "ab")
    b = configurations.create(cur, application_id=other, name="c", comments=None, config={})["id"]
    monkeypatch.setattr(loop, "LINGER", HANG)
    sizes = _batches(monkeypatch)

    def update(id, name):
        return lambda db: configurations.update_now(db, id, name=name, comments=None, config={"x": 1})

    async def scenario(db, pool):
        pool.contended = lambda: True
        return await asyncio.wait_for(_while_busy(db, pool, [update(a1, "a"), update(b, "c"), update(a2, "b")]), HANG)
    rows = with_pool(settings, scenario, pool_max=2)
    assert sizes == ["alone", 3, 1]  # a1 and b, a2 deferred; then a2 at once, though two writers were answered
    assert [row["version"] for row in rows] == [2, 2, 2]


def _waiting_for_a_row(sql) -> bool:
    """Whether one of the service's statements waits for a row another transaction holds."""
    sql.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = 'config-service' AND datname = current_database()")
    return sql.fetchone()["n"] > 0


def _committed_while_the_statement_waits(settings, sql, holder, held, free):
    """`held` and `free` (functions of the Database) in one statement, the loop's one connection lent meanwhile;
    `holder`'s transaction, which holds a row `held` writes, commits once the statement waits for that row. Their
    outcomes (a row, or the exception), after `holder` is closed."""
    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        first = asyncio.create_task(held(db))
        await asyncio.sleep(0)
        second = asyncio.create_task(free(db))
        await slow
        await until_async(lambda: _waiting_for_a_row(sql), "the statement waiting for the row held")
        holder.commit()
        return await asyncio.gather(first, second, return_exceptions=True)
    try:
        return with_pool(settings, scenario, pool_max=2)
    finally:
        holder.close()


@pytest.mark.parametrize("meanwhile", ["changed", "changed, unconditional", "deleted"])
def test_a_configuration_changed_after_the_statement_of_many_began_is_written_as_its_newest_version_allows(
        settings, cur, database_url, monkeypatch, meanwhile):
    """Another transaction (psql's, which locks no application) changes or deletes a configuration of the statement
    and commits after the statement's snapshot, while the statement waits for the row: the statement reads the row
    as committed then, as a statement of its own would. The write is refused by an If-Match the change made stale
    (412), made on top of the change without one, or answered 404 once the row is gone; the other write of the
    statement is made, and the feed numbers only what was written."""
    from repositories import applications, changes, configurations
    from wire.etags import Named, Preconditions
    from wire.problems import NotFound, PreconditionFailed
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a = configurations.create(cur, application_id=one, name="a", comments=None, config={})["id"]
    b = configurations.create(cur, application_id=other, name="b", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)
    holder = psycopg2.connect(database_url)
    if meanwhile == "deleted":
        holder.cursor().execute("DELETE FROM configurations WHERE id = %s", (a,))
    else:
        holder.cursor().execute("UPDATE configurations SET config = '{\"psql\": 1}', version = version + 1 "
                                "WHERE id = %s", (a,))
    when = Preconditions() if meanwhile == "changed, unconditional" else Preconditions([Named(1)])
    written, other_written = _committed_while_the_statement_waits(
        settings, cur, holder,
        lambda db: configurations.update_now(db, a, when=when, name="a", comments=None, config={"x": 1}),
        lambda db: configurations.update_now(db, b, when=Preconditions([Named(1)]), name="b", comments=None,
                                             config={"x": 2}))
    assert sizes == ["alone", 2]  # both in one statement, which waited for a's row after locking both applications
    assert other_written["version"] == 2
    feed = {app: [(e["seq"], e["configuration_id"], e["kind"], e["version"])
                  for e in changes.after(cur, app, 0, limit=10)] for app in (one, other)}
    assert feed[other][1:] == [(2, b, "updated", 2)]
    cur.execute("SELECT version, config FROM configuration_revisions WHERE configuration_id = %s ORDER BY version",
                (a,))
    revisions = [(r["version"], jsontext.loads(r["config"])) for r in cur.fetchall()]
    if meanwhile == "changed":
        assert isinstance(written, PreconditionFailed)
        assert feed[one][1:] == [] and revisions == [(1, {})]
    elif meanwhile == "changed, unconditional":
        assert written["version"] == 3 and jsontext.loads(written["config"]) == {"x": 1}  # on top of psql's 2
        assert feed[one][1:] == [(2, a, "updated", 3)] and revisions == [(1, {}), (3, {"x": 1})]
    else:
        assert isinstance(written, NotFound)
        assert feed[one][1:] == [] and revisions == [(1, {})]  # (a configuration's history outlives it)
    cur.execute("SELECT id, last_change FROM applications")
    assert {r["id"]: r["last_change"] for r in cur.fetchall()} == {one: len(feed[one]), other: 2}


def test_a_write_whose_application_is_deleted_meanwhile_is_404_and_holds_up_no_other(
        settings, cur, database_url, monkeypatch):
    """The application of one write of a statement is being deleted by another transaction: the statement skips it
    (busy), makes the other, and the write runs alone, waits for the deletion and, its configuration gone with its
    application, is answered 404, writing nothing."""
    from repositories import applications, changes, configurations
    from wire.problems import NotFound
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a = configurations.create(cur, application_id=one, name="a", comments=None, config={})["id"]
    b = configurations.create(cur, application_id=other, name="b", comments=None, config={})["id"]
    sizes = _batches(monkeypatch)
    holder = psycopg2.connect(database_url)
    holder.cursor().execute("DELETE FROM applications WHERE id = %s", (one,))

    async def scenario(db, pool):
        slow = asyncio.create_task(loop.first_row(db, "SELECT pg_sleep(0.3) AS slept", dict))
        await until_async(lambda: not pool._idle and pool._open == 1, "the loop's connection lent")
        held = asyncio.create_task(configurations.update_now(db, a, name="a", comments=None, config={"x": 1}))
        await asyncio.sleep(0)
        free = asyncio.create_task(configurations.update_now(db, b, name="b", comments=None, config={"x": 2}))
        await slow
        written = await asyncio.wait_for(free, HANG)
        await until_async(lambda: _waiting_for_a_row(cur), "the write alone waiting for its application")
        holder.commit()
        return written, await asyncio.gather(held, return_exceptions=True)
    try:
        written, (gone,) = with_pool(settings, scenario, pool_max=2)
    finally:
        holder.close()
    assert sizes == ["alone", 2, "alone"]
    assert written["version"] == 2 and isinstance(gone, NotFound)
    cur.execute("SELECT count(*) AS n FROM configuration_revisions WHERE application_id = %s", (one,))
    assert cur.fetchone()["n"] == 0
    assert [(e["seq"], e["version"]) for e in changes.after(cur, other, 0, limit=10)] == [(1, 1), (2, 2)]


@pytest.mark.parametrize("conditional", [True, False])
def test_an_override_changed_after_the_statement_of_many_began_is_written_as_its_newest_version_allows(
        settings, cur, database_url, monkeypatch, conditional):
    """As for configurations: an override another transaction changes and commits while the statement waits for its
    row is refused by an If-Match the change made stale, or replaced on top of the change without one."""
    from repositories import applications, changes, configurations, environments, overrides
    from wire.etags import Named, Preconditions
    from wire.problems import PreconditionFailed
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    a = configurations.create(cur, application_id=one, name="a", comments=None, config={})["id"]
    b = configurations.create(cur, application_id=other, name="b", comments=None, config={})["id"]
    env = environments.create(cur, name="prod", parent_id=None, comments=None)["id"]
    overrides.put(cur, a, env, patch={"x": 0}, comments=None)
    overrides.put(cur, b, env, patch={"x": 0}, comments=None)
    sizes = _batches(monkeypatch)
    holder = psycopg2.connect(database_url)
    holder.cursor().execute("UPDATE overrides SET patch = '{\"psql\": 1}', version = version + 1 "
                            "WHERE configuration_id = %s", (a,))
    when = Preconditions([Named(1)]) if conditional else Preconditions()
    written, other_written = _committed_while_the_statement_waits(
        settings, cur, holder,
        lambda db: overrides.put_now(db, a, env, patch={"x": 1}, comments=None, when=when),
        lambda db: overrides.put_now(db, b, env, patch={"x": 2}, comments=None, when=Preconditions([Named(1)])))
    assert sizes == ["alone", 2]
    assert other_written["version"] == 2
    feed = {app: [(e["seq"], e["kind"], e["version"]) for e in changes.after(cur, app, 0, limit=10)]
            for app in (one, other)}
    assert feed[other][2:] == [(3, "updated", 2)]
    cur.execute("SELECT version, patch FROM override_revisions WHERE configuration_id = %s ORDER BY version", (a,))
    revisions = [(r["version"], jsontext.loads(r["patch"])) for r in cur.fetchall()]
    if conditional:
        assert isinstance(written, PreconditionFailed)
        assert feed[one][2:] == [] and revisions == [(1, {"x": 0})]
    else:
        assert written["version"] == 3 and jsontext.loads(written["patch"]) == {"x": 1}
        assert feed[one][2:] == [(3, "updated", 3)] and revisions == [(1, {"x": 0}), (3, {"x": 1})]



def test_statements_the_loop_s_session_does_not_hold_run_again_as_plain_sql_each_write_made_once(
        settings, cur, monkeypatch, caplog):
    """Behind a pool in transaction mode a statement prepared on one server connection can run on another, which
    never prepared it (SQLSTATE 26000). Here the loop's one connection forgets its statements (DEALLOCATE ALL), as
    such a server connection would have: a statement of many writes that meets it was rolled back whole, so each of
    its writes runs again alone, as plain SQL, to its own outcome; and a connection the loop opens after that prepares
    nothing, nor sets its plans (a session's setting would stay on a server connection other clients share)."""
    from repositories import configurations
    configs, _ = _many(cur)
    sizes = _batches(monkeypatch)

    def update(k):
        return lambda db: configurations.update_now(db, configs[k], name="n", comments=None, config={"v": k})

    async def scenario(db, pool):
        await loop.first_row(db, "DEALLOCATE ALL", dict)
        many = await _while_busy(db, pool, [update(k) for k in range(3)])
        fresh = await pool._connect()
        try:
            look = fresh.cursor()
            look.execute("SELECT count(*) AS n, current_setting('plan_cache_mode') AS mode FROM pg_prepared_statements")
            await loop.ready(fresh)
            return many, db.unprepared, fresh.prepared, look.fetchone()
        finally:
            fresh.close()
    many, unprepared, prepared, found = with_pool(settings, scenario, pool_max=2)
    assert [o["version"] if isinstance(o, dict) else o for o in many] == [2, 2, 2]
    assert sizes == ["alone", "alone", 3, "alone", "alone", "alone"]  # the DEALLOCATE, the slow one, the three
    assert unprepared and prepared == frozenset() and found == {"n": 0, "mode": "auto"}
    cur.execute("SELECT configuration_id, array_agg(version ORDER BY version) AS versions FROM configuration_revisions "
                "WHERE configuration_id = ANY(%s) GROUP BY configuration_id", (configs[:3],))
    assert sorted(row["versions"] for row in cur.fetchall()) == [[1, 2]] * 3  # each made once
    assert len([r for r in caplog.records if "prepared statements given up" in r.getMessage()]) == 1


def test_a_statement_of_one_write_the_loop_s_session_does_not_hold_runs_again_as_plain_sql(settings, cur, caplog):
    from repositories import configurations
    configs, _ = _many(cur)

    async def scenario(db, pool):
        await loop.first_row(db, "DEALLOCATE ALL", dict)
        return await configurations.update_now(db, configs[0], name="n", comments=None, config={"v": 1}), db.unprepared
    row, unprepared = with_pool(settings, scenario, pool_max=2)
    assert row["version"] == 2 and unprepared
    cur.execute("SELECT count(*) AS n FROM configuration_revisions WHERE configuration_id = %s", (configs[0],))
    assert cur.fetchone()["n"] == 2
    assert len([r for r in caplog.records if "prepared statements given up" in r.getMessage()]) == 1


def test_a_statement_of_one_write_the_loop_s_session_did_not_hold_runs_again_though_another_gave_them_up_first(
        settings, cur, monkeypatch):
    from repositories import configurations
    configs, _ = _many(cur)
    wait = LoopPool._wait

    async def found_meanwhile(self, conn, deadline):
        try:
            return await wait(self, conn, deadline)
        except database.LOST:
            self.db.unprepared = True  # another statement's finding, a moment before this one's
            raise
    monkeypatch.setattr(LoopPool, "_wait", found_meanwhile)

    async def scenario(db, pool):
        await loop.first_row(db, "DEALLOCATE ALL", dict)
        return await configurations.update_now(db, configs[0], name="n", comments=None, config={"v": 1})
    assert with_pool(settings, scenario, pool_max=2)["version"] == 2


def test_a_batch_s_columns_are_the_arrays_postgresql_reads_back_element_for_element(sql):
    """`_column`'s one pass over a column is `_array`'s element by element, and PostgreSQL reads each element back
    as it was: quotes, backslashes, braces, commas, `NULL` as text, non-ASCII, a NUL (not a separator), JSON."""
    import random
    from psycopg2.extras import Json

    alphabet = ['"', "\\", "{", "}", ",", " ", "a", "é", "\U0001f422", "NULL", "\x00", "'"]
    rng = random.Random(7)
    columns = [[], ["plain", "two words"], [None, None], ["NULL", ""], [None, "a"], ["{1,2}", "{3}"]]
    for _ in range(300):
        width = rng.randint(1, 6)
        columns.append(["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
                        if rng.random() > 0.1 else None for _ in range(width)])
    columns.append([Json({"a": '"q"\\', "n": [1, None]}, dumps=jsontext.dumps), Json({}, dumps=jsontext.dumps)])
    for column in columns:
        written = loop._column(column)
        assert written == loop._array(column)
        texts = [value.dumps(value.adapted) if isinstance(value, Json) else value for value in column]
        if any(text is not None and "\x00" in text for text in texts):
            continue  # (PostgreSQL's text holds no NUL: such a batch is refused, and each write runs alone)
        sql.execute("SELECT %s::text[] AS a", (written,))
        assert sql.fetchone()["a"] == texts


def _waiting_for_a_lock(sql) -> int:
    """The service's statements waiting for a lock (a row's, a transaction's)."""
    return _waiting(sql, "wait_event_type = 'Lock'")


@contextlib.contextmanager
def _holders() -> Iterator[list]:
    """The connections of `_held` a scenario makes (`.append`), closed once the test is done with them."""
    held: list = []
    try:
        yield held
    finally:
        for holder in held:
            holder.close()


def test_writes_of_one_application_past_its_turns_wait_in_the_worker_not_on_its_lock(
        settings, cur, sql, database_url):
    from repositories import applications, configurations
    one, other = (applications.create(cur, name=n, comments=None)["id"] for n in ("one", "other"))
    ids = [configurations.create(cur, application_id=one, name=f"c{n}", comments=None, config={})["id"]
           for n in range(6)]
    b = configurations.create(cur, application_id=other, name="b", comments=None, config={})["id"]
    cur.connection.commit()
    written: list[str] = []

    async def scenario(db, pool):
        assert pool.turns == loop.APPLICATION_WRITERS  # one worker: all of them
        for id in ids:  # each write's row names its application: known from then on
            await configurations.update_now(db, id, name=f"c{ids.index(id)}", comments=None, config={"n": 1})
        assert pool._turns == {}
        holders.append(holder := _held(database_url, one))

        async def write(id):
            row = await configurations.update_now(db, id, name=f"c{ids.index(id)}", comments=None, config={"n": 2})
            written.append(id)
            return row
        tasks = []
        for id in ids:
            tasks.append(asyncio.create_task(write(id)))
            await asyncio.sleep(0)  # in this order
        await until_async(lambda: _waiting_for_a_lock(sql) == pool.turns, "the first writes waiting for the lock")
        under_way, waiting = pool._turns[one]
        assert under_way == pool.turns and len(waiting) == len(ids) - pool.turns  # the others wait here
        assert not any(task.done() for task in tasks)
        # A write of another application is not held up by them (its statement has a connection: the loop's 8).
        free = await asyncio.wait_for(configurations.update_now(db, b, name="b", comments=None, config={"x": 1}),
                                      HANG)
        assert _waiting_for_a_lock(sql) == pool.turns  # none more went to the database meanwhile
        holder.rollback()
        rows = await asyncio.wait_for(asyncio.gather(*tasks), HANG)
        return free, rows, dict(pool._turns)
    with _holders() as holders:
        free, rows, left = with_pool(settings, scenario, pool_max=16)
    assert free["version"] == 2
    assert [row["version"] for row in rows] == [3] * len(ids)  # each written once more, none lost
    assert sorted(written) == sorted(ids)
    assert left == {}  # every turn handed back


def test_each_worker_allows_its_share_of_an_application_s_writers_and_at_least_one(settings):
    async def scenario(db, pool):
        return pool.turns
    shares = {workers: with_pool(settings, scenario, workers=workers) for workers in (1, 2, 3, 4, 8)}
    assert shares == {1: 4, 2: 2, 3: 2, 4: 1, 8: 1}


def test_a_write_waiting_its_turn_past_the_acquire_timeout_is_503_and_the_turns_go_on(
        settings, cur, sql, database_url):
    from repositories import applications, configurations
    one = applications.create(cur, name="one", comments=None)["id"]
    ids = [configurations.create(cur, application_id=one, name=f"c{n}", comments=None, config={})["id"]
           for n in range(3)]
    cur.connection.commit()

    async def scenario(db, pool):
        pool.turns = 2
        for n, id in enumerate(ids):
            await configurations.update_now(db, id, name=f"c{n}", comments=None, config={"n": 1})
        holders.append(holder := _held(database_url, one))
        first = [asyncio.create_task(configurations.update_now(db, id, name=f"c{n}", comments=None, config={"n": 2}))
                 for n, id in enumerate(ids[:2])]
        await until_async(lambda: _waiting_for_a_lock(sql) == 2, "two writes waiting for the lock")
        with pytest.raises(ServiceUnavailable) as refused:  # its turn does not come within the acquire timeout
            await configurations.update_now(db, ids[2], name="c2", comments=None, config={"n": 2})
        assert refused.value.detail == loop.HELD_UP
        assert pool._turns[one][0] == 2 and not pool._turns[one][1]  # it left its place in line
        holder.rollback()
        rows = await asyncio.wait_for(asyncio.gather(*first), HANG)
        again = await configurations.update_now(db, ids[2], name="c2", comments=None, config={"n": 3})
        return rows, again, dict(pool._turns)
    with _holders() as holders:
        rows, again, left = with_pool(settings, scenario, pool_acquire_timeout=0.3)
    assert [row["version"] for row in rows] == [3, 3] and again["version"] == 3
    assert left == {}


def test_turns_go_in_the_order_the_writes_came_and_one_that_gave_up_is_passed_over(settings):
    async def scenario(db, pool):
        pool._owners.update({"a": "app", "b": "app", "c": "app", "d": "app"})
        pool.turns = 1
        assert pool.turn("a") == ("app", None)
        waiters = [pool.turn(item)[1] for item in "bcd"]
        pool.turn_over("app")  # a's done: b's turn, not c's
        assert [waiter.done() for waiter in waiters] == [True, False, False]
        waiters[1].cancel()  # c gave up waiting
        pool.turn_over("app")  # b's done: d's turn
        assert waiters[2].done() and not waiters[2].cancelled()
        assert pool._turns["app"][0] == 1  # held by d
        pool._owners.update({"e": "app", "f": "app"})
        e, f = pool.turn("e")[1], pool.turn("f")[1]
        pool.turn_over("app")  # d's done: e's turn, given just as e gives up: f's
        pool.turn_given_up("app", e)
        assert f.done() and not f.cancelled() and pool._turns["app"][0] == 1
        pool.turn_over("app")
        return dict(pool._turns), pool.turn("unknown item")
    left, unknown = with_pool(settings, scenario)
    assert left == {}
    assert unknown == (None, None)  # its application not known: not counted
