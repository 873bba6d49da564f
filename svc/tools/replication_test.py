"""tools/replication.py for real: a synchronous pair comes up, replicates, makes a commit wait for its standby,
freezes, fails over to a new timeline, and ends up with two primaries when the old one is started again.

Runs with the fault tests (`-m faults`); traffic only to 127.0.0.1, every wait bounded, each pair removed."""

import threading
import time

import psycopg2
import pytest

from tools.replication import DATABASE, PASSWORD, USER, WITHIN, Pair, _alive, _state, wait_until

pytestmark = pytest.mark.faults


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}", flush=True)


@pytest.fixture(scope="module")
def pair():
    with Pair("repl_test") as pair:
        pair.sql(0, "CREATE TABLE t (x int PRIMARY KEY)")
        yield pair


def served_by(url: str) -> tuple[int, bool]:
    """(port, in recovery) of the server that `url` connects to."""
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT inet_server_port(), pg_is_in_recovery()")
            return cur.fetchone()
    finally:
        conn.close()


def test_the_pair_comes_up_synchronous_on_loopback(pair):
    assert pair.replication() == [("repl_test_1", "streaming", "sync")]
    assert [pair.in_recovery(0), pair.in_recovery(1)] == [False, True]
    assert pair.system_identifier(0) == pair.system_identifier(1)
    assert [pair.timeline(0), pair.timeline(1)] == [1, 1]
    for node in (0, 1):
        assert pair.sql(node, "SHOW listen_addresses") == [("127.0.0.1",)]
        assert pair.sql(node, "SHOW unix_socket_directories") == [("",)]


def test_a_write_on_the_primary_is_seen_on_the_standby(pair):
    pair.sql(0, "INSERT INTO t VALUES (1)")
    wait_until(lambda: pair.sql(1, "SELECT x FROM t WHERE x = 1"), "the row on the standby")


def test_the_multi_host_url_connects_to_the_primary_even_listed_second(pair):
    assert served_by(pair.multi_host_url) == (pair.ports[0], False)
    standby_first = (f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{pair.ports[1]},127.0.0.1:{pair.ports[0]}/"
                     f"{DATABASE}?target_session_attrs=read-write")
    assert served_by(standby_first) == (pair.ports[0], False)


def test_without_its_standby_a_commit_waits_until_the_standby_is_back(pair, capsys):
    pair.lose_standby()
    assert pair.processes(1) == []
    try:
        # Cancelled, the wait ends with a WARNING and the commit is kept: sql() says so.
        with pytest.raises(TimeoutError, match="synchronous replication"):
            pair.sql(0, "INSERT INTO t VALUES (2)", timeout=1)
        assert pair.sql(0, "SELECT x FROM t WHERE x = 2") == [(2,)]

        # statement_timeout does not bound that wait: PostgreSQL disables it before committing.
        conn = psycopg2.connect(pair.urls[0], connect_timeout=10, options="-c statement_timeout=1000")
        conn.autocommit = True
        backend = conn.get_backend_pid()
        outcome: list = []

        def commit() -> None:
            try:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO t VALUES (3)")
                outcome.append("committed")
            except psycopg2.Error as error:
                outcome.append(error)

        writer = threading.Thread(target=commit, daemon=True)
        writer.start()
        wait_until(lambda: pair.sql(0, "SELECT wait_event FROM pg_stat_activity WHERE pid = %s",
                                    (backend,)) == [("SyncRep",)], "the commit waiting in SyncRep")
        writer.join(3)  # three times its statement_timeout
        assert writer.is_alive() and outcome == []
    finally:
        started = time.monotonic()
        pair.start(1)
    writer.join(WITHIN)
    report(capsys, f"replication: the waiting commit returned {time.monotonic() - started:.2f} s after "
                   "starting the standby")
    conn.close()
    assert outcome == ["committed"] and conn.notices == []
    pair.wait_streaming()
    wait_until(lambda: pair.sql(1, "SELECT count(*) FROM t WHERE x IN (2, 3)") == [(2,)], "both rows replicated")


def test_a_frozen_node_times_out_connections_and_answers_once_thawed(pair):
    frozen = pair.freeze(0)
    try:
        assert len(frozen) > 3 and all(_state(pid) == "T" for pid in frozen)
        started = time.monotonic()
        with pytest.raises(psycopg2.OperationalError, match="timeout"):
            psycopg2.connect(pair.urls[0], connect_timeout=2)
        assert time.monotonic() - started < 10
    finally:
        pair.thaw(0)
    assert pair.sql(0, "SELECT 1") == [(1,)]
    pair.wait_streaming()


def test_failover_to_the_standby_then_two_primaries(capsys):
    with Pair("repl_failover") as pair:
        identifier = pair.system_identifier(0)
        pair.sql(0, "CREATE TABLE t (x int PRIMARY KEY)")
        pair.sql(0, "INSERT INTO t VALUES (1)")  # acknowledged, hence on the standby's disk
        assert served_by(pair.multi_host_url) == (pair.ports[0], False)

        doomed = pair.kill9(0)
        assert len(doomed) > 3 and not any(_alive(pid) for pid in doomed)
        assert pair.processes(0) == []
        with pytest.raises(psycopg2.OperationalError):
            pair.sql(0, "SELECT 1")

        started = time.monotonic()
        pair.promote(1)
        report(capsys, f"replication: pg_ctl promote -w took {time.monotonic() - started:.2f} s")
        assert pair.primary == 1 and not pair.in_recovery(1)
        assert pair.timeline(1) == 2
        assert pair.system_identifier(1) == identifier
        assert pair.sql(1, "SELECT x FROM t") == [(1,)]
        assert served_by(pair.multi_host_url) == (pair.ports[1], False)
        pair.sql(1, "INSERT INTO t VALUES (2)")  # commits alone: the promoted node has no standby to wait for

        pair.restart_read_write(0)
        assert [pair.in_recovery(0), pair.in_recovery(1)] == [False, False]
        assert [pair.timeline(0), pair.timeline(1)] == [1, 2]
        pair.sql(0, "INSERT INTO t VALUES (3)")
        assert pair.sql(0, "SELECT x FROM t ORDER BY x") == [(1,), (3,)]  # diverged: a split brain
        assert pair.sql(1, "SELECT x FROM t ORDER BY x") == [(1,), (2,)]
        # libpq takes the first writable host listed: the stale primary, now that it accepts writes again.
        assert served_by(pair.multi_host_url) == (pair.ports[0], False)

        everything = pair.processes(0) + pair.freeze(1)  # remove() thaws before it stops
    assert not any(_alive(pid) for pid in everything)
    assert not any(data.exists() for data in pair.data) and not any(log.exists() for log in pair.logs)


def test_an_asynchronous_pair_commits_without_its_standby():
    with Pair("repl_async", synchronous=False) as pair:
        assert pair.replication() == [("repl_async_1", "streaming", "async")]
        pair.lose_standby()
        pair.sql(0, "CREATE TABLE t (x int)", timeout=30)
        pair.start(1)
        pair.wait_streaming()
        # Streaming is not replayed: until the standby replays the CREATE, "t" does not exist there (asking for it
        # would raise), so the wait asks whether it exists.
        wait_until(lambda: pair.sql(1, "SELECT to_regclass('t') IS NOT NULL") == [(True,)], "the table on the standby")
        assert pair.sql(1, "SELECT count(*) FROM t") == [(0,)]
