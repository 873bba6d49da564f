import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from middleware.paths import NOT_UTF8, RefuseEncodedSlash, StripTrailingSlash
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
        assert response.json()["instance"] == path  # as sent: decoded, it names another resource


def test_a_trailing_slash_is_the_same_resource(client):
    response = client.get("/api/v1/things/", follow_redirects=False)
    assert response.status_code == 200 and response.json() == {"items": []}


@pytest.mark.parametrize(("query", "name"), [
    ("environment=prod&environment=dev", "environment"), ("limit=1&cursor=x&limit=2", "limit"),
    ("li%6Dit=1&limit=2", "limit"), ("a+b=1&a%20b=2", "a b"), ("x/y=1&x/y=2", "x~1y"), ("w=&w", "w")])
def test_a_query_parameter_given_twice_is_422_at_it(client, query, name):
    """Every query parameter takes one value: given twice, the framework would take the last silently."""
    response = client.get(f"/api/v1/things?{query}")
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"pointer": f"#/query/{name}",
                                          "message": "Given more than once: give each query parameter once."}]


def test_parameters_given_once_and_paths_outside_the_api_are_left_alone(client):
    assert client.get("/api/v1/things?limit=1&cursor=2&&name=x").status_code == 200
    assert client.get("/api/v1/things/a?x=1&y=2").json() == {"name": "a"}
    outside = FastAPI()

    @outside.get("/health")
    async def health():
        return {}
    assert TestClient(StripTrailingSlash(outside, prefix="/api/")).get("/health?x=1&x=2").status_code == 200


@pytest.mark.parametrize(("query", "name"), [("name=%FF", "name"), ("limit=1&name=a%C3", "name"),
                                             ("n%FFme=x", "n\ufffdme"), ("name=%ED%A0%80", "name")])
def test_a_query_that_is_not_utf8_once_decoded_is_422_at_it(client, query, name):
    """`?name=%FF` was read as U+FFFD, and searched for: 200 for a name nobody sent (a contract audit). A lone
    surrogate's UTF-8 (`%ED%A0%80`) is not UTF-8 either."""
    response = client.get(f"/api/v1/things?{query}")
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"pointer": f"#/query/{name}", "message": NOT_UTF8}]
    assert client.get("/api/v1/things?name=caf%C3%A9&x=a+b%20c").status_code == 200

