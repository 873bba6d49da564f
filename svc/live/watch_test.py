import asyncio

import pytest

from live import watch
from live.cache import Copy, Entry
from wire.problems import ServiceUnavailable
from tools.harness import HANG, until_async


def listening(**limits) -> watch.Watcher:
    """A watcher that takes itself for connected (no database): what `hold` needs to wait on wakes."""
    watcher = watch.Watcher("postgresql://unused", **{"max_waiters": 10, **limits})
    watcher.listening = True
    return watcher


async def never():
    """A re-check that never finds a change."""
    return None


def test_a_notification_wakes_its_configuration_and_its_application_listing():
    assert watch.keys_of("c 01A 01B 3") == ("c:01A", "l:01B")
    assert watch.keys_of("a 01B 0") == ("a:01B", "l:01B")
    assert watch.keys_of("nonsense") == () and watch.keys_of("") == ()


def test_wake_answers_only_the_waiters_of_that_key_and_the_cap_refuses_more():
    async def scenario():
        watcher = watch.Watcher("postgresql://unused", max_waiters=2)
        mine = watcher.subscribe(("c:1", "l:9"))
        other = watcher.subscribe(("c:2",))
        with pytest.raises(ServiceUnavailable):
            watcher.subscribe(("c:3",))
        watcher.wake("c:2")
        assert other.done() and not mine.done()
        watcher.wake("l:9")
        assert mine.done()
        watcher.unsubscribe(("c:1", "l:9"), mine)
        watcher.unsubscribe(("c:2",), other)
        assert watcher.count == 0 and watcher.waiters == {}

    asyncio.run(scenario())


def test_hold_rechecks_on_a_wake_and_answers_unchanged_at_the_deadline():
    async def scenario():
        watcher = listening()
        state = {"version": 1, "checks": 0}

        async def check():
            state["checks"] += 1
            return f"v{state['version']}" if state["version"] > 1 else None

        timed_out = await watcher.hold(("c:1",), check, 0.05, lambda: "unchanged")
        held = asyncio.create_task(watcher.hold(("c:1",), check, 30, lambda: "unchanged"))
        await asyncio.sleep(0.05)
        watcher.wake("c:2")  # another key: no re-check
        await asyncio.sleep(0.05)
        checks_before = state["checks"]
        state["version"] = 2
        watcher.wake("c:1")
        return timed_out, await asyncio.wait_for(held, HANG), checks_before, state["checks"], watcher.count

    timed_out, answer, before, after, count = asyncio.run(scenario())
    assert timed_out == "unchanged" and answer == "v2" and after == before + 1 and count == 0


def test_closing_answers_every_waiter_unchanged_at_once():
    async def scenario():
        watcher = listening(max_wait=300)
        held = [asyncio.create_task(watcher.hold((f"c:{i}",), never, 300, lambda: 304)) for i in range(3)]
        await asyncio.sleep(0.05)
        watcher.begin_closing()
        return await asyncio.wait_for(asyncio.gather(*held), HANG)

    assert asyncio.run(scenario()) == [304, 304, 304]


def test_a_client_that_disconnects_ends_its_hold_and_frees_its_slot_at_once():
    async def scenario():
        watcher = listening(max_waiters=1, max_wait=300)
        checks, left = [], asyncio.Event()

        async def check():
            checks.append(1)
            return None

        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive():  # as uvicorn's: the (empty) body, then nothing until the client has gone
            if requests:
                return requests.pop()
            await left.wait()
            return {"type": "http.disconnect"}

        held = asyncio.create_task(watcher.hold(("c:1",), check, 300, lambda: "unchanged", receive))
        for _ in range(100):  # loop turns, counted: the hold subscribes in its first
            if watcher.count:
                break
            await asyncio.sleep(0)
        with pytest.raises(ServiceUnavailable):  # the one slot is taken
            watcher.subscribe(("c:2",))
        left.set()
        return await asyncio.wait_for(held, 5), len(checks), watcher.count, watcher.waiters

    assert asyncio.run(scenario()) == ("unchanged", 1, 0, {})


def test_a_body_past_its_limits_while_held_is_raised_from_the_hold():
    class TooLarge(Exception):
        pass

    async def scenario():
        watcher = listening(max_wait=300)

        async def receive():
            raise TooLarge()

        with pytest.raises(TooLarge):
            await asyncio.wait_for(watcher.hold(("c:1",), never, 300, lambda: "unchanged", receive), 5)
        return watcher.count

    assert asyncio.run(scenario()) == 0


def test_max_wait_bounds_a_longer_wait():
    async def scenario():
        watcher = listening(max_wait=0.05)
        return await asyncio.wait_for(watcher.hold(("c:1",), never, 300, lambda: "bounded"), HANG)

    assert asyncio.run(scenario()) == "bounded"


def test_the_listener_delivers_notifications_and_reconnects(database_url):
    import psycopg2

    async def scenario():
        watcher = watch.Watcher(database_url, max_waiters=10)
        watcher.start()
        await until_async(lambda: watcher.listening, "the listener connected")
        future = watcher.subscribe(("c:X",))
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        conn.cursor().execute("SELECT pg_notify('config_service', 'c X Y 2')")
        await asyncio.wait_for(future, HANG)
        watcher.unsubscribe(("c:X",), future)
        lost = watcher._conn
        conn.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'config-service-listener' AND datname = current_database()")
        # It notices the loss, then listens again on another connection.
        await until_async(lambda: watcher.listening and watcher._conn not in (None, lost), "listening again")
        again = watcher.subscribe(("c:X",))
        conn.cursor().execute("SELECT pg_notify('config_service', 'c X Y 3')")
        await asyncio.wait_for(again, HANG)
        conn.close()
        await watcher.close()
        return watcher.listening

    assert asyncio.run(scenario()) is False


def test_a_notification_makes_stale_what_it_names_in_the_copy():
    copy = Copy(max_bytes=10_000)
    for key in ("c:01A", "a:01B", "c:01C"):
        copy._store(key, Entry("", b"x"))
    watch.apply(copy, "c 01A 01B 3")
    assert set(copy.entries) == {"a:01B", "c:01C"} and copy._generations == {"l:01B": 1}
    watch.apply(copy, "a 01B 4")
    assert set(copy.entries) == {"c:01C"} and copy._generations == {"l:01B": 2, "apps": 1}
    watch.apply(copy, "reset")
    assert copy.entries == {} and copy._generations == {}


def test_a_sync_round_comes_back_after_the_notifications_committed_before_it_began(database_url):
    import psycopg2

    async def scenario():
        copy = Copy(max_bytes=10_000)
        watcher = watch.Watcher(database_url, max_waiters=10, copy=copy)
        assert await watcher.sync(copy.tick()) is False  # not listening yet: the copy cannot be trusted
        watcher.start()
        await until_async(lambda: watcher.listening, "the listener connected")
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        for i in range(20):
            copy._store("c:X", Entry("", b"x"))
            conn.cursor().execute("SELECT pg_notify('config_service', 'c X Y 2')")  # committed: acknowledged
            assert await watcher.sync(copy.tick()) is True
            assert "c:X" not in copy.entries, f"round {i} came back before the notification"
        rounds = watcher.rounds
        assert all(await asyncio.gather(*(watcher.sync(copy.tick()) for _ in range(200))))
        assert watcher.rounds - rounds <= 2  # 200 concurrent reads shared the rounds
        conn.close()
        await watcher.close()
        assert await watcher.sync(copy.tick()) is False

    asyncio.run(scenario())


def test_a_lost_listener_socket_is_unwatched_at_once_not_after_the_loop_turns():
    # libpq closes its socket when it finds the connection broken, and the next socket the process opens can get
    # the same number; were the old registration removed a turn later, the loop would drop the new socket instead.
    import socket

    async def scenario():
        loop = asyncio.get_running_loop()
        watcher = listening()
        mine, peer = socket.socketpair()
        watcher._fd = mine.fileno()
        loop.add_reader(watcher._fd, lambda: None)
        watcher._lost = loop.create_future()
        watcher._lose()
        still_watched = loop.remove_reader(mine.fileno())  # True only if _lose left it registered
        mine.close()
        peer.close()
        return still_watched, watcher._lost.done()

    assert asyncio.run(scenario()) == (False, True)


def test_the_listener_outlives_any_error_and_a_socket_closed_under_it(database_url):
    import os

    async def scenario():
        watcher = watch.Watcher(database_url, max_waiters=10)
        connect, failures = watcher._connect, []

        async def fails_first():
            if not failures:
                failures.append(1)
                raise RuntimeError("not a psycopg2 error")
            return await connect()

        watcher._connect = fails_first
        watcher.start()
        await until_async(lambda: watcher.listening, "listening after an unexpected error")
        # The socket closed under libpq (what a moved-on host list or a bug elsewhere can do): a poll fails with
        # EBADF, and the listener connects again instead of ending.
        lost = watcher._conn
        os.close(lost.fileno())
        watcher._readable()
        await until_async(lambda: watcher.listening and watcher._conn not in (None, lost), "listening again")
        task = watcher._task
        await watcher.close()
        return failures, task.done()

    failures, done = asyncio.run(scenario())
    assert failures == [1] and done


def test_a_truncate_answers_the_requests_held_on_what_it_removed_at_once(client, sql):
    import threading

    from tools.harness import HANG, until

    app_id = client.post("/api/v1/applications", json={"name": "held"}).json()["id"]
    made = client.post("/api/v1/configurations", json={"application_id": app_id, "name": "db", "config": {}})
    answers = []
    held = threading.Thread(target=lambda: answers.append(client.get(
        f"/api/v1/configurations/{made.json()['id']}", params={"wait": 300},
        headers={"If-None-Match": made.headers["etag"]})))
    held.start()
    until(lambda: client.get("/health").json()["waiters"] == 1, "the request held")
    sql.execute("TRUNCATE applications, configurations CASCADE")  # no row trigger: the 'reset' notification
    held.join(HANG)  # not at the end of its wait (300 s): a truncate fires no row trigger, only 'reset'
    assert not held.is_alive() and answers[0].status_code == 404
