import asyncio
import threading
import time

import psycopg2
import pytest

from db.database import PREPARED, Connection, Cursor, Database, as_key, idempotent, ping, prepare, prepared
from repositories import configurations
from wire.problems import ServiceUnavailable
from settings import Settings
from tools.harness import until

# A statement of the tests' own, prepared on every connection opened after this module is imported: what it returns
# shows the setting its unit's first statement carried (`as_key`) and a parameter.
KEYED = prepared("SELECT current_setting('config_service.key_id', true) AS k, %(x)s::int AS x")
KEY = "01JD3D4M5N6P7Q8R9S0T1V2W3X"


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


def opened(sql) -> int:
    """Connections of the service's pools open on the test database, as the server counts them."""
    sql.execute("SELECT count(*) AS n FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'config-service'")
    return sql.fetchone()["n"]


def backend(cur) -> int:
    cur.execute("SELECT pg_backend_pid() AS pid")
    return cur.fetchone()["pid"]


def test_warm_opens_pool_min_connections_and_keeps_them(settings, sql):
    db = Database(settings.model_copy(update={"pool_min": 3}))
    try:
        assert db.warm() == 3
        until(lambda: opened(sql) == 3, "three connections open")
        assert len({run(db.run(backend)) for _ in range(20)}) == 1  # one after the other: the same connection
        assert opened(sql) == 3
    finally:
        db.close()
    until(lambda: opened(sql) == 0, "every connection closed")


def test_connections_returned_stay_open_up_to_pool_max(settings, sql):
    # Units beyond pool_max wait for a connection until the first ones have each opened theirs and met: not 503 after
    # the default second, which a busy machine's connection setup can take.
    db = Database(settings.model_copy(update={"pool_min": 0, "pool_acquire_timeout": 60}))
    try:
        together = threading.Barrier(settings.pool_max, timeout=120)  # pool_max connections borrowed at once

        def meet(cur) -> None:
            cur.execute("SELECT 1")
            together.wait()

        async def burst():
            await asyncio.gather(*(db.run(meet) for _ in range(2 * settings.pool_max)))
        run(burst())
        # psycopg2's pool would have closed every one of these; ours keeps pool_max of them.
        pids = {run(db.run(backend)) for _ in range(4 * settings.pool_max)}
        assert opened(sql) == settings.pool_max and len(pids) <= settings.pool_max
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


def test_exhausted_pool_waits_then_answers_503_and_the_work_never_runs(settings):
    # One connection, so one thread: the second unit of work waits for it in the executor's queue.
    db = Database(settings.model_copy(update={"pool_max": 1, "pool_min": 0, "pool_acquire_timeout": 0.2}))
    held = threading.Event()
    release = threading.Event()
    ran = []

    def hold(cur):
        held.set()
        release.wait(5)

    async def scenario():
        holder = asyncio.ensure_future(db.run(hold))
        await asyncio.get_running_loop().run_in_executor(None, held.wait, 5)
        with pytest.raises(ServiceUnavailable) as error:
            await db.run(lambda cur: ran.append(1))
        release.set()
        await holder
        return error.value

    try:
        error = run(scenario())
        assert error.headers["Retry-After"] == "1"
        assert run(db.run(ping))  # the slot came back
        assert ran == []
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
    # A second: the timeout also covers each statement of a connection's opening, which a busy machine can slow.
    db = Database(settings.model_copy(update={"statement_timeout_ms": 1000}))
    try:
        with pytest.raises(ServiceUnavailable) as error:
            run(db.run(lambda cur: cur.execute("SELECT pg_sleep(30)")))
        # Cancelled by the server at its statement timeout: not cut by this side's bound (timeout + 2 s), which
        # says the outcome is unknown instead.
        assert error.value.detail == "The database did not answer in time."
        assert run(db.run(ping))
    finally:
        db.close()


def test_after_a_restart_the_first_request_succeeds_and_pool_min_connections_open_again(settings, sql):
    db = Database(settings.model_copy(update={"pool_min": 4, "pool_max": 4}))
    try:
        assert db.warm() == 4
        sql.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'config-service'")
        # Every pooled connection is now dead, as after a database restart: the first unit of work notices,
        # drops them all, and succeeds on a new one rather than trying the next dead one.
        assert run(db.run(ping))
        until(lambda: opened(sql) == 4, "POOL_MIN connections open again")
    finally:
        db.close()


def test_pool_min_connections_open_again_without_a_request(settings, sql):
    db = Database(settings.model_copy(update={"pool_min": 2}))
    try:
        assert db.warm() == 2
        sql.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'config-service'")
        until(lambda: opened(sql) == 0, "the connections ended")
        until(lambda: opened(sql) == 2, "POOL_MIN connections open again")
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


def test_a_unit_of_work_the_server_does_not_end_is_ended_from_this_side(settings):
    # The server's own statement timeout switched off, as a frozen server or a commit waiting for a synchronous
    # standby that is gone would have it: the watchdog shuts the connection STATEMENT_TIMEOUT_MS + 2 s in.
    db = Database(settings.model_copy(update={"statement_timeout_ms": 1000}))  # (it covers a connection's opening)
    calls = []

    def hangs(cur):
        calls.append(1)
        cur.execute("SET statement_timeout = 0; SELECT pg_sleep(300)")

    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as unknown:
            run(db.run(hangs))
        assert time.monotonic() - started < 120  # not the 300 s the server would take
        assert "whether it was applied is unknown" in unknown.value.detail
        assert calls == [1], "a change whose outcome is unknown was sent again"
        assert run(db.run(ping))
    finally:
        db.close()


def test_a_read_whose_connection_breaks_is_run_again_once_and_a_change_is_not(database, sql):
    calls = {"read": 0, "write": 0}

    def breaks(kind: str):
        def work(cur):
            calls[kind] += 1
            if calls[kind] == 1:
                cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return kind
        return idempotent(work) if kind == "read" else work

    assert run(database.run(breaks("read"))) == "read" and calls["read"] == 2
    with pytest.raises(ServiceUnavailable) as unknown:
        run(database.run(breaks("write")))
    assert calls["write"] == 1 and "unknown" in unknown.value.detail


def test_a_unit_made_with_a_key_records_it_in_every_row_its_transaction_writes_and_only_there(database, sql):
    sql.execute("CREATE TABLE IF NOT EXISTS database_test_k (v int, k varchar(26) "
                "DEFAULT nullif(current_setting('config_service.key_id', true), ''))")
    sql.execute("TRUNCATE database_test_k")
    key = "01JD3D4M5N6P7Q8R9S0T1V2W3X"

    def insert(cur, value):
        cur.execute("INSERT INTO database_test_k (v) VALUES (%s) RETURNING v", (value,))
        assert cur.fetchone()["v"] == value  # the statement's own answer, not the setting's
        return value

    def two(cur):
        cur.execute("INSERT INTO database_test_k (v) VALUES (2)")
        cur.execute("INSERT INTO database_test_k (v) VALUES (3)")

    run(database.run(as_key(key, insert), 1))  # autocommit: one message, one transaction
    run(database.run(as_key(key, two), transaction=True))
    run(database.run(insert, 4))  # the next unit on the same connections: no key
    sql.execute("SELECT v, k FROM database_test_k ORDER BY v")
    assert [(row["v"], row["k"]) for row in sql.fetchall()] == [(1, key), (2, key), (3, key), (4, None)]
    with pytest.raises(ValueError):
        as_key("'; DROP TABLE x; --", insert)


def test_a_unit_of_many_statements_is_cut_at_the_bound_unless_given_longer(settings):
    """Each statement is within STATEMENT_TIMEOUT_MS, all together past the bound (it + BOUND_MARGIN): cut (503),
    unless the unit was given `longer` (an import of many configurations)."""
    quick = Database(settings.model_copy(update={"statement_timeout_ms": 1000}))
    quick.warm()

    def many(cur):
        for _ in range(16):  # 16 x 0.25 s: past the bound of 1 + 2 s, whatever the machine's speed; each statement
            cur.execute("SELECT pg_sleep(0.25)")  # three quarters of a second within its own timeout
        return "done"
    try:
        with pytest.raises(ServiceUnavailable):
            run(quick.run(many, transaction=True))
        assert run(quick.run(many, transaction=True, longer=60)) == "done"
    finally:
        quick.close()


def test_a_unit_with_a_key_that_raises_before_its_first_statement_leaves_nothing_to_the_next(database, sql):
    sql.execute("CREATE TABLE IF NOT EXISTS database_test_k (v int, k varchar(26) "
                "DEFAULT nullif(current_setting('config_service.key_id', true), ''))")
    sql.execute("TRUNCATE database_test_k")

    def refuse(cur):
        raise LookupError("refused before any statement")

    def insert(cur):
        cur.execute("INSERT INTO database_test_k (v) VALUES (1)")

    tiny = Database(database.settings.model_copy(update={"pool_min": 1, "pool_max": 1}))
    tiny.warm()
    try:
        with pytest.raises(LookupError):
            run(tiny.run(as_key("01JD3D4M5N6P7Q8R9S0T1V2W3X", refuse)))
        run(tiny.run(insert))  # the same, only, connection
    finally:
        tiny.close()
    sql.execute("SELECT k FROM database_test_k")
    assert sql.fetchone()["k"] is None


def test_every_registered_statement_prepares_and_runs_as_prepared(database, sql):
    import app  # noqa: F401 - every repository registers its statements when imported

    conn = psycopg2.connect(database.url, cursor_factory=Cursor, connection_factory=Connection)
    conn.autocommit = True
    try:
        conn.prepared = prepare(conn)
        assert conn.prepared == {name for name, _, _ in PREPARED.values()}  # none left as plain SQL
        assert len(PREPARED) >= 20
        with conn.cursor() as cur:
            query = configurations.SELECT_ONE
            cur.execute(query, {"id": "0" * 26})
            assert cur.fetchall() == []
            cur.execute("SELECT generic_plans + custom_plans AS runs FROM pg_prepared_statements WHERE name = %s",
                        (PREPARED[query][0],))
            assert cur.fetchone()["runs"] == 1
    finally:
        conn.close()


def test_a_statement_with_a_literal_percent_is_not_prepared():
    with pytest.raises(ValueError):
        prepared("SELECT 1 WHERE 'a' LIKE 'a%%'")


def test_every_prepared_statement_locks_applications_before_configurations(database_url):
    """PostgreSQL locks the tables a statement names as it reads it (a PREPARE on a new connection, say), in the
    order it names them. Each prepared statement that names both takes `applications` first, as the other writes and
    a TRUNCATE or migration of both do: in the other order, a connection opened while one of those ran deadlocked
    with it. Seen from a transaction holding `configurations`: the PREPARE waits there holding `applications`."""
    import app  # noqa: F401 - every module's statements registered
    checked = []
    for name, statement, _ in PREPARED.values():
        if "applications" not in statement or "configurations" not in statement:
            continue
        holder, preparer = psycopg2.connect(database_url), psycopg2.connect(database_url)
        try:
            holder.cursor().execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
            pid = preparer.get_backend_pid()
            thread = threading.Thread(target=lambda: preparer.cursor().execute(statement), daemon=True)
            thread.start()
            cur = holder.cursor()

            def locks():
                cur.execute("SELECT relation::regclass::text AS relation, granted FROM pg_locks "
                            "WHERE pid = %s AND relation IS NOT NULL", (pid,))
                return cur.fetchall()
            until(lambda: any(not granted for _, granted in locks()), f"{name} waiting for configurations")
            held = {relation for relation, granted in locks() if granted}
            assert "applications" in held, (name, statement[:200])
            checked.append(name)
        finally:
            holder.rollback()
            thread.join(30)
            holder.close()
            preparer.close()
    assert len(checked) >= 10  # the writes of configurations and overrides, one and many


def test_a_statement_is_named_by_its_sql_so_one_name_is_one_statement_in_every_version():
    import hashlib
    name, statement, execute = PREPARED[KEYED]
    body = statement.removeprefix(f"PREPARE {name} AS ")
    assert body == "SELECT current_setting('config_service.key_id', true) AS k, $1::int AS x"
    assert name == "config_service_" + hashlib.sha256(body.encode()).hexdigest()[:20]
    assert execute == f"EXECUTE {name} (%(x)s)"
    assert prepared(KEYED) == KEYED and PREPARED[KEYED][0] == name  # registered once
    assert len({name for name, _, _ in PREPARED.values()}) == len(PREPARED)


def _forgetting(settings) -> Database:
    """A pool of one connection whose session has forgotten its prepared statements, as a server connection that a
    pool in transaction mode hands over, and that never prepared them, would have."""
    tiny = Database(settings.model_copy(update={"pool_min": 1, "pool_max": 1}))
    tiny.warm()
    run(tiny.run(lambda cur: cur.execute("DEALLOCATE ALL")))
    assert not tiny.unprepared
    return tiny


def _given_up(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "prepared statements given up" in r.getMessage()]


def test_a_statement_the_session_does_not_hold_runs_again_as_plain_sql_and_every_one_after_it(database, caplog):
    """Behind a pool in transaction mode a statement prepared on one server connection can run on another, which
    never prepared it (SQLSTATE 26000, to psycopg2 an OperationalError, which was taken for a broken connection:
    503, "whether it was applied is unknown"). Nothing of it was done: it runs again at once as plain SQL, with the
    setting it carried, and the pool gives prepared statements up. In autocommit it runs again where it was, not
    its unit whole: a unit's statements before it are each their own transaction, and done."""
    tiny = _forgetting(database.settings)
    calls = []
    try:
        def keyed(cur):
            calls.append(1)
            cur.execute(KEYED, {"x": 7})
            return dict(cur.fetchone())
        assert run(tiny.run(as_key(KEY, keyed))) == {"k": KEY, "x": 7}
        assert tiny.unprepared and len(calls) == 1
        assert run(tiny.run(keyed))["k"] in (None, "")  # the key was its own transaction's only
        fresh = tiny.connect("config-service-test")  # a connection opened now prepares nothing
        try:
            assert fresh.prepared == frozenset()
            with fresh.cursor() as cur:
                cur.execute("SELECT count(*) AS n FROM pg_prepared_statements")
                assert cur.fetchone()["n"] == 0
        finally:
            fresh.close()
    finally:
        tiny.close()
    assert len(_given_up(caplog)) == 1
    assert "prepared statement" in _given_up(caplog)[0] and "does not exist" in _given_up(caplog)[0]


@pytest.mark.parametrize("meanwhile", [False, True])
def test_a_transaction_that_meets_a_statement_its_session_does_not_hold_runs_again_whole_and_is_made_once(
        database, sql, table, caplog, meanwhile):
    """`meanwhile`: another unit's finding turned the pool to plain SQL as this one's error arrived (behind such a
    pool many statements meet it at once): it runs again all the same."""
    from db.database import LOST
    tiny = _forgetting(database.settings)
    calls = []

    def unit(cur):
        calls.append(1)
        cur.execute("INSERT INTO database_test_t VALUES (1)")
        try:
            cur.execute(KEYED, {"x": 2})  # the transaction is aborted here the first time: rolled back, run again
        except LOST:
            tiny.unprepared = tiny.unprepared or meanwhile
            raise
        return cur.fetchone()["x"]
    try:
        assert run(tiny.run(unit, transaction=True)) == 2
    finally:
        tiny.close()
    assert len(calls) == 2
    sql.execute("SELECT count(*) AS n FROM database_test_t")
    assert sql.fetchone()["n"] == 1
    assert len(_given_up(caplog)) == (0 if meanwhile else 1)  # (the other unit's finding said it)


def test_a_new_session_that_already_holds_the_statements_is_shared_and_its_pool_gives_them_up(database, caplog):
    """A new server session holds no prepared statement; one that does is shared with other clients (a pool in
    transaction mode whose server connection another client prepared them on)."""
    tiny = Database(database.settings.model_copy(update={"pool_min": 0, "pool_max": 1}))
    try:
        conn = tiny.connect("config-service-test")
        try:
            assert KEYED and PREPARED[KEYED][0] in conn.prepared
            assert prepare(conn) == frozenset()  # as a second client of the same server session would find it
            assert tiny.unprepared
        finally:
            conn.close()
        assert run(tiny.run(lambda cur: cur.execute(KEYED, {"x": 3}) or cur.fetchone()["x"])) == 3
    finally:
        tiny.close()
    assert _given_up(caplog) == [_given_up(caplog)[0]] and "already held" in _given_up(caplog)[0]


def _timeouts(cur) -> tuple[str, str, str]:
    cur.execute("SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l")
    row = cur.fetchone()
    return row["s"], row["l"], cur.connection.local


def test_the_connections_timeouts_come_from_their_startup_parameters_and_no_statement_sets_them(settings):
    db = Database(settings.model_copy(update={"statement_timeout_ms": 4321, "lock_timeout_ms": 1234, "pool_min": 0}))
    try:
        assert run(db.run(_timeouts)) == ("4321ms", "1234ms", "")
    finally:
        db.close()


def test_where_the_server_did_not_take_the_startup_parameters_each_transaction_sets_the_timeouts(settings, caplog):
    """A pool between the service and PostgreSQL may drop a connection's startup parameters (PgBouncer ignores the
    ones `ignore_startup_parameters` names): the session then has the server's timeouts (none), and a write waiting
    for a lock would wait until the service's bound shut its connection, its outcome unknown. Each message then sets
    them for its own transaction (a session's setting would stay on a server connection other clients may share)."""
    db = Database(settings.model_copy(update={"statement_timeout_ms": 4321, "lock_timeout_ms": 1234, "pool_min": 0}))
    db._connect_args.pop("options")  # as a pool that drops them

    def twice(cur):
        first = _timeouts(cur)
        return first, _timeouts(cur)

    async def on_the_loop():
        from db import loop
        pool = db.on_loop = loop.LoopPool(db)
        try:
            return await pool.first_row("SELECT current_setting('lock_timeout') AS l", dict)
        finally:
            pool.close()
    try:
        expected = ("4321ms", "1234ms", "SET LOCAL statement_timeout = 4321; SET LOCAL lock_timeout = 1234; ")
        assert run(db.run(_timeouts)) == expected
        assert run(db.run(twice, transaction=True)) == (expected, expected)
        assert run(on_the_loop()) == {"l": "1234ms"}
    finally:
        db.close()
    told = [r.getMessage() for r in caplog.records if "did not take the connections' statement" in r.getMessage()]
    assert len(told) == 1 and "(0 ms and 0 ms found" in told[0]


def test_a_pool_that_refuses_the_startup_parameter_options_is_connected_to_without_it(settings, monkeypatch, caplog):
    """PgBouncer refuses a startup parameter it does not know unless told to ignore it ("unsupported startup
    parameter: options"): the service connects again without it, and each transaction sets its timeouts."""
    connect = psycopg2.connect
    refused = []

    def refusing(*args, **kwargs):
        if "options" in kwargs:
            refused.append(kwargs.get("application_name"))
            raise psycopg2.OperationalError('connection to server at "127.0.0.1", port 6432 failed: FATAL:  '
                                            'unsupported startup parameter: options')
        return connect(*args, **kwargs)
    monkeypatch.setattr(psycopg2, "connect", refusing)
    db = Database(settings.model_copy(update={"lock_timeout_ms": 1234, "pool_min": 0}))
    try:
        assert run(db.run(_timeouts))[1:] == ("1234ms", "SET LOCAL statement_timeout = "
                                              f"{settings.statement_timeout_ms}; SET LOCAL lock_timeout = 1234; ")
        db.connect("config-service-test").close()
    finally:
        db.close()
    assert refused == ["config-service"]  # once: the next connections go without it
    assert len([r for r in caplog.records if "refuses the startup parameter" in r.getMessage()]) == 1


def test_while_a_host_does_not_answer_one_attempt_to_connect_goes_on_at_a_time(settings, caplog):
    """A host that takes the TCP connection and never answers (a frozen server) costs an attempt CONNECT_TIMEOUT:
    once one ran out, the units of work that need a connection meanwhile fail at once while one attempt is in
    flight, instead of each spending CONNECT_TIMEOUT of a thread (and of its client) on the same silence. Counted,
    not timed: the attempts the pool makes, and the connections the silent host took."""
    import socket

    accepted = []
    silent = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])  # taken, never answered
            except TimeoutError:
                pass
    server = threading.Thread(target=serve, daemon=True)
    server.start()
    port = silent.getsockname()[1]
    url = f"postgresql://nobody:x@127.0.0.1:{port}/nothing"
    db = Database(settings.model_copy(update={"database_url": url, "connect_timeout": 1, "pool_min": 0,
                                              "pool_max": 8}))
    attempts = []
    opening = db._open
    db._open = lambda *args, **kwargs: attempts.append(1) or opening(*args, **kwargs)
    try:
        with pytest.raises(ServiceUnavailable):
            run(db.run(ping))  # the first: it runs out of CONNECT_TIMEOUT
        assert len(attempts) == 1 and db.hung()
        until(lambda: len(accepted) == 1, "the silent host took the first attempt's connection")

        async def eight():
            return await asyncio.gather(*(db.run(ping) for _ in range(8)), return_exceptions=True)
        answers = run(eight())
        assert all(isinstance(answer, ServiceUnavailable) for answer in answers)
        assert len(attempts) == 2  # one attempt among the eight; seven answered at once
        until(lambda: len(accepted) == 2, "the silent host took the second attempt's connection")
    finally:
        db.close()
        stop.set()
        server.join(5)
        for conn in accepted:
            conn.close()
        silent.close()
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cannot connect")]
    assert any("timeout expired" in line for line in said) and any("does not answer" in line for line in said), said


def test_the_end_of_an_outage_is_said_whoever_opens_the_next_connection(settings, caplog):
    """The pool's own refill (its keeper, POOL_MIN) opens the first connection after an outage as often as a
    request does: either one says the outage ended, once."""
    db = Database(settings.model_copy(update={"pool_min": 1}))
    try:
        with caplog.at_level("WARNING", logger="config_service"):
            db.outage.failed(psycopg2.OperationalError(
                'connection to server at "127.0.0.1", port 5432 failed: Connection refused\n'))
            db.warm()  # the refill, not a request
            db.warm()
        said = [r.getMessage() for r in caplog.records]
        assert len([line for line in said if line.startswith("connected to the database again, at ")]) == 1, said
    finally:
        db.close()
