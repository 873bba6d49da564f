import socket
import sys
from pathlib import Path

import psycopg2
import pytest

from tools import harness


def test_free_port_can_be_bound():
    port = harness.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_child_env_drops_pyenv_version_and_adds_extra(monkeypatch):
    monkeypatch.setenv("PYENV_VERSION", "3.11.7")
    env = harness.child_env(DATABASE_URL="postgresql://x@y/z")
    assert "PYENV_VERSION" not in env and env["DATABASE_URL"] == "postgresql://x@y/z" and env["PATH"]


def test_with_server_swaps_only_the_password_or_the_port():
    url = "postgresql://u:p%40ss@127.0.0.1:5433/one?sslmode=disable"
    assert harness.with_server(url, password="x") == "postgresql://u:x@127.0.0.1:5433/one?sslmode=disable"
    assert harness.with_server(url, port=6000) == "postgresql://u:p%40ss@127.0.0.1:6000/one?sslmode=disable"


def test_with_database_swaps_only_the_name():
    url = "postgresql://u:p%40ss@127.0.0.1:5433/one?sslmode=disable"
    assert harness.with_database(url, "two") == "postgresql://u:p%40ss@127.0.0.1:5433/two?sslmode=disable"


def test_create_and_drop_a_database(database_url):
    url = harness.create_database(harness.with_database(database_url, "harness_test_db"))
    psycopg2.connect(url).close()
    harness.drop_database(url)
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url).close()


def test_start_waits_for_the_probe_and_stop_ends_it(tmp_path):
    port = harness.free_port()
    process = harness.start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            env=harness.child_env(), probe=f"http://127.0.0.1:{port}/", log=tmp_path / "log")
    assert harness.answers(f"http://127.0.0.1:{port}/", timeout=harness.HANG)
    harness.stop(process)
    assert process.poll() is not None and not harness.answers(f"http://127.0.0.1:{port}/")


def test_a_process_that_exits_is_reported_with_its_log(tmp_path):
    with pytest.raises(harness.StartFailed, match="boom"):
        harness.start([sys.executable, "-c", "print('boom')"], env=harness.child_env(),
                      probe=f"http://127.0.0.1:{harness.free_port()}/", log=tmp_path / "log")


def test_stop_kills_what_ignores_sigterm(tmp_path):
    port = harness.free_port()
    script = ("import signal, http.server; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()")
    process = harness.start([sys.executable, "-c", script], env=harness.child_env(),
                            probe=f"http://127.0.0.1:{port}/", log=tmp_path / "log")
    assert harness.stop(process, within=0.5) != 0


def test_service_serves_health_and_stops_cleanly(database_url):
    service = harness.Service(database_url)
    assert harness.answers(service.base + "/health", timeout=harness.HANG)
    assert service.stop() == 0
    assert not Path(service.process.log_path).exists()
