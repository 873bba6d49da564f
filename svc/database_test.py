import asyncio
import threading

import psycopg2
import pytest

from database import Database, ping
from problems import ServiceUnavailable
from settings import Settings


@pytest.fixture
def database(settings):
    db = Database(settings)
    db.warm()
    yield db
    db.close()


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def table(sql):
    """An empty scratch table, database_test_t (v int)."""
    sql.execute("CREATE TABLE IF NOT EXISTS database_test_t (v int)")
    sql.execute("TRUNCATE database_test_t")


def test_warm_opens_pool_min_connections_and_keeps_them(database, settings):
    assert database.idle() == settings.pool_min
    for _ in range(20):
        assert run(database.run(ping, transaction=False))
    assert database.idle() >= settings.pool_min


def test_connections_returned_stay_open_up_to_pool_max(settings):
    db = Database(settings.model_copy(update={"pool_min": 0}))
    try:
        async def burst():
            await asyncio.gather(*(db.run(lambda cur: cur.execute("SELECT pg_sleep(0.05)")) for _ in range(8)))
        run(burst())
        # psycopg2's pool would have closed every one of these; ours keeps pool_max of them.
        assert db.idle() == settings.pool_max
    finally:
        db.close()


def test_run_commits_a_transaction(database, sql, table):
    run(database.run(lambda cur: cur.execute("INSERT INTO database_test_t VALUES (1)"), transaction=True))
    sql.execute("SELECT count(*) AS n FROM database_test_t")
    assert sql.fetchone()["n"] == 1


def test_a_single_statement_unit_runs_in_autocommit_by_default(database, sql, table):
    def insert_then_fail(cur):
        cur.execute("INSERT INTO database_test_t VALUES (1)")
        raise ValueError("after the statement")

    with pytest.raises(ValueError):
        run(database.run(insert_then_fail))
    sql.execute("SELECT count(*) AS n FROM database_test_t")
    assert sql.fetchone()["n"] == 1  # one statement is its own transaction


def test_run_rolls_back_when_the_work_raises(database, sql, table):
    def fail(cur):
        cur.execute("INSERT INTO database_test_t VALUES (1)")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        run(database.run(fail, transaction=True))
    sql.execute("SELECT count(*) AS n FROM database_test_t")
    assert sql.fetchone()["n"] == 0
    assert run(database.run(ping))  # the connection went back usable


def test_exhausted_pool_waits_then_answers_503(settings):
    db = Database(settings.model_copy(update={"pool_max": 1, "pool_min": 0, "pool_acquire_timeout": 0.2}))
    held = threading.Event()
    release = threading.Event()

    def hold(cur):
        held.set()
        release.wait(5)

    async def scenario():
        holder = asyncio.ensure_future(db.run(hold))
        await asyncio.get_running_loop().run_in_executor(None, held.wait, 5)
        with pytest.raises(ServiceUnavailable) as error:
            await db.run(ping)
        release.set()
        await holder
        return error.value

    try:
        error = run(scenario())
        assert error.headers["Retry-After"] == "1"
        assert run(db.run(ping))  # the slot came back
    finally:
        release.set()
        db.close()


def test_unreachable_database_is_503_and_warm_is_not_fatal():
    db = Database(Settings(database_url="postgresql://nobody:x@127.0.0.1:1/none", pool_min=2))
    try:
        assert db.warm() == 0
        with pytest.raises(ServiceUnavailable):
            run(db.run(ping))
    finally:
        db.close()


def test_statement_timeout_is_503(settings):
    db = Database(settings.model_copy(update={"statement_timeout_ms": 50}))
    try:
        with pytest.raises(ServiceUnavailable):
            run(db.run(lambda cur: cur.execute("SELECT pg_sleep(1)")))
        assert run(db.run(ping))
    finally:
        db.close()


def test_after_a_restart_the_first_request_succeeds_on_a_fresh_connection(settings, sql):
    db = Database(settings.model_copy(update={"pool_min": 4, "pool_max": 4}))
    try:
        assert db.warm() == 4
        sql.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'config-service'")
        # Every pooled connection is now dead, as after a database restart: the first unit of work notices,
        # drops them all, and succeeds on a new one rather than trying the next dead one.
        assert run(db.run(ping))
        assert db.idle() == 1
    finally:
        db.close()


def test_serialization_failures_and_deadlocks_are_retried_and_logged(database, caplog):
    attempts = []

    def flaky(cur):
        attempts.append(1)
        if len(attempts) < 3:
            raise (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)[len(attempts) - 1]("again")
        return "done"

    assert run(database.run(flaky)) == "done"
    assert len(attempts) == 3
    assert [r.getMessage() for r in caplog.records if r.name == "config_service"] == [
        "the database cancelled a unit of work (serialization failure), attempt 1",
        "the database cancelled a unit of work (deadlock), attempt 2"]


def test_connection_context_commits_and_gives_back(database, sql, table):
    async def work():
        async with database.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO database_test_t VALUES (2)")

    idle_before = database.idle()
    run(work())
    sql.execute("SELECT v FROM database_test_t")
    assert sql.fetchone()["v"] == 2
    assert database.idle() == idle_before
