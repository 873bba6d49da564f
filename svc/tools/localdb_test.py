import os
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from tools import harness, localdb


def test_server_binaries_are_found_on_this_machine():
    bindir = localdb.find_bindir()
    assert bindir is not None
    assert (bindir / "pg_ctl").exists() and (bindir / "initdb").exists()


def test_accepts_tells_a_running_server_from_none(database_url):
    assert localdb.accepts(database_url)
    assert not localdb.accepts("postgresql://nobody:x@127.0.0.1:1/none")


def test_up_is_idempotent_on_a_running_server(database_url):
    parts = urlsplit(database_url)
    message = localdb.up(urlunsplit(parts._replace(path="/config_service")))
    assert "up" in message
    assert localdb.accepts(database_url)


def test_as_root_commands_run_as_the_service_user(monkeypatch):
    monkeypatch.setattr(localdb.os, "geteuid", lambda: 0)
    assert localdb._as_service_user(["pg_ctl", "status"])[:4] == ["runuser", "-u", "postgres", "--"]
    monkeypatch.setattr(localdb.os, "geteuid", lambda: 1000)
    assert localdb._as_service_user(["pg_ctl", "status"]) == ["pg_ctl", "status"]


def test_unknown_command_prints_usage(capsys):
    assert localdb.main(["sideways"]) == 2
    assert "usage" in capsys.readouterr().err


def test_missing_binaries_and_docker_say_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(localdb, "docker_available", lambda: False)
    monkeypatch.setattr(localdb, "find_bindir", lambda: None)
    monkeypatch.setattr(localdb.dbprobe, "probe", lambda url, timeout=2: localdb.dbprobe.Cause("refused", "none"))
    monkeypatch.setattr(localdb, "our_port", lambda data=None: None)
    assert localdb.main(["up"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "install" in err


def test_a_cluster_is_initialised_started_reset_and_stopped(monkeypatch, database_url):
    import shutil

    port = harness.free_port()
    data = localdb.HERE / ".pgdata-localdb-test"
    shutil.rmtree(data, ignore_errors=True)
    monkeypatch.setattr(localdb, "DATA", data)
    monkeypatch.setattr(localdb, "LOG", localdb.HERE / ".pgdata-localdb-test.log")
    monkeypatch.setattr(localdb, "docker_available", lambda: False)
    url = f"postgresql://tester:secret@127.0.0.1:{port}/scratch"
    try:
        assert "up" in localdb.up(url)
        assert localdb.accepts(url)
        assert "already up" in localdb.up(url)  # idempotent
        assert "recreated" in localdb.reset(url)
        assert localdb.accepts(url)
        assert localdb.down(url) == "local PostgreSQL stopped"
        assert not localdb.accepts(url)
        assert localdb.down(url).startswith("local PostgreSQL is not running (the cluster of")
    finally:
        localdb.down(url)
        shutil.rmtree(data, ignore_errors=True)
        localdb.LOG.unlink(missing_ok=True)


def test_a_wrong_password_is_named_at_once_with_whose_cluster_it_is(database_url, monkeypatch):
    wrong = harness.with_server(database_url, password="not-the-password")
    ours = urlsplit(database_url).port
    monkeypatch.setattr(localdb, "our_port", lambda data=None: ours)
    started = time.monotonic()
    with pytest.raises(localdb.LocalDbError) as refused:
        localdb.up(wrong)
    assert time.monotonic() - started < 30  # at once, not after the 60 s wait for a server to start
    user = urlsplit(database_url).username
    assert f'authentication failed for user "{user}"' in str(refused.value)
    assert "created with other credentials" in str(refused.value)

    monkeypatch.setattr(localdb, "our_port", lambda data=None: None)
    with pytest.raises(localdb.LocalDbError) as refused:
        localdb.up(wrong)
    assert "is not the cluster of" in str(refused.value) and "\n" not in str(refused.value)


def test_our_cluster_running_on_another_port_is_named_with_how_to_stop_it(database_url, monkeypatch):
    monkeypatch.setattr(localdb, "our_port", lambda data=None: 5999)
    with pytest.raises(localdb.LocalDbError) as refused:
        localdb.up(harness.with_server(database_url, port=5998))
    assert str(refused.value).startswith(f"the cluster of {localdb.DATA} already runs on port 5999, but "
                                         "DATABASE_URL says 5998")
    assert "make db-down" in str(refused.value)


def test_our_port_is_read_from_the_running_clusters_pid_file(tmp_path):
    assert localdb.our_port(tmp_path) is None
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n/data\n1700000000\n6123\n\n127.0.0.1\n")
    assert localdb.our_port(tmp_path) == 6123
    (tmp_path / "postmaster.pid").write_text("999999999\n/data\n1700000000\n6123\n")
    assert localdb.our_port(tmp_path) is None  # a stale file of a cluster that is gone


def test_up_says_when_it_creates_a_database_that_did_not_exist(database_url):
    url = harness.with_database(database_url, "localdb_typo_test")
    harness.drop_database(url)
    try:
        assert "created database localdb_typo_test, which did not exist" in localdb.up(url)
        assert "created database" not in localdb.up(url)
    finally:
        harness.drop_database(url)


def test_a_server_that_is_not_ours_is_named_as_such(database_url, monkeypatch):
    ours = urlsplit(database_url).port
    monkeypatch.setattr(localdb, "our_port", lambda data=None: ours)
    monkeypatch.setattr(localdb, "docker_available", lambda: False)
    assert localdb.up(database_url).endswith(f"is already up on 127.0.0.1:{ours}")
    monkeypatch.setattr(localdb, "our_port", lambda data=None: None)
    assert "(not the cluster of" in localdb.up(database_url)


def test_reset_drops_nothing_on_a_server_that_is_not_ours(database_url, monkeypatch):
    """`make db-reset` dropped the database of whatever server DATABASE_URL named, the operator's included (a
    trial): on a server that is not this tool's it now refuses, in one line, and the database is still there."""
    monkeypatch.setattr(localdb, "our_port", lambda data=None: None)
    monkeypatch.setattr(localdb, "docker_available", lambda: False)
    with pytest.raises(localdb.LocalDbError, match="not resetting database .* that server is not the cluster of"):
        localdb.reset(database_url)
    assert localdb.accepts(database_url)  # (its database is still there)


def test_a_role_that_may_not_create_the_database_is_told_what_to_do_in_one_line(database_url):
    """`make db-up` on a server where the database does not exist and the role may not create one printed a
    traceback (a trial); now one line saying how to make it."""
    with psycopg2.connect(database_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS localdb_nocreate")
            cur.execute("CREATE ROLE localdb_nocreate LOGIN PASSWORD 'x' NOCREATEDB")
    try:
        parts = urlsplit(database_url)
        url = f"postgresql://localdb_nocreate:x@{parts.hostname}:{parts.port}/localdb_nocreate_test"
        with pytest.raises(localdb.LocalDbError, match="may not create one: create it as a superuser"):
            localdb.ensure_database(url)
    finally:
        with psycopg2.connect(database_url) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("DROP ROLE localdb_nocreate")
