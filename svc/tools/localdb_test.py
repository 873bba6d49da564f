from urllib.parse import urlsplit, urlunsplit

from tools import harness, localdb


def test_target_reads_every_part_of_the_url():
    assert localdb.target("postgresql://u%40x:p%3As@db.example:6543/name") == {
        "host": "db.example", "port": 6543, "user": "u@x", "password": "p:s", "dbname": "name"}
    assert localdb.target("postgresql://u@localhost/")["port"] == 5432


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
    monkeypatch.setattr(localdb, "accepts", lambda url, timeout=1: False)
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
        assert localdb.down(url) == "local PostgreSQL is not running"
    finally:
        localdb.down(url)
        shutil.rmtree(data, ignore_errors=True)
        localdb.LOG.unlink(missing_ok=True)
