import asyncio

import pytest

from live import listener as listener_module
from live.listener import Listener
from live.readcache import Entry, ReadCache
from live.waiters import Waiters
from tools.harness import HANG, until_async


@pytest.fixture(autouse=True)
def patient_rounds(monkeypatch):
    """A sync round is given up after SYNC_TIMEOUT (a second) and its connection after DEAD_SECONDS: these tests
    assert what rounds answer, so a round a busy machine delays must still count, not be given up."""
    monkeypatch.setattr(listener_module, "SYNC_TIMEOUT", HANG)
    monkeypatch.setattr(listener_module, "DEAD_SECONDS", HANG)


def listener_on(dsn: str, cache_bytes: int = 0) -> Listener:
    return Listener(dsn, ReadCache(max_bytes=cache_bytes), Waiters(max_waiters=10))


async def listening(dsn: str, cache_bytes: int = 0, cached: tuple[str, ...] = ()) -> Listener:
    """A listener started and connected, with an answer kept under each of `cached`."""
    listener = listener_on(dsn, cache_bytes)
    listener.start()
    await until_async(lambda: listener.listening, "the listener connected")

    async def fetch() -> Entry:
        return Entry("", b"x")

    for key in cached:
        await listener.cache.read(key, fetch)
    return listener


def test_the_listener_delivers_notifications_and_reconnects(database_url):
    import psycopg2

    async def scenario():
        listener = await listening(database_url)
        future = listener.waiters.subscribe(("c:X",))
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        conn.cursor().execute("SELECT pg_notify('config_service', 'c X Y 2')")
        await asyncio.wait_for(future, HANG)
        listener.waiters.unsubscribe(("c:X",), future)
        lost = listener._conn
        conn.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'config-service-listener' AND datname = current_database()")
        # It notices the loss, then listens again on another connection.
        await until_async(lambda: listener.listening and listener._conn not in (None, lost), "listening again")
        again = listener.waiters.subscribe(("l:Y",))
        conn.cursor().execute("SELECT pg_notify('config_service', 'c X Y 3')")
        await asyncio.wait_for(again, HANG)
        conn.close()
        await listener.close()
        return listener.listening

    assert asyncio.run(scenario()) is False


def test_a_sync_round_comes_back_after_the_notifications_committed_before_it_began(database_url, monkeypatch):
    import psycopg2

    sent = []
    start_round = Listener._start_round

    def counted(self, future):
        sent.append(1)
        return start_round(self, future)

    monkeypatch.setattr(Listener, "_start_round", counted)

    async def scenario():
        listener = listener_on(database_url, cache_bytes=10_000)
        cache = listener.cache
        assert await listener.sync(cache.tick()) is False  # not listening yet: the cache cannot be trusted
        listener.start()
        await until_async(lambda: listener.listening, "the listener connected")
        conn = psycopg2.connect(database_url)
        conn.autocommit = True

        async def fetch() -> Entry:
            return Entry("", b"x")

        for i in range(20):
            await cache.read("c:X", fetch)
            assert "c:X" in cache.entries
            conn.cursor().execute("SELECT pg_notify('config_service', 'c X Y 2')")  # committed: acknowledged
            assert await listener.sync(cache.tick()) is True
            assert "c:X" not in cache.entries, f"round {i} came back before the notification"
        before = len(sent)
        assert all(await asyncio.gather(*(listener.sync(cache.tick()) for _ in range(200))))
        assert len(sent) - before <= 2  # 200 concurrent reads shared the rounds
        conn.close()
        await listener.close()
        assert await listener.sync(cache.tick()) is False

    asyncio.run(scenario())


def test_a_lost_listener_socket_is_unwatched_at_once_not_after_the_loop_turns():
    # libpq closes its socket when it finds the connection broken, and the next socket the process opens can get
    # the same number; were the old registration removed a turn later, the loop would drop the new socket instead.
    import socket

    async def scenario():
        loop = asyncio.get_running_loop()
        listener = listener_on("postgresql://unused")
        mine, peer = socket.socketpair()
        listener._fd = mine.fileno()
        loop.add_reader(listener._fd, lambda: None)
        listener._lost = loop.create_future()
        listener._lose()
        still_watched = loop.remove_reader(mine.fileno())  # True only if _lose left it registered
        mine.close()
        peer.close()
        return still_watched, listener._lost.done()

    assert asyncio.run(scenario()) == (False, True)


def test_the_listener_outlives_any_error_and_a_socket_closed_under_it(database_url):
    import os

    async def scenario():
        listener = listener_on(database_url)
        connect, failures = listener._connect, []

        async def fails_first():
            if not failures:
                failures.append(1)
                raise RuntimeError("not a psycopg2 error")
            return await connect()

        listener._connect = fails_first
        listener.start()
        await until_async(lambda: listener.listening, "listening after an unexpected error")
        # The socket closed under libpq (what a moved-on host list or a bug elsewhere can do): a poll fails with
        # EBADF, and the listener connects again instead of ending.
        lost = listener._conn
        os.close(lost.fileno())
        listener._readable()
        await until_async(lambda: listener.listening and listener._conn not in (None, lost), "listening again")
        task = listener._task
        await listener.close()
        return failures, task.done()

    failures, done = asyncio.run(scenario())
    assert failures == [1] and done


def test_a_reset_empties_the_cache_and_wakes_every_waiter(database_url):
    import psycopg2

    async def scenario():
        listener = await listening(database_url, 10_000, ("c:X",))
        held = [listener.waiters.subscribe((key,)) for key in ("c:X", "a:Y", "l:Y")]
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        conn.cursor().execute("SELECT pg_notify('config_service', 'reset')")  # what TRUNCATE sends
        await asyncio.wait_for(asyncio.gather(*held), HANG)
        conn.close()
        await listener.close()
        return listener.cache.entries

    assert asyncio.run(scenario()) == {}


def test_a_read_whose_tick_a_round_already_back_was_sent_after_needs_no_round_of_its_own(database_url):
    # The second read of one request (readcache.began: its tick is the request's) is answered by the round the first
    # waited for, at once; a read that began after that round was sent still waits for a round of its own.
    def finishes_at_once(coroutine) -> bool | None:
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        coroutine.close()
        return None  # it had to wait

    async def scenario():
        listener = await listening(database_url, 10_000)
        request = listener.cache.tick()
        assert await listener.sync(request) is True
        later = listener.cache.tick()
        shared, own = finishes_at_once(listener.sync(request)), finishes_at_once(listener.sync(later))
        await listener.close()
        return shared, own

    assert asyncio.run(scenario()) == (True, None)


def test_a_round_applies_a_committed_write_nobody_published_and_its_notification_does_not_apply_it_again(
        database_url):
    # A write's transaction records its change in the outbox and notifies nothing (migration 0012); the publisher
    # notifies after the commit, and the write is acknowledged without waiting for that. So a round must bring the
    # change itself: a read that begins after the acknowledgment may not be answered from what the change made stale.
    import psycopg2

    async def scenario():
        listener = listener_on(database_url, cache_bytes=10_000)
        applied = []
        apply = listener._apply
        listener._apply = lambda payload: (applied.append(payload), apply(payload))
        listener.start()
        await until_async(lambda: listener.listening, "the listener connected")
        cache = listener.cache

        async def fetch() -> Entry:
            return Entry("", b"x")

        await cache.read("c:OUTBOX1", fetch)
        held = listener.waiters.subscribe(("c:OUTBOX1",))
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT config_service_publish('c OUTBOX1 OUTAPP 2')")  # committed: acknowledged, not published
        assert await listener.sync(cache.tick()) is True
        stale_after_round = "c:OUTBOX1" not in cache.entries
        woken = held.done()
        # Published now: its notification ("#<id> ...") is delivered ahead of the next round's answer, and skipped.
        cur.execute("SELECT config_service_flush('{}') AS ids")
        notified = cur.fetchone()[0]
        assert await listener.sync(cache.tick()) is True
        assert await listener.sync(cache.tick()) is True
        cur.execute("SELECT config_service_flush(%s::bigint[])", (notified,))  # deleted: no round returns it again
        cur.execute("SELECT count(*) FROM change_outbox WHERE payload = 'c OUTBOX1 OUTAPP 2'")
        left = cur.fetchone()[0]
        conn.close()
        await listener.close()
        return stale_after_round, woken, applied.count("c OUTBOX1 OUTAPP 2"), left

    assert asyncio.run(scenario()) == (True, True, 1, 0)


def test_a_row_of_a_statement_s_many_changes_is_applied_a_line_each_by_a_round_and_not_again_when_notified(
        database_url):
    # A statement's writes are one outbox row, a change to a line (migration 0019): each line makes its answers
    # stale and wakes its waiters, whether the row comes in a round or notified.
    import psycopg2

    async def scenario():
        listener = await listening(database_url, 10_000, ("c:LINE1", "c:LINE2", "o:LINE3:LINEENV", "c:OTHER"))
        cache = listener.cache
        applied = []
        apply = listener._apply
        listener._apply = lambda payload: (applied.append(payload), apply(payload))
        held = [listener.waiters.subscribe((key,)) for key in ("l:LINEAPP", "x:LINE3", "c:OTHER")]
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        cur = conn.cursor()
        row = "c LINE1 LINEAPP 2\nc LINE2 LINEAPP 0\no LINE3 LINEAPP LINEENV 4"
        cur.execute("SELECT config_service_publish(%s)", (row,))
        assert await listener.sync(cache.tick()) is True
        stale = sorted(key for key in ("c:LINE1", "c:LINE2", "o:LINE3:LINEENV", "c:OTHER") if key not in cache.entries)
        woken = [future.done() for future in held]
        cur.execute("SELECT config_service_flush('{}') AS ids")
        notified = cur.fetchone()[0]
        assert await listener.sync(cache.tick()) is True
        cur.execute("SELECT config_service_flush(%s::bigint[])", (notified,))
        conn.close()
        await listener.close()
        return stale, woken, applied

    stale, woken, applied = asyncio.run(scenario())
    assert stale == ["c:LINE1", "c:LINE2", "o:LINE3:LINEENV"]
    assert woken == [True, True, False]
    assert applied == ["c LINE1 LINEAPP 2\nc LINE2 LINEAPP 0\no LINE3 LINEAPP LINEENV 4"]  # by the round, once


@pytest.mark.parametrize(("rows", "lines", "reset"), [(41, 25, True), (40, 25, False)])
def test_a_round_counts_the_changes_of_rows_of_many_lines_toward_a_reset(database_url, rows, lines, reset):
    # The bound is on changes, not rows: 1,025 changes in 41 rows are a reset, 1,000 in 40 are applied.
    import psycopg2

    async def scenario():
        listener = await listening(database_url, 10_000, ("c:UNRELATED",))
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("INSERT INTO change_outbox (payload) SELECT (SELECT string_agg('c BULK' || r || '_' || n || "
                    "' BULKAPP 1', E'\n') FROM generate_series(1, %s) n) FROM generate_series(1, %s) r RETURNING id",
                    (lines, rows))
        ids = [row[0] for row in cur.fetchall()]
        try:
            assert await listener.sync(listener.cache.tick()) is True
            return "c:UNRELATED" not in listener.cache.entries
        finally:
            cur.execute("DELETE FROM change_outbox WHERE id = ANY (%s)", (ids,))
            conn.close()
            await listener.close()

    assert asyncio.run(scenario()) is reset


def test_a_round_answers_reset_when_over_a_thousand_rows_wait_so_no_answer_carries_a_bulk_write(database_url):
    # 1,000,000 rows inserted in psql would otherwise be in every round's answer until they are published and gone.
    import psycopg2

    async def scenario():
        listener = await listening(database_url, 10_000, ("c:UNRELATED",))
        held = listener.waiters.subscribe(("a:UNRELATED",))
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("INSERT INTO change_outbox (payload) SELECT 'c BULK' || n || ' BULKAPP 1' "
                    "FROM generate_series(1, 1001) n RETURNING id")
        ids = [row[0] for row in cur.fetchall()]
        try:
            assert await listener.sync(listener.cache.tick()) is True
            return listener.cache.entries, held.done()
        finally:
            cur.execute("DELETE FROM change_outbox WHERE id = ANY (%s)", (ids,))
            conn.close()
            await listener.close()

    assert asyncio.run(scenario()) == ({}, True)


def test_a_round_run_by_another_server_process_than_the_listen_gives_the_listener_up_for_good(database_url, caplog):
    """Behind a pool in transaction mode, a round runs on whichever server connection is free, and the LISTEN's
    notifications go to other clients (svc/README.md, High availability: reads served version 1 after a PUT made
    version 2). Here the LISTEN is made to look as if another process ran it: the next round gives the listener up,
    for good, and no read is answered from the copy any more."""
    import psycopg2

    async def scenario():
        listener = await listening(database_url)
        tick = listener.cache.tick()
        assert await listener.sync(tick)  # the round ran where the LISTEN did
        conn = psycopg2.connect(database_url)
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'config-service-listener' "
                        "AND datname = current_database()")
            assert [row[0] for row in cur.fetchall()] == [listener._backend]
        conn.close()
        listener._backend = -1
        answered = await listener.sync(listener.cache.tick())
        await asyncio.wait_for(listener._task, HANG)  # it does not connect again
        gave_up = (listener.pooled, listener.listening, listener.waiters.listening,
                   await listener.sync(listener.cache.tick()))
        await listener.close()
        return answered, gave_up

    answered, gave_up = asyncio.run(scenario())
    assert answered is False
    assert gave_up == (True, False, False, False)  # and held requests check every POLL_SECONDS
    assert any("a pool in transaction mode" in record.getMessage() for record in caplog.records)


def test_the_pool_finding_server_sessions_shared_gives_the_listener_up_for_good(database_url, caplog):
    """The database pool may find a pool in transaction mode out first (`Database.lost_statements`: a prepared
    statement its session does not hold), before any round ran elsewhere than the LISTEN: it tells the listener,
    which gives up as when it finds it itself, once."""
    async def scenario():
        listener = await listening(database_url)
        assert await listener.sync(listener.cache.tick())
        listener.shared()
        await asyncio.wait_for(listener._task, HANG)  # it does not connect again
        gave_up = (listener.pooled, listener.listening, listener.waiters.listening,
                   await listener.sync(listener.cache.tick()))
        listener.shared()
        await listener.close()
        return gave_up

    assert asyncio.run(scenario()) == (True, False, False, False)
    assert len([r for r in caplog.records if "server sessions shared" in r.getMessage()]) == 1


def test_a_change_a_read_finds_while_only_the_listener_is_stalled_wakes_its_held_requests_then(database_url,
                                                                                               monkeypatch):
    """Only the listening connection stalls (here its round waits on a lock of the outbox; in a trial, a TCP proxy
    held its bytes): its rounds are late, so reads go to the database, but the notification of a change cannot
    come until it moves again (DEAD_SECONDS, 5 s, before it is given up). A held request learned of the change only
    then, while a plain GET already answered it. Now the read that finds the change wakes the held requests of its
    key, and they answer it while the listener is still stalled."""
    import psycopg2
    from live import readcache

    monkeypatch.setattr(listener_module, "SYNC_TIMEOUT", 0.2)  # a round is late soon; never given up (the fixture)

    async def scenario():
        listener = await listening(database_url, cache_bytes=10_000)
        cache, waiters = listener.cache, listener.waiters
        table = {"v": 1}

        async def fetch() -> Entry:
            return Entry(f'"{table["v"]}"', str(table["v"]).encode())

        async def read() -> Entry:
            readcache.began.set(cache.tick())  # (a request of its own)
            return await cache.read("c:X", fetch)

        async def check(woken=None):
            readcache.began.set(woken if woken is not None else cache.tick())
            entry = await cache.read("c:X", fetch)
            return entry if entry.etag != '"1"' else None

        assert (await read()).body == b"1" and cache.kept("c:X") is not None
        held = asyncio.create_task(waiters.hold(("c:X",), check, HANG, lambda: "unchanged"))
        await until_async(lambda: waiters.count == 1, "the request held")
        locker = psycopg2.connect(database_url)
        writer = psycopg2.connect(database_url)
        writer.autocommit = True
        try:
            locker.cursor().execute("LOCK TABLE change_outbox IN ACCESS EXCLUSIVE MODE")  # the listener stalls
            assert (await read()).body == b"1"  # in its next round (this read's), late: read from the database
            assert listener._late and waiters.count == 1
            table["v"] = 2
            writer.cursor().execute("SELECT pg_notify('config_service', 'c X Y 2')")  # committed: acknowledged
            assert (await read()).body == b"2"  # its round late, a GET reads the database
            assert listener._late and listener._round is not None  # still stalled (its round out, late)
            answered = await asyncio.wait_for(held, HANG)
            assert answered != "unchanged" and answered.body == b"2"
            assert listener._late and listener._round is not None  # answered while still stalled
        finally:
            locker.rollback()
            locker.close()
            writer.close()
            await listener.close()

    asyncio.run(scenario())
