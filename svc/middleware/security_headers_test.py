from fastapi import FastAPI
from fastapi.testclient import TestClient

from middleware.security_headers import SecurityHeaders


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
