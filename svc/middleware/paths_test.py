import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from middleware.paths import RefuseEncodedSlash, StripTrailingSlash
from wire import problems


@pytest.fixture
def client():
    app = FastAPI(redirect_slashes=False)
    problems.install(app)

    @app.get("/api/v1/things/{name}")
    async def thing(name: str):
        return {"name": name}

    @app.get("/api/v1/things")
    async def things():
        return {"items": []}

    return TestClient(RefuseEncodedSlash(StripTrailingSlash(app, prefix="/api/")))


def test_an_encoded_slash_names_nothing(client):
    assert client.get("/api/v1/things/a").json() == {"name": "a"}
    for path in ("/api/v1/things/a%2Fb", "/api/v1/things/a%2fb", "/api/v1%2Fthings"):
        response = client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


def test_a_trailing_slash_is_the_same_resource(client):
    response = client.get("/api/v1/things/", follow_redirects=False)
    assert response.status_code == 200 and response.json() == {"items": []}
