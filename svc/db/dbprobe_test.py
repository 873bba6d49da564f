"""Each way of failing to reach the database is named in one line, with what to do."""

import socket
import threading

import pytest

from db import dbprobe
from tools import harness

URL = "postgresql://config:secret@127.0.0.1:5432/config_service"


@pytest.mark.parametrize(("message", "kind", "says"), [
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user '
     '"config"\n', "auth", 'authentication failed for user "config" at 127.0.0.1:5432'),
    ('FATAL:  role "config" does not exist', "role", 'has no user "config"'),
    ('FATAL:  database "config_service" does not exist', "database", 'has no database "config_service"'),
    ('failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n',
     "refused", "nothing listens on 127.0.0.1:5432"),
    ("FATAL:  the database system is starting up", "starting", "starting up"),
    ('could not translate host name "db" to address: Name or service not known', "host", 'the host "127.0.0.1"'),
    ('FATAL:  no pg_hba.conf entry for host "127.0.0.1", user "config"', "hba", "pg_hba.conf"),
    ("something new\nsecond line", "other", "cannot connect to 127.0.0.1:5432: something new"),
])
def test_each_driver_message_becomes_one_line_with_its_cause(message, kind, says):
    cause = dbprobe.explain(URL, message)
    assert cause.kind == kind and says in cause.line and "\n" not in cause.line


def test_a_reachable_database_has_no_cause_and_an_unreachable_one_is_named(database_url):
    assert dbprobe.probe(database_url) is None
    missing = harness.with_database(database_url, "no_such_database_here")
    assert dbprobe.probe(missing).kind == "database"
    port = harness.free_port()
    assert dbprobe.probe(f"postgresql://u:p@127.0.0.1:{port}/x").kind == "refused"


def _listener(answer: bytes | None) -> tuple[int, socket.socket]:
    """A TCP server on a free port that answers every connection with `answer`, or stays silent."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.recv(64)
                conn.sendall(answer)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], server


@pytest.mark.parametrize(("answer", "kind"), [(b"HTTP/1.1 400 Bad Request\r\n\r\n", "not-postgres"), (None, "timeout")])
def test_something_else_on_the_port_is_told_from_a_server_that_is_slow(answer, kind):
    port, server = _listener(answer)
    try:
        cause = dbprobe.probe(f"postgresql://u:p@127.0.0.1:{port}/x", timeout=1)
        assert cause.kind == kind, cause
        assert f"127.0.0.1:{port}" in cause.line
    finally:
        server.close()


def test_a_list_of_hosts_is_read_by_libpq_rules():
    url = "postgresql://config:s@10.0.0.1:5461,10.0.0.2:5462/config_service?target_session_attrs=read-write"
    assert dbprobe.hosts(url) == [("10.0.0.1", 5461), ("10.0.0.2", 5462)]
    assert dbprobe.where(url) == ("10.0.0.1", 5461, "config", "s", "config_service")
    assert dbprobe.hosts("postgresql://u@a,b:6000/x") == [("a", 5432), ("b", 6000)]  # a has the default port
    assert dbprobe.hosts("host=a,b port=6000 dbname=x") == [("a", 6000), ("b", 6000)]  # one port for every host
    assert dbprobe.hosts("postgresql://u@/x") == [("127.0.0.1", 5432)]
    one = dbprobe.single(url, "10.0.0.2", 5462)
    assert "host=10.0.0.2" in one and "port=5462" in one and "target_session_attrs=read-write" in one


def test_where_reads_every_part_of_the_url_and_fills_in_libpqs_defaults(monkeypatch):
    assert dbprobe.where("postgresql://u%40x:p%3As@db.example:6543/name") == dbprobe.Server(
        "db.example", 6543, "u@x", "p:s", "name")
    monkeypatch.setattr(dbprobe.getpass, "getuser", lambda: "ops")
    assert dbprobe.where("postgresql://localhost") == ("localhost", 5432, "ops", "", "ops")


def test_several_hosts_none_usable_name_each_cause_in_one_line(database_url):
    refusing = harness.free_port()
    ours = dbprobe.where(database_url).port
    both = database_url.replace(f"127.0.0.1:{ours}/", f"127.0.0.1:{refusing},127.0.0.1:{ours}/")
    assert dbprobe.probe(both) is None  # the first refuses, the second takes it: libpq moves on
    missing = harness.with_database(both, "no_such_database_here")
    cause = dbprobe.probe(missing)
    assert cause.kind == "several" and "\n" not in cause.line
    assert f"nothing listens on 127.0.0.1:{refusing}" in cause.line and 'has no database "no_such_database_here"' in cause.line


def test_a_standby_is_named_as_one():
    cause = dbprobe.explain(URL, 'connection to server at "127.0.0.1", port 5432 failed: session is read-only')
    assert cause.kind == "standby" and "standby" in cause.line and cause.kind in dbprobe.TRANSIENT
