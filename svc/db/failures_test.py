import logging

import psycopg2

from db.failures import Outage, per_host

# libpq's message for a DATABASE_URL of two hosts, the first a standby, the second down (as an on-call trial logged).
TWO = ('connection to server at "127.0.0.1", port 6410 failed: session is read-only\n'
       'connection to server at "127.0.0.1", port 6411 failed: Connection refused\n'
       '\tIs the server running on that host and accepting TCP/IP connections?\n')


def test_each_host_is_named_with_its_own_reason():
    assert per_host(psycopg2.OperationalError(TWO)) == (
        "127.0.0.1:6410: session is read-only; 127.0.0.1:6411: Connection refused")
    assert per_host(psycopg2.OperationalError(
        'connection to server at "db.internal" (10.0.0.7), port 5432 failed: timeout expired\n')) == (
        "db.internal:5432: timeout expired")
    assert per_host(psycopg2.OperationalError(
        'connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: No such file or directory\n')) == (
        "/run/postgresql/.s.PGSQL.5432: No such file or directory")
    # Another form: its first line; none: the error's type.
    assert per_host(psycopg2.OperationalError("no host of DATABASE_URL is the primary\nmore")) == (
        "no host of DATABASE_URL is the primary")
    assert per_host(psycopg2.OperationalError()) == "OperationalError"


def test_a_reason_is_said_once_then_at_most_every_ten_seconds_with_its_repeats_and_the_end_once(caplog):
    now = [100.0]
    outage = Outage(logging.getLogger("config_service"), "the database", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="config_service"):
        outage.connected("127.0.0.1:6410")  # no failure before it: nothing to say
        for _ in range(500):  # a failover: every request fails alike, within a second
            outage.failed(psycopg2.OperationalError(TWO))
        now[0] += 0.5
        outage.failed("no host of DATABASE_URL is the primary")  # another reason: said at once
        now[0] += 10
        outage.failed(psycopg2.OperationalError(TWO))
        now[0] += 3.2
        outage.connected("127.0.0.1:6411")
        outage.connected("127.0.0.1:6411")  # already said
        outage.failed(psycopg2.OperationalError(TWO))  # a new outage: said at once again
    assert [r.getMessage() for r in caplog.records] == [
        "cannot connect to the database: 127.0.0.1:6410: session is read-only; 127.0.0.1:6411: Connection refused",
        "cannot connect to the database: no host of DATABASE_URL is the primary",
        "cannot connect to the database: 127.0.0.1:6410: session is read-only; 127.0.0.1:6411: Connection refused"
        " (and 499 more times since it was last said, 10 s ago)",
        "connected to the database again, at 127.0.0.1:6411, after 13.7 s and 502 failed attempts",
        "cannot connect to the database: 127.0.0.1:6410: session is read-only; 127.0.0.1:6411: Connection refused",
    ]


def test_a_host_passed_over_is_said_once_in_a_while_not_at_every_connection(caplog):
    """An old primary back read-write beside the new one is tried, and passed over, at every connection: an operator
    trial logged 3 lines a second of it while idle, 2 a request."""
    from db.failures import Seldom

    now = [0.0]
    seldom = Seldom(logging.getLogger("config_service"), clock=lambda: now[0])
    old = "not using 127.0.0.1:55431: system 7 timeline 1 is not the primary (system 7 timeline 2 is)"
    with caplog.at_level(logging.WARNING, logger="config_service"):
        for _ in range(30):  # 9 s of connections
            seldom.warn(old)
            now[0] += 0.3
        seldom.warn("not using 127.0.0.1:55433: another")  # another line: said at once
        now[0] = 10.0
        seldom.warn(old)
    assert [r.getMessage() for r in caplog.records] == [
        old, "not using 127.0.0.1:55433: another", old + " (and 29 more times since it was last said, 10 s ago)"]
