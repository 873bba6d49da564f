"""Test fixtures: a database of the tests' own, migrated by our runner, and clients of the app on it."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg2
import psycopg2.extras
import pytest
from fastapi.testclient import TestClient

import localdb
import migrations
from main import create_app
from settings import Settings

# PYENV_VERSION from a pyenv shim would pin the Python of every `uv`/`make` a test starts.
os.environ.pop("PYENV_VERSION", None)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database on the development server (started here when it is not running), dropped afterwards."""
    base = str(Settings().database_url)
    admin = _with_database(base, "postgres")
    if not localdb.accepts(admin):
        localdb.up(base)
    name = f"config_service_test_{os.getpid()}"
    _admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    url = _with_database(base, name)
    migrations.migrate(url)
    yield url
    _admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_sql(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, pool_min=1, pool_max=4, executor_workers=4)


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor on the test database in autocommit mode, to arrange and inspect rows directly."""
    conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@pytest.fixture
def clean(sql) -> None:
    """Empty tables: work spread over pool threads cannot share one rolled-back transaction."""
    sql.execute("TRUNCATE applications, configurations CASCADE")


@pytest.fixture
def client(settings: Settings, clean: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def start_service(database_url: str, workers: int = 1, **settings: str) -> tuple[str, subprocess.Popen]:
    """The service on a free loopback port and the given database: its base URL and process, once healthy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "HOST": "127.0.0.1",
           "PORT": str(port), "WORKERS": str(workers), **settings}
    env.pop("PYENV_VERSION", None)
    # As `make run` starts it: `python -m main` reads host, port, workers and the shutdown grace from settings.
    # Its log goes to a file: a pipe nobody reads fills up and blocks the server's event loop.
    log = tempfile.NamedTemporaryFile(prefix="service-", suffix=".log", delete=False)
    server = subprocess.Popen([sys.executable, "-m", "main"], cwd=os.path.dirname(__file__), env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    server.log_path = log.name  # type: ignore[attr-defined]
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return base, server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop_service(server)
            pytest.fail("the service did not start: " + open(server.log_path).read()[-5000:])
        time.sleep(0.1)


def stop_service(server: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s; its log file is removed."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log_path = getattr(server, "log_path", None)
    if log_path:
        os.unlink(log_path)


@pytest.fixture
def serve(database_url: str) -> Iterator:
    """Start services with `serve(workers=1, **settings)`; each is stopped by PID after the test."""
    servers: list[subprocess.Popen] = []

    def start(workers: int = 1, **settings: str) -> str:
        base, server = start_service(database_url, workers, **settings)
        servers.append(server)
        return base

    yield start
    for server in servers:
        stop_service(server)
