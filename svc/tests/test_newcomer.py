"""A newcomer's mistakes, made for real through the entry points `make` calls: each ends at once with one plain line
on stderr that names the cause and what to do."""

import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from tools import harness

pytestmark = pytest.mark.integration


def run(*module: str, cwd=harness.SVC, **env: str) -> tuple[int, list[str], float]:
    """Run `python -m module` as make does: exit code, stderr lines, seconds taken."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", *module], cwd=cwd, capture_output=True, text=True, timeout=60,
                            env=harness.child_env(PYTHONPATH=str(harness.SVC), **env))
    return result.returncode, result.stderr.strip().splitlines(), time.monotonic() - started


def plain(line: str) -> bool:
    return not line.startswith("{") and "\x1b" not in line and "Traceback" not in line


def test_a_wrong_password_is_named_by_db_up_and_migrate_within_seconds(database_url):
    wrong = harness.with_server(database_url, password="not-the-password")
    user = urlsplit(database_url).username
    for module in (["tools.localdb", "up"], ["db.migrations"]):
        code, lines, seconds = run(*module, DATABASE_URL=wrong)
        assert code == 1 and seconds < 45, (module, lines)  # named at once, not after db-up's 60 s wait
        assert len(lines) == 1 and plain(lines[0]), lines
        assert f'authentication failed for user "{user}"' in lines[0]


def test_nothing_listening_is_named(database_url):
    port = harness.free_port()
    nowhere = harness.with_server(database_url, port=port)
    code, lines, seconds = run("db.migrations", DATABASE_URL=nowhere)
    assert code == 1 and seconds < 45 and len(lines) == 1  # at once, not after the 60 s wait
    assert f"nothing listens on 127.0.0.1:{port}" in lines[0]


def test_a_misspelled_setting_in_the_env_file_stops_start_up_with_the_closest_name(tmp_path, database_url):
    (tmp_path / ".env").write_text(f"DATABSE_URL={database_url}\n")
    for module in (["db.migrations"], ["main"]):
        code, lines, _ = run(*module, cwd=tmp_path)
        assert code == 1 and lines == ["unknown setting DATABSE_URL in .env: did you mean DATABASE_URL?"], lines


def test_a_port_in_use_ends_start_up_with_one_plain_line(database_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines, seconds = run("main", DATABASE_URL=database_url, PORT=str(port))
    assert code == 1 and seconds < 45  # the subprocess's own bound is 60 s
    assert plain(lines[-1]) and lines[-1].startswith(f"port {port} on 127.0.0.1 is already in use"), lines
    assert "set PORT in svc/.env" in lines[-1]


def test_a_refused_start_up_ends_with_its_reason_in_one_plain_line(database_url, sql):
    name = sql.connection.get_dsn_parameters()["dbname"]
    sql.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        code, lines, _ = run("main", DATABASE_URL=database_url, PORT=str(harness.free_port()))
    finally:
        sql.execute(f'ALTER DATABASE "{name}" RESET synchronous_commit')
    assert code == 1, lines
    assert plain(lines[-1]) and lines[-1].startswith("refusing to start: the database runs with synchronous_commit=off")


def test_uvicorn_serves_main_app_from_svc(database_url, tmp_path):
    """SPEC.md's Layout: from svc/, `python -m uvicorn main:app` (the runner's checks aside, the same application
    `make run` serves). `python -m migrations`: migrations_test.py."""
    port = harness.free_port()
    served = harness.start([sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port)],
                           env=harness.child_env(DATABASE_URL=database_url, LOG_LEVEL="WARNING"),
                           probe=f"http://127.0.0.1:{port}/health", log=tmp_path / "uvicorn.log", within=harness.HANG)
    try:
        assert harness.health(f"http://127.0.0.1:{port}")["database"] == "ok"
    finally:
        assert harness.stop(served) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it stopped on
