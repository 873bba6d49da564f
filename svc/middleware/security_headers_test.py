from fastapi import FastAPI
from fastapi.testclient import TestClient

from middleware.security_headers import CONSOLE_CSP, SecurityHeaders


def test_nosniff_everywhere_and_under_the_prefix_gets_revalidate_writes_no_store():
    app = FastAPI()

    @app.api_route("/api/v1/thing", methods=["GET", "POST"])
    async def thing():
        return {}

    @app.get("/health")
    async def health():
        return {}

    client = TestClient(SecurityHeaders(app, prefix="/api/"))
    get, post, health = client.get("/api/v1/thing"), client.post("/api/v1/thing"), client.get("/health")
    assert {r.headers["x-content-type-options"] for r in (get, post, health)} == {"nosniff"}
    assert (get.headers["cache-control"], post.headers["cache-control"]) == ("no-cache", "no-store")
    assert "cache-control" not in health.headers


def test_the_console_and_its_files_get_the_content_security_policy_and_nothing_else_does():
    app = FastAPI()
    for path in ("/console", "/static/console/app.js", "/consoles", "/static/swagger-ui/x.js", "/docs"):
        app.add_api_route(path, lambda: {})
    client = TestClient(SecurityHeaders(app, prefix="/api/"))
    for path in ("/console", "/static/console/app.js"):
        answer = client.get(path)
        assert answer.headers["content-security-policy"] == CONSOLE_CSP
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-cache"
    for path in ("/consoles", "/static/swagger-ui/x.js", "/docs"):  # Swagger UI runs inline script
        assert "content-security-policy" not in client.get(path).headers, path
