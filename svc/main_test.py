import yaml
from fastapi.routing import APIRoute

import main
from main import CONTRACT, create_app

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def contract_operations():
    spec = yaml.safe_load(CONTRACT.read_text())
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item if m in METHODS}


def api_routes(app) -> list[APIRoute]:
    """The routes of the API; /docs and /redoc are pages about it, outside the contract."""
    return [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]


def test_routes_and_contract_operations_are_the_same_set(settings):
    app = create_app(settings)
    assert {r.path for r in app.routes if isinstance(r, APIRoute) and not r.include_in_schema} == {"/docs", "/redoc"}
    routes = {(m, r.path) for r in api_routes(app) for m in r.methods}
    declared = contract_operations()
    # HEAD is answered by edge.Edge for every GET route, so the contract may declare it where a GET is.
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
    from fastapi.testclient import TestClient

    down = settings.model_copy(update={"database_url": "postgresql://nobody:x@127.0.0.1:1/none"})
    with TestClient(create_app(down)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json" and "retry-after" in response.headers


def test_trailing_slash_is_the_same_resource_not_a_redirect(client):
    response = client.get("/api/v1/applications/", follow_redirects=False)
    assert response.status_code == 200 and "items" in response.json()


def test_module_exports_an_app():
    assert main.app.title == "Config Service"


def test_open_api_logs_one_warning_at_start(settings, caplog):
    import logging

    from fastapi.testclient import TestClient

    with caplog.at_level(logging.WARNING, logger="config_service"):
        with TestClient(create_app(settings)):
            pass
    assert sum("no API keys" in r.getMessage() for r in caplog.records) == 1


def test_cors_answers_configured_origins_only(settings):
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings.model_copy(update={"cors_origins": "https://ui.example"}))) as client:
        allowed = client.options("/api/v1/applications", headers={"Origin": "https://ui.example",
                                                                  "Access-Control-Request-Method": "PUT"})
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
        other = client.get("/api/v1/applications", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_start_up_refuses_a_database_that_can_lose_commits(settings, sql, caplog):
    import logging

    import pytest
    from fastapi.testclient import TestClient

    from main import StartupRefused

    name = sql.connection.get_dsn_parameters()["dbname"]
    sql.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        with caplog.at_level(logging.CRITICAL, logger="config_service"), pytest.raises(StartupRefused):
            with TestClient(create_app(settings)):
                pass
        assert any("synchronous_commit=off" in r.getMessage() for r in caplog.records)
        with TestClient(create_app(settings.model_copy(update={"allow_unsafe_durability": True}))) as client:
            assert client.get("/health").status_code == 200
    finally:
        sql.execute(f'ALTER DATABASE "{name}" RESET synchronous_commit')
