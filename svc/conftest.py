"""Test fixtures: a database of the tests' own, migrated by our runner, clients of the app on it, and factories.
Helpers that tests call directly live in `tools/harness.py`."""

import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
from fastapi.testclient import TestClient

from db import migrations
from app import create_app
from settings import Settings
from tools import harness, localdb
from tools.harness import APPS, CONFIGS



_made: list[str] = []  # the session's database, once `database_url` made it


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database on the development server (started here when it is not running), dropped afterwards."""
    base = str(Settings().database_url)
    if not localdb.accepts(harness.with_database(base, "postgres"), timeout=10):  # a busy machine may take seconds
        localdb.up(base)
    url = harness.create_database(harness.with_database(base, f"config_service_test_{os.getpid()}"))
    migrations.migrate(url)
    _made.append(url)
    yield url
    _made.clear()
    harness.drop_database(url)


@pytest.fixture(scope="module", autouse=True)
def no_managed_key_left() -> Iterator[None]:
    """A module leaves no managed key that works: most tests start services whose settings have no key, and such a
    service refuses to start while the database holds one (`app.unguarded_keys`). Torn down after the module's
    own fixtures (autouse: set up first)."""
    yield
    if _made:
        harness.revoke_managed_keys(_made[0])


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, pool_min=1, pool_max=4)


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
def clean(sql) -> Iterator[None]:
    """Empty tables: work spread over pool threads cannot share one rolled-back transaction. No managed key that
    works, before the test or after it: a service whose settings have no key refuses to start over one."""
    sql.execute("TRUNCATE applications, configurations, environments, retired_environments CASCADE")
    sql.execute(harness.REVOKE_MANAGED_KEYS)
    yield
    sql.execute(harness.REVOKE_MANAGED_KEYS)


@pytest.fixture
def cur(sql, clean) -> psycopg2.extensions.cursor:
    """The repository tests' cursor: autocommit, on empty tables."""
    return sql


@pytest.fixture
def timeline(sql) -> Iterator[Callable[[int], None]]:
    """`timeline(n)`: the test database writes as a primary promoted to timeline n does (its
    `config_service_epoch()`, migration 0020, answers n) until the test ends; then the function is the migration's
    again."""
    sql.execute("SELECT pg_get_functiondef('config_service_epoch'::regproc) AS made")
    made = sql.fetchone()["made"]

    def to(number: int) -> None:
        sql.execute(f"CREATE OR REPLACE FUNCTION config_service_epoch() RETURNS bigint LANGUAGE sql VOLATILE AS "
                    f"'SELECT {int(number)}::bigint'")
    yield to
    sql.execute(made)


@pytest.fixture
def client(settings: Settings, clean: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def application(client) -> Callable[..., dict[str, Any]]:
    """`application(name="billing", comments=None, via=client)`: POST one and return its body (201 asserted)."""

    def make(name: str = "billing", comments: str | None = None, *, via=None) -> dict[str, Any]:
        response = (via or client).post(APPS, json={"name": name, "comments": comments})
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def configuration(client) -> Callable[..., dict[str, Any]]:
    """`configuration(application_id, name="database", config=None, comments=None)`: POST one, return its body."""

    def make(application_id: str, name: str = "database", config: dict | None = None,
             comments: str | None = None) -> dict[str, Any]:
        body = {"application_id": application_id, "name": name, "config": config or {}, "comments": comments}
        response = client.post(CONFIGS, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., str]]:
    """Start services with `serve(workers=1, **settings)`: the base URL; each is stopped by PID after the test."""
    services: list[harness.Service] = []

    def start(workers: int = 1, **settings: str) -> str:
        services.append(harness.Service(database_url, workers, **settings))
        return services[-1].base

    start.services = services  # type: ignore[attr-defined]  # each one started, for its log
    yield start
    for service in services:
        service.stop()
