import asyncio
import collections
import contextlib
import gc
import io
import json
import logging
import os
import threading

import psycopg2
import pytest
import yaml
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import app as service
import logs
from app import CONTRACT, create_app
from db.database import Database
from tools import harness
from tools.harness import until

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def contract_operations():
    spec = yaml.safe_load(CONTRACT.read_text())
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item if m in METHODS}


def api_routes(app) -> list[APIRoute]:
    """The routes of the API; /docs and /redoc are pages about it, outside the contract."""
    return [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]


def test_routes_and_contract_operations_are_the_same_set(settings):
    app = create_app(settings)
    assert {r.path for r in app.routes if isinstance(r, APIRoute) and not r.include_in_schema} == {"/docs", "/redoc", "/console"}
    routes = {(m, r.path) for r in api_routes(app) for m in r.methods}
    declared = contract_operations()
    # HEAD is answered by `HeadAsGet` for every GET route, so the contract may declare it where a GET is.
    heads = {(m, path) for m, path in declared if m == "HEAD"}
    assert heads <= {("HEAD", path) for m, path in routes if m == "GET"}
    assert routes == declared - heads


def test_every_handler_is_named_after_its_operation_id(settings):
    spec = yaml.safe_load(CONTRACT.read_text())
    ids = {(m.upper(), path): op["operationId"] for path, item in spec["paths"].items()
           for m, op in item.items() if m in METHODS}
    app = create_app(settings)
    for route in api_routes(app):
        (method,) = route.methods
        operation_id = ids[(method, route.path)]
        snake = "".join("_" + c.lower() if c.isupper() else c for c in operation_id)
        assert route.endpoint.__name__ == snake


def test_the_served_contract_is_the_yaml(client):
    assert client.get("/openapi.json").json() == yaml.safe_load(CONTRACT.read_text())


def test_docs_and_redoc_render_the_contract(client):
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200 and "/openapi.json" in response.text


def test_health_is_ok_when_the_database_answers(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok" and response.json()["database"] == "ok"


def test_health_is_503_when_the_database_is_down(settings):
    down = settings.model_copy(update={"database_url": "postgresql://nobody:x@127.0.0.1:1/none"})
    with TestClient(create_app(down)) as client:
        response = client.get("/health")
        live = [client.get("/health/live"), client.head("/health/live")]
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json" and "retry-after" in response.headers
    # The liveness probe asks no database: the process serves, so a probe that restarts it on failure leaves it be.
    assert [r.status_code for r in live] == [200, 200] and live[0].json()["status"] == "ok" and live[1].content == b""


def test_trailing_slash_is_the_same_resource_not_a_redirect(client):
    response = client.get("/api/v1/applications/", follow_redirects=False)
    assert response.status_code == 200 and "items" in response.json()


def test_module_exports_an_app():
    assert service.app.title == "Config Service"


def test_open_api_logs_one_warning_at_start(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="config_service"):
        with TestClient(create_app(settings)):
            pass
    assert sum("no API keys" in r.getMessage() for r in caplog.records) == 1


def test_cors_answers_configured_origins_only(settings):
    with TestClient(create_app(settings.model_copy(update={"cors_origins": "https://ui.example"}))) as client:
        allowed = client.options("/api/v1/applications", headers={"Origin": "https://ui.example",
                                                                  "Access-Control-Request-Method": "PUT"})
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
        # Every request header of the contract a browser client sends: a safe retry's key too.
        asked = "authorization, content-type, idempotency-key, if-match, if-none-match, x-request-id"
        headers = client.options("/api/v1/applications", headers={
            "Origin": "https://ui.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked})
        assert headers.status_code == 200, headers.text
        other = client.get("/api/v1/applications", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        # Every answer varies by Origin (a cache must not give one origin's answer to another, or to none): to an
        # origin allowed, to one not, and to none, through the router, the fast path and the write lane, once each.
        app_id = client.post("/api/v1/applications", json={"name": "billing"}).json()["id"]
        config = client.post("/api/v1/configurations",
                             json={"application_id": app_id, "name": "db", "config": {}}).json()
        for origin in ({"Origin": "https://ui.example"}, {"Origin": "https://evil.example"}, {}):
            for answer in (client.get("/api/v1/applications", headers=origin),
                           client.get(f"/api/v1/configurations/{config['id']}", headers=origin),
                           client.get(f"/api/v1/configurations/{config['id']}", headers=origin),  # (the copy's)
                           client.put(f"/api/v1/configurations/{config['id']}", headers=origin,
                                      json={"name": "db", "config": {}, "comments": None}),
                           client.get("/health", headers=origin)):
                assert answer.headers.get_list("vary") == ["Origin"], (origin, answer.request.url, answer.headers)
        # A preflight refused is a problem saying what was not allowed (it was Starlette's plain text).
        for origin, method, asked, said in (
                ("https://evil.example", "PUT", "", "its origin is not in CORS_ORIGINS"),
                ("https://ui.example", "TRACE", "x-debug", "its method is not one of GET, HEAD, POST, PUT, PATCH, "
                                                          "DELETE; "
                                                          "it asks for headers beyond Authorization, Cache-Control, "
                                                          "Content-Type, Idempotency-Key, If-Match, If-None-Match, "
                                                          "X-Request-ID")):
            refused = client.options("/api/v1/applications", headers={
                "Origin": origin, "Access-Control-Request-Method": method,
                **({"Access-Control-Request-Headers": asked} if asked else {})})
            assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["detail"] == f"This CORS preflight is refused: {said}.", refused.json()
            assert refused.headers.get_list("vary") == ["Origin"] and refused.headers["x-request-id"]


def test_a_browser_client_may_read_every_response_header_the_contract_declares(settings):
    """CORS lets a page read only the response headers it is told of: each one the contract declares is exposed
    (an ETag for If-Match, a replay's mark, Retry-After), checked against the contract itself."""
    from app import CONTRACT

    contract = yaml.safe_load(CONTRACT.read_text())
    declared = set()
    for operations in contract["paths"].values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values() if isinstance(operation, dict) else ():
                if "$ref" in response:
                    response = contract["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                declared |= {name.lower() for name in response.get("headers", {})}
    assert {"etag", "idempotent-replayed", "retry-after"} <= declared
    with TestClient(create_app(settings.model_copy(update={"cors_origins": "https://ui.example"}))) as client:
        answer = client.get("/api/v1/applications", headers={"Origin": "https://ui.example"})
    exposed = {name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert declared <= exposed, declared - exposed


def test_a_browser_client_may_send_every_request_header_the_contract_declares(settings):
    """A page's request with a header CORS does not safelist is preflighted, and refused unless the header is
    allowed: each one the contract declares is (Cache-Control for a stale answer, If-Match, Idempotency-Key)."""
    from app import CONTRACT

    contract = yaml.safe_load(CONTRACT.read_text())
    parameters = contract["components"]["parameters"]
    declared = set()
    for operations in contract["paths"].values():
        for operation in operations.values() if isinstance(operations, dict) else ():
            for parameter in (operation.get("parameters", []) if isinstance(operation, dict) else []):
                if "$ref" in parameter:
                    parameter = parameters[parameter["$ref"].rsplit("/", 1)[1]]
                if parameter.get("in") == "header":
                    declared.add(parameter["name"].lower())
    assert {"cache-control", "if-match", "idempotency-key"} <= declared
    with TestClient(create_app(settings.model_copy(update={"cors_origins": "https://ui.example"}))) as client:
        answer = client.options("/api/v1/applications", headers={
            "Origin": "https://ui.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": ", ".join(sorted(declared))})
    assert answer.status_code == 200, answer.text
    allowed = {name.strip().lower() for name in answer.headers["access-control-allow-headers"].split(",")}
    assert declared <= allowed, declared - allowed


def test_start_up_refuses_a_database_that_can_lose_commits(settings, sql, caplog):
    from app import StartupRefused

    name = sql.connection.get_dsn_parameters()["dbname"]
    sql.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        refused = create_app(settings)
        with caplog.at_level(logging.CRITICAL, logger="config_service"), pytest.raises(StartupRefused):
            with TestClient(refused):
                pass
        assert any("synchronous_commit=off" in r.getMessage() for r in caplog.records)
        # What the process runner (main.py) prints last, after the server's own lines.
        assert refused.state.refused.startswith("refusing to start: the database runs with synchronous_commit=off")
        with TestClient(create_app(settings.model_copy(update={"allow_unsafe_durability": True}))) as client:
            assert client.get("/health").status_code == 200
    finally:
        sql.execute(f'ALTER DATABASE "{name}" RESET synchronous_commit')


def test_start_up_refuses_a_database_this_build_has_not_migrated(database_url, caplog):
    """A service started on a database without this build's migrations would answer its routes with errors, and
    /health 200: it refuses to start and says what to run. One migrated further, by a newer build, serves (the
    migrations only add), and the log says so."""
    import os

    import psycopg2

    from app import StartupRefused
    from db import migrations
    from settings import Settings
    from tools import harness

    url = harness.create_database(harness.with_database(database_url, f"unmigrated_{os.getpid()}"))
    try:
        every = [m.file_name for m in migrations.discover()]
        for applied in (0, 2):
            if applied:
                migrations.migrate(url, migrations.FOLDER)  # then this build's first two only are on record
                conn = psycopg2.connect(url)
                with conn, conn.cursor() as cur:
                    cur.execute("DELETE FROM migrations WHERE version > 2")
                conn.close()
            refused = create_app(Settings(database_url=url, pool_min=1, pool_max=4))
            with caplog.at_level(logging.CRITICAL, logger="config_service"), pytest.raises(StartupRefused):
                with TestClient(refused):
                    pass
            missing = every[applied:]
            assert refused.state.refused == (
                f"refusing to start: the database lacks {len(missing)} of this build's migrations "
                f"({', '.join(missing[:3])}, ...); run `make migrate` (`python -m db.migrations`) first")
            assert any(r.getMessage() == refused.state.refused for r in caplog.records)
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM migrations")
            cur.executemany("INSERT INTO migrations VALUES (%s, %s, %s, now())",
                            [(m.version, m.name, m.checksum) for m in migrations.discover()]
                            + [(9999, "from_a_newer_build", "-")])
        conn.close()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="config_service"), \
                TestClient(create_app(Settings(database_url=url, pool_min=1, pool_max=4))) as client:
            assert client.get("/health").status_code == 200
        assert any("9999_from_a_newer_build.sql" in r.getMessage() and "newer build" in r.getMessage()
                   for r in caplog.records)
    finally:
        harness.drop_database(url)


LEFT_OPEN = "01JD3B5ZQ6V2K9X4N8M7P1R0ZZ"


def _managed_key(cur, *, revoked: str | None = None, expires: str | None = None) -> None:
    """A managed key in the database (`revoked_at`, `expires_at` as SQL expressions), as key management makes it."""
    cur.execute(f"""INSERT INTO api_keys (id, name, secret_hash, actions, created_at, updated_at, version,
                                          revoked_at, expires_at)
                    VALUES ('{LEFT_OPEN}', 'left-open', sha256('left-open'::bytea), ARRAY['read'], now() - interval
                            '1 day', now() - interval '1 day', 1, {revoked or 'NULL'}, {expires or 'NULL'})
                    ON CONFLICT (id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at,
                                                   expires_at = EXCLUDED.expires_at""")


def test_started_open_over_managed_keys_that_work_it_refuses_to_start(settings, sql, caplog):
    """Managed keys are made while API_KEYS has a key; started without one, the API would be open and they would
    guard nothing: the service refuses to start, saying what to do. A revoked or expired key does not count, and
    with a settings key it starts."""
    from app import StartupRefused
    from settings import Settings

    _managed_key(sql)
    try:
        refused = create_app(settings)
        with caplog.at_level(logging.CRITICAL, logger="config_service"), pytest.raises(StartupRefused):
            with TestClient(refused):
                pass
        assert refused.state.refused == (
            "refusing to start: no API keys configured, yet the database holds 1 managed key not revoked, which an "
            "open API would ignore; set API_KEYS (an admin key manages the others), or revoke them with one before "
            "running open")
        assert any(r.getMessage() == refused.state.refused for r in caplog.records)
        keyed = Settings(database_url=settings.database_url, pool_min=1, pool_max=4, api_keys="ops:admin:" + "s" * 24)
        with TestClient(create_app(keyed)) as client:
            assert client.get("/api/v1/applications").status_code == 401
        for revoked, expires in (("now()", None), (None, "now() - interval '1 second'")):
            _managed_key(sql, revoked=revoked, expires=expires)
            with TestClient(create_app(settings)) as client:
                assert client.get("/api/v1/applications").status_code == 200
    finally:
        _managed_key(sql, revoked="now()")


@pytest.mark.parametrize("keyed", [True, False])
def test_started_open_before_the_database_answers_it_serves_nothing_until_it_has_checked_the_keys(
        database_url, keyed, monkeypatch):
    """The database did not answer at start-up: an open API answers 503 until the database says whether it holds
    managed keys that work. It does: the service stops as on SIGTERM, saying why. It does not: the API serves."""
    import signal

    import psycopg2

    from db import migrations
    from settings import Settings

    url = harness.with_database(database_url, f"later_{os.getpid()}")
    ready = harness.create_database(harness.with_database(database_url, f"later_{os.getpid()}_ready"))
    harness.drop_database(url)
    migrations.migrate(ready, migrations.FOLDER)
    if keyed:
        conn = psycopg2.connect(ready)
        conn.autocommit = True
        with conn.cursor() as cur:
            _managed_key(cur)
        conn.close()
    stopped = []
    monkeypatch.setattr(service, "LATER_CHECK_EVERY", 0.05)
    monkeypatch.setattr(service.os, "kill", lambda pid, sig: stopped.append((pid, sig)))
    app = create_app(Settings(database_url=url, pool_min=1, pool_max=4))
    try:
        with TestClient(app) as client:
            before = client.get("/api/v1/applications")
            assert before.status_code == 503 and before.headers["content-type"] == "application/problem+json"
            # The database appears whole, migrated (and with its key): the check sees it once, as it is.
            harness.admin_sql(url, f'ALTER DATABASE "later_{os.getpid()}_ready" RENAME TO "later_{os.getpid()}"')
            if keyed:
                until(lambda: stopped, "the service stops once it finds managed keys that work")
                assert stopped == [(os.getpid(), signal.SIGTERM)]
                assert app.state.refused.startswith("stopping: no API keys configured, yet the database holds 1 "
                                                    "managed key not revoked")
                assert client.get("/api/v1/applications").status_code == 503  # still nothing served meanwhile
            else:
                until(lambda: client.get("/api/v1/applications").status_code == 200, "the API serves once checked")
                assert not stopped
    finally:
        harness.drop_database(url)
        harness.drop_database(ready)


def test_a_role_that_may_not_read_the_migrations_starts_and_the_log_says_they_were_not_checked(settings, caplog,
                                                                                              monkeypatch):
    """A role of least privilege (another role migrates) may not read `migrations`: the service serves all the same."""
    import psycopg2.errors

    from db import migrations

    def denied(cur):
        raise psycopg2.errors.InsufficientPrivilege("permission denied for table migrations")

    monkeypatch.setattr(migrations, "disagreement", denied)
    with caplog.at_level(logging.WARNING, logger="config_service"), TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
    assert "the database's migrations were not checked: permission denied for table migrations" in caplog.messages


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict:
    """An HTTP request's ASGI scope, as a server makes it."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
            "server": ("testserver", 80), "client": ("127.0.0.1", 1), "headers": headers}


def exchange(app, method: str, path: str, *headers: tuple[bytes, bytes]) -> tuple[dict, bytes]:
    """The response start message and the body `app` sends for one request, as a server would get them (the test
    client drops a HEAD's body itself, so it cannot show whether the app sent one)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(app(_scope(method, path, list(headers) or [(b"host", b"testserver")]), receive, send))
    start, *bodies = sent
    return start, b"".join(m.get("body", b"") for m in bodies)


@pytest.fixture
def around(settings, monkeypatch):
    """The middleware as `create_app` registers it, around a route that fails (no lifespan: no database needed);
    with the access lines it wrote."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 1024}))

    @app.api_route("/api/v1/crash", methods=["GET", "POST"])
    async def crash():
        raise RuntimeError("SELECT secret FROM credentials")

    stream = io.StringIO()
    monkeypatch.setattr(logs.access, "handler", logging.StreamHandler(stream))
    return app, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_unexpected_error_is_a_bare_500_with_the_id_and_headers_logged_as_sent(around, caplog):
    app, access_lines = around
    with caplog.at_level(logging.INFO, logger="config_service"):
        get = TestClient(app).get("/api/v1/crash", headers={"X-Request-ID": "get-1"})
        head, body = exchange(app, "HEAD", "/api/v1/crash", (b"host", b"t"), (b"x-request-id", b"head-1"))
    assert get.status_code == 500 and get.headers["content-type"] == "application/problem+json"
    assert json.loads(get.text)["title"] == "Internal Server Error" and "SELECT" not in get.text
    assert (get.headers["x-request-id"], get.headers["x-content-type-options"], get.headers["cache-control"]) == (
        "get-1", "nosniff", "no-cache")
    headers = dict(head["headers"])
    assert (head["status"], body, headers[b"x-request-id"], headers[b"cache-control"]) == (500, b"", b"head-1",
                                                                                         b"no-cache")
    assert headers[b"content-length"].decode() == get.headers["content-length"]
    errors = [(r.request_id, r.method) for r in caplog.records if r.getMessage() == "unhandled error"]
    assert errors == [("get-1", "GET"), ("head-1", "HEAD")]
    assert [(a["request_id"], a["method"], a["status"]) for a in access_lines()] == [
        ("get-1", "GET", 500), ("head-1", "HEAD", 500)]


def test_what_no_route_can_take_is_refused_with_the_id_and_headers(around):
    app, access_lines = around
    client = TestClient(app)
    slash = client.get("/api/v1/applications%2Fx", headers={"X-Request-ID": "slash"})
    large = client.post("/api/v1/crash", content=b"x" * 1025, headers={"X-Request-ID": "large"})
    host, body = exchange(app, "HEAD", "/api/v1/applications", (b"host", b"a b"), (b"x-request-id", b"host"))
    answered = [(r.status_code, r.headers["x-request-id"], r.headers["x-content-type-options"]) for r in (slash, large)]
    assert answered == [(404, "slash", "nosniff"), (413, "large", "nosniff")]
    assert large.headers["cache-control"] == "no-store"
    assert (host["status"], body, dict(host["headers"])[b"x-request-id"]) == (400, b"", b"host")
    assert [(a["method"], a["status"]) for a in access_lines()] == [("GET", 404), ("POST", 413), ("HEAD", 400)]


def test_each_worker_s_publisher_is_told_how_many_workers_the_service_runs(settings, monkeypatch):
    """The publisher's wait after a flush depends on the workers (db/publisher.py): the app gives it WORKERS."""
    told = []

    class Recorded(service.Publisher):
        def __init__(self, database, workers: int = 1) -> None:
            told.append(workers)
            super().__init__(database, workers=workers)
    monkeypatch.setattr(service, "Publisher", Recorded)
    with TestClient(create_app(settings.model_copy(update={"workers": 2}))) as client:
        assert client.get("/health").status_code == 200
    assert told == [2]


async def _asgi(app, method: str, path: str, query: bytes = b"", headers=(), body: bytes = b""):
    """One request driven as the server drives the app (ASGI), with nothing of a client's around it: its status
    and ETag."""
    scope = _scope(method, path, [(b"host", b"testserver"), *headers], query)
    sent, pending = [], [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # then nothing, as from a client that stays connected

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]).get(b"etag")


def _hot_paths_leave_no_garbage(client, monkeypatch, app_id: str, make, headers=()) -> None:
    """64 requests at a time of each hot path (GET by id, GET with If-None-Match, the effective view, a held GET
    answered by a PUT, PUT with If-Match, and a PUT with a stale one: 412), five rounds, with `headers` (a key's),
    leave no garbage that only the collector could free; the reads are the fast path's and the PUTs the write lane's
    (counted). What they read is made in application `app_id` by `make(path, body)`."""
    from live.fastpath import CachedReads
    from routers.writes import WriteLane

    assert gc.get_threshold()[0] == service.GC_YOUNG
    taken = collections.Counter()
    for cls, method, kind in ((CachedReads, "_read", "read"), (WriteLane, "taken", "write")):
        def counted(self, scope, _original=getattr(cls, method), _kind=kind):
            found = _original(self, scope)
            taken[_kind] += found is not None
            return found
        monkeypatch.setattr(cls, method, counted)
    configs = [make("/api/v1/configurations", {"application_id": app_id, "name": f"c{n}", "config": {"n": n}}).json()
               for n in range(64)]
    environment = make("/api/v1/environments", {"name": "prod"}).json()["id"]
    base = "/api/v1/configurations"
    headers = list(headers)

    def put(c, etag, n):
        body = json.dumps({"name": c["name"], "config": {"n": n}, "comments": None}).encode()
        return _asgi(client.app, "PUT", f"{base}/{c['id']}", body=body,
                     headers=[*headers, (b"content-type", b"application/json"), (b"if-match", etag)])

    async def rounds() -> collections.Counter:
        statuses = collections.Counter()
        for n in range(5):
            read = await asyncio.gather(*(_asgi(client.app, "GET", f"{base}/{c['id']}", headers=headers)
                                          for c in configs))
            unchanged = await asyncio.gather(*(_asgi(client.app, "GET", f"{base}/{c['id']}",
                                                     headers=[*headers, (b"if-none-match", etag)])
                                               for c, (_, etag) in zip(configs, read)))
            views = await asyncio.gather(*(_asgi(client.app, "GET", f"{base}/{c['id']}/effective", headers=headers,
                                                 query=f"environment_id={environment}".encode()) for c in configs))
            held = [asyncio.ensure_future(_asgi(client.app, "GET", f"{base}/{c['id']}", query=b"wait=30",
                                                headers=[*headers, (b"if-none-match", etag)]))
                    for c, (_, etag) in zip(configs, read)]
            written = await asyncio.gather(*(put(c, etag, n) for c, (_, etag) in zip(configs, read)))
            answered = await asyncio.gather(*held)
            stale = await asyncio.gather(*(put(c, etag, n) for c, (_, etag) in zip(configs, read)))
            statuses.update(f"{kind} {status}" for kind, answers in
                            (("GET", read), ("304", unchanged), ("view", views), ("held", answered),
                             ("PUT", written), ("stale PUT", stale)) for status, _ in answers)
        return statuses

    client.portal.call(rounds)  # (what the first requests make for good: the read cache's entries, plans)
    taken.clear()
    statuses, left = harness.garbage_of(lambda: client.portal.call(rounds))
    assert statuses == {"GET 200": 320, "304 304": 320, "view 200": 320, "held 200": 320, "PUT 200": 320,
                        "stale PUT 412": 320}
    assert taken == {"read": 4 * 320, "write": 2 * 320}
    assert not left, f"cyclic garbage left by the hot paths: {left}"


def test_reads_and_writes_in_flight_leave_nothing_for_the_cyclic_collector(client, monkeypatch):
    """A request's objects are freed by reference counting as it ends, so the service can raise the collector's
    young threshold (`GC_YOUNG`) and have it not run under reads and writes."""
    app_id = client.post("/api/v1/applications", json={"name": "billing"}).json()["id"]
    _hot_paths_leave_no_garbage(client, monkeypatch, app_id, lambda path, body: client.post(path, json=body))


def _lane_counted(monkeypatch) -> collections.Counter:
    """A counter of the PUTs the write lane takes from now on (`taken["write"]`)."""
    from routers.writes import WriteLane

    taken = collections.Counter()

    def counted(self, scope, _original=WriteLane.taken):
        found = _original(self, scope)
        taken["write"] += found is not None
        return found
    monkeypatch.setattr(WriteLane, "taken", counted)
    return taken


def test_writes_the_lane_refuses_in_the_database_leave_nothing_for_the_cyclic_collector(client, monkeypatch):
    """A PUT the write lane takes whose write the database refuses (a rename to a name taken: 409), 64 at a time:
    a statement of many sends each such write back to run alone (`loop.Alone`, answered through its future, whose
    traceback went through the frame holding that future), where it is refused. Without `combined` letting go of the
    write (db/loop.py), 185 of the 192 left a cycle each."""
    taken = _lane_counted(monkeypatch)
    apps = [client.post("/api/v1/applications", json={"name": f"app{n}"}).json()["id"] for n in range(64)]
    configs = [client.post("/api/v1/configurations", json={"application_id": app, "name": name, "config": {}}).json()
               for app in apps for name in ("a", "b")][1::2]  # each application's "b", renamed to its "a" below
    body = json.dumps({"name": "a", "config": {}, "comments": None}).encode()

    async def rounds() -> collections.Counter:
        statuses = collections.Counter()
        for _ in range(3):
            answers = await asyncio.gather(*(_asgi(client.app, "PUT", f"/api/v1/configurations/{c['id']}", body=body,
                                                   headers=[(b"content-type", b"application/json"),
                                                            (b"if-match", b"*")]) for c in configs))
            statuses.update(status for status, _ in answers)
        return statuses

    client.portal.call(rounds)
    taken.clear()
    statuses, left = harness.garbage_of(lambda: client.portal.call(rounds))
    assert statuses == {409: 3 * 64} and taken == {"write": 3 * 64}
    assert not left, f"cyclic garbage left by the writes refused: {left}"


def test_writes_the_lane_answers_503_leave_nothing_for_the_cyclic_collector(database_url, clean, sql, monkeypatch):
    """A PUT the write lane takes whose application another transaction holds past `lock_timeout`, 64 at a time: a
    statement of many skips each (`busy`), each runs alone, waits for the lock and is cancelled by the server: 503
    through its future. Neither the statement of one write that failed (`LoopPool._send_batch`'s `failure`) nor the
    lane that answers the problem (`problems.forget`) may keep that error, whose traceback holds their frames."""
    taken = _lane_counted(monkeypatch)
    settings = service.settings_module.Settings(database_url=database_url, pool_min=1, pool_max=4, lock_timeout_ms=50)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        apps = [client.post("/api/v1/applications", json={"name": f"app{n}"}).json()["id"] for n in range(64)]
        configs = [client.post("/api/v1/configurations", json={"application_id": app, "name": "c", "config": {}}
                               ).json() for app in apps]
        body = json.dumps({"name": "c", "config": {"x": 1}, "comments": None}).encode()
        holder = psycopg2.connect(database_url)
        try:
            with holder.cursor() as cur:  # every application held, as a change set's transaction holds it
                cur.execute("SELECT 1 FROM applications FOR NO KEY UPDATE")

            async def rounds() -> collections.Counter:
                statuses = collections.Counter()
                for _ in range(2):
                    answers = await asyncio.gather(*(_asgi(client.app, "PUT", f"/api/v1/configurations/{c['id']}",
                                                           body=body, headers=[(b"content-type", b"application/json"),
                                                                               (b"if-match", b"*")])
                                                     for c in configs))
                    statuses.update(status for status, _ in answers)
                return statuses

            client.portal.call(rounds)
            taken.clear()
            statuses, left = harness.garbage_of(lambda: client.portal.call(rounds))
        finally:
            holder.close()
        assert statuses == {503: 2 * 64} and taken == {"write": 2 * 64}
        assert not left, f"cyclic garbage left by the writes answered 503: {left}"
        sql.execute("SELECT count(*) AS n FROM configurations WHERE version > 1")
        assert sql.fetchone()["n"] == 0  # none written


@contextlib.contextmanager
def _keyed(database_url: str):
    """A service whose settings have an admin key `root`, and an application `billing` it made: (the client, root's
    secret, its headers, the application's id)."""
    root = "r" * 24
    settings = service.settings_module.Settings(database_url=database_url, pool_min=1, pool_max=4,
                                                api_keys=f"root:admin:{root}")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        as_root = {"Authorization": f"Bearer {root}"}
        app_id = client.post("/api/v1/applications", json={"name": "billing"}, headers=as_root).json()["id"]
        yield client, root, as_root, app_id


def test_reads_and_writes_with_a_managed_key_leave_nothing_for_the_cyclic_collector(database_url, clean,
                                                                                   monkeypatch):
    """The same with a managed key limited to the application: its GETs run under the rights the ring kept and are
    confirmed as they answer (`Authenticate`), its PUTs are admitted by the lane."""
    with _keyed(database_url) as (client, root, as_root, app_id):
        made = client.post("/api/v1/keys", headers=as_root, json={
            "name": f"gc-{os.urandom(6).hex()}", "actions": ["read", "write"], "applications": [app_id],
            "environments": None})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        _hot_paths_leave_no_garbage(client, monkeypatch, app_id,
                                    lambda path, body: client.post(path, json=body, headers=as_root),
                                    [(b"authorization", f"Bearer {secret}".encode())])


def test_errors_answered_leave_nothing_for_the_cyclic_collector(client, monkeypatch):
    """Nor do the errors a client's requests are answered with: a traceback holds the frames an error went through,
    and a frame that holds the error (FastAPI raises its validation error from a local variable; the read cache's
    shared fetch keeps the traceback in its future) made a cycle of some 150 objects per request, the request's body
    among them, that the collector, run seldom, would have kept ten times as long (`problems.forget`)."""
    from live.readcache import ReadCache

    failed = collections.Counter()

    async def counted(self, key, fetch, groups, _original=ReadCache._fetch):
        try:
            return await _original(self, key, fetch, groups)
        except Exception as error:
            failed[type(error).__name__] += 1
            raise

    monkeypatch.setattr(ReadCache, "_fetch", counted)
    app_id = client.post("/api/v1/applications", json={"name": "billing"}).json()["id"]
    config = client.post("/api/v1/configurations", json={"application_id": app_id, "name": "c", "config": {}}).json()
    base = "/api/v1/configurations"
    json_body = [(b"content-type", b"application/json"), (b"if-match", b"*")]

    def requests(n: int) -> list[tuple[str, str, bytes, list, bytes]]:
        missing = f"01ARZ3NDEKTSV4RRFFQ69G{n:04X}"  # a different one each: no read joins another's
        return [("GET", f"{base}/not-an-id", b"", [], b""),  # 422 from the router
                ("GET", f"{base}/{missing}", b"", [], b""),  # 404 from the read cache's fetch, then from the route
                ("GET", f"{base}/{missing}/effective", f"environment_id={missing}".encode(), [], b""),
                ("PUT", f"{base}/{config['id']}", b"", json_body, b'{"name": 5, "config": {}}'),  # 422: the body
                ("PUT", f"{base}/{config['id']}", b"", json_body, b'{"name": '),  # 400: not JSON
                ("GET", f"/api/v1/applications/{app_id}/configurations", b"limit=abc", [], b""),  # 422: the query
                ("DELETE", f"{base}/{missing}", b"", [(b"if-match", b"*")], b"")]  # 404 through the executor

    async def rounds() -> collections.Counter:
        statuses = collections.Counter()
        for _ in range(3):
            answers = await asyncio.gather(*(_asgi(client.app, method, path, query, headers, body)
                                             for n in range(16) for method, path, query, headers, body in requests(n)))
            statuses.update(status for status, _ in answers)
        return statuses

    client.portal.call(rounds)
    failed.clear()
    statuses, left = harness.garbage_of(lambda: client.portal.call(rounds))
    assert statuses == {422: 3 * 16 * 3, 404: 3 * 16 * 3, 400: 3 * 16}
    assert failed["NotFound"] >= 2 * 16 * 3  # the 404s were the read cache's fetches (its listener connected)
    assert not left, f"cyclic garbage left by the errors answered: {left}"


def test_server_sessions_found_shared_by_the_database_pool_give_the_worker_s_listener_up(settings):
    """A pool in transaction mode found by the database pool (`Database.lost_statements`, from an executor thread)
    is also the listener's: `/health` says `disabled`."""
    with TestClient(create_app(settings)) as client:
        until(lambda: client.get("/health").json()["listener"] == "listening", "the listener connected")
        found = threading.Thread(target=client.app.state.database.lost_statements)
        found.start()
        found.join()
        until(lambda: client.get("/health").json()["listener"] == "disabled", "the listener given up")
        assert client.get("/api/v1/applications").status_code == 200  # served, from the database


def test_server_sessions_found_shared_while_the_pool_warmed_up_give_the_listener_up_from_the_start(settings,
                                                                                                 monkeypatch):
    warm = Database.warm

    def warmed_on_a_shared_session(self):
        opened = warm(self)
        self.lost_statements()
        return opened
    monkeypatch.setattr(Database, "warm", warmed_on_a_shared_session)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["listener"] == "disabled"


def test_access_lines_name_the_key_of_each_request(database_url, clean, monkeypatch):
    """Who did what is in the log: each access line names the request's key (a settings key by name, a managed
    key by name and id), a PUT through the write lane and a DELETE through the layers alike; none without a key."""
    stream = io.StringIO()
    monkeypatch.setattr(logs.access, "handler", logging.StreamHandler(stream))
    with _keyed(database_url) as (client, root, as_root, app_id):
        made = client.post("/api/v1/keys", headers=as_root, json={
            "name": f"deployer-{os.urandom(4).hex()}", "actions": ["read", "write"], "applications": None,
            "environments": None}).json()
        as_key = {"Authorization": f"Bearer {made['secret']}"}
        config = client.post("/api/v1/configurations", headers=as_key,
                             json={"application_id": app_id, "name": "db", "config": {}}).json()
        assert client.put(f"/api/v1/configurations/{config['id']}", headers={**as_key, "If-Match": "*"},
                          json={"name": "db", "config": {"x": 1}, "comments": None}).status_code == 200
        assert client.delete(f"/api/v1/applications/{app_id}", headers=as_root).status_code == 204
        assert client.get("/api/v1/applications").status_code == 401
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    named = [(line["method"], line["path"].split("/")[3], line["status"], line["key"], line["key_id"])
             for line in lines if line["path"].startswith("/api/v1/")]
    assert named[-4:] == [("POST", "configurations", 201, made["name"], made["id"]),
                          ("PUT", "configurations", 200, made["name"], made["id"]),
                          ("DELETE", "applications", 204, "root", None),
                          ("GET", "applications", 401, None, None)]


def test_an_api_open_to_every_origin_does_not_vary_by_it(settings):
    with TestClient(create_app(settings.model_copy(update={"cors_origins": "*"}))) as client:
        for origin in ({"Origin": "https://ui.example"}, {}):
            assert "vary" not in client.get("/api/v1/applications", headers=origin).headers


def test_two_authorization_lines_are_400_on_every_path(database_url, clean):
    """A key read two ways (the service reads the first line, a proxy may read the last) is refused, on the write
    lane and the fast path as on the router, before the key is looked at; one line of it is served."""
    with _keyed(database_url) as (client, root, as_root, app_id):
        good = (b"authorization", f"Bearer {root}".encode())
        bad = (b"authorization", b"Bearer not-a-key-of-this-service")
        config = client.post("/api/v1/configurations", headers=as_root,
                             json={"application_id": app_id, "name": "db", "config": {}}).json()
        body = json.dumps({"name": "db", "config": {}, "comments": None}).encode()
        json_body = [(b"content-type", b"application/json"), (b"if-match", b"*")]
        requests = [("GET", f"/api/v1/configurations/{config['id']}", b""),
                    ("GET", "/api/v1/applications", b""),
                    ("PUT", f"/api/v1/configurations/{config['id']}", body)]

        async def each(lines):
            return [(await _asgi(client.app, method, path, headers=[*lines, *json_body], body=sent))[0]
                    for method, path, sent in requests]
        assert client.portal.call(each, [good, bad]) == [400] * 3
        assert client.portal.call(each, [bad, good]) == [400] * 3
        assert client.portal.call(each, [good]) == [200] * 3


def test_a_live_service_s_answers_written_whole_vary_by_origin_where_cors_is_on(serve, clean):
    """Under TestClient no answer is written whole below the layers; on a real server the fast path's reads and the
    write lane's PUTs are, and each says `Vary: Origin` once, as the router's answers do."""
    import httpx

    base = serve(CORS_ORIGINS="https://ui.example")
    with httpx.Client(base_url=base, timeout=harness.HANG) as web:
        app_id = web.post("/api/v1/applications", json={"name": "vary"}).json()["id"]
        config = web.post("/api/v1/configurations", json={"application_id": app_id, "name": "db", "config": {}})
        url = f"/api/v1/configurations/{config.json()['id']}"
        answers = [web.get(url) for _ in range(3)]  # the first fills the worker's copy; the next are answered from it
        answers.append(web.put(url, json={"name": "db", "config": {"x": 1}, "comments": None},
                               headers={"If-Match": "*"}))
        answers.append(web.get(url, headers={"Origin": "https://ui.example"}))
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.headers.get_list("vary") == ["Origin"] for a in answers), [a.headers for a in answers]
