import json
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Path
from fastapi.testclient import TestClient

from wire import models, problems
from wire.problems import Conflict, NotFound, ServiceUnavailable, Unprocessable


@pytest.fixture
def client():
    app = FastAPI()
    problems.install(app)

    @app.get("/conflict")
    async def conflict():
        raise Conflict("taken")

    @app.get("/unavailable")
    async def unavailable():
        raise ServiceUnavailable("down", retry_after=3)

    @app.get("/field")
    async def field():
        raise Unprocessable.at("/a", "bad")

    @app.get("/items/{n}")
    async def item(n: int):
        return {}

    @app.post("/configurations")
    async def create(body: models.ConfigurationCreate):
        return {}

    Id = Annotated[str, Path(min_length=26)]

    def checked(id: Id) -> str:
        return id

    @app.delete("/keys/{id}")
    async def delete(id: Id, same: Annotated[str, Depends(checked)]):
        return {}

    @app.get("/crash")
    async def crash():
        raise RuntimeError("SELECT secret FROM credentials")

    return TestClient(app, raise_server_exceptions=False)


def test_domain_error_answers_its_status_as_problem_json(client):
    response = client.get("/conflict")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {"type": problems.TYPE_BASE + "conflict", "title": "Conflict", "status": 409,
                               "detail": "taken", "instance": "/conflict"}


def test_unavailable_says_when_to_retry(client):
    response = client.get("/unavailable")
    assert response.status_code == 503 and response.headers["retry-after"] == "3"


def test_validation_errors_point_at_the_field(client):
    assert client.get("/field").json()["errors"] == [{"pointer": "/a", "message": "bad"}]
    body = client.get("/items/x").json()
    assert body["status"] == 422 and body["errors"][0]["pointer"] == "#/path/n"


APP = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_the_contracts_rules_for_text_are_said_in_words_not_as_their_pattern(client):
    for name in (" lead", "trail ", "a\u200bb", "\u202eevil", "\ufeffbom", "tab\tx"):
        body = client.post("/configurations", json={"application_id": APP, "name": name, "config": {}}).json()
        assert body["errors"] == [{"pointer": "/name", "message": problems.NAME_RULE}], name
    body = client.post("/configurations", json={"application_id": APP, "name": "db", "comments": "a\x00",
                                                "config": {}}).json()
    assert body["errors"] == [{"pointer": "/comments", "message": problems.NUL_IN_TEXT}]


def test_a_key_of_an_object_is_named_by_its_member(client):
    body = client.post("/configurations", json={"application_id": APP, "name": "db", "config": {"a\x00": 1}}).json()
    assert body["errors"] == [{"pointer": "/config/a\x00", "message": "Key: " + problems.NUL_IN_TEXT}]
    # A key that is not text (an unpaired surrogate) cannot be named: the object that holds it is.
    raw = b'{"application_id": "%s", "name": "db", "config": {"\\ud800": 1}}' % APP.encode()
    response = client.post("/configurations", content=raw, headers={"content-type": "application/json"})
    assert response.json()["errors"] == [{"pointer": "/config", "message": "Key: " + problems.SURROGATE_IN_TEXT}]


def test_too_many_keys_for_the_contract_is_said_in_its_words(client):
    config = {f"k{n}": n for n in range(1001)}
    body = client.post("/configurations", json={"application_id": APP, "name": "db", "config": config}).json()
    assert body["errors"] == [{"pointer": "/config", "message": "An object here may have at most 1000 keys; this one "
                                                                "has 1001."}]


def test_an_error_reported_twice_is_listed_once(client):
    body = client.delete("/keys/short").json()
    assert body["errors"] == [{"pointer": "#/path/id", "message": "String should have at least 26 characters"}]


def test_an_unexpected_error_is_a_bare_500_problem_without_internals(client):
    response = client.get("/crash")
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in response.text and response.json()["title"] == "Internal Server Error"


def test_unknown_route_is_a_404_problem(client):
    response = client.get("/nothing/here")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


def test_instance_is_a_percent_encoded_uri_reference(client):
    body = client.get("/nothing/é x").json()
    assert body["instance"] == "/nothing/%C3%A9%20x"


@pytest.mark.parametrize(("loc", "expected"), [(("body", "a", 0, "b/c~"), "/a/0/b~1c~0"), (("body",), ""),
                                               (("query", "limit"), "#/query/limit")])
def test_pointer(loc, expected):
    assert problems.pointer(loc) == expected


def test_problem_omits_empty_members():
    body = json.loads(problems.problem(404, "Not Found", "not-found").body)
    assert body == {"type": problems.TYPE_BASE + "not-found", "title": "Not Found", "status": 404}


def test_not_found_defaults():
    assert NotFound().status == 404 and str(NotFound()) == "Not Found"


@pytest.mark.parametrize(("error", "status", "header"), [
    (problems.Unauthorized(), 401, ("www-authenticate", 'Bearer realm="config-service"')),
    (problems.Forbidden(), 403, None),
    (problems.MethodNotAllowed("GET, PUT"), 405, ("allow", "GET, PUT")),
    (problems.ContentTooLarge(), 413, None),
    (problems.PreconditionFailed("01JD3B5ZQ6V2K9X4N8M7P1R0ST", 4), 412, ("etag", '"01JD3B5ZQ6V2K9X4N8M7P1R0ST.4"')),
    (problems.InternalError(), 500, None),
])
def test_every_problem_answers_itself_with_its_status_headers_and_instance(error, status, header):
    response = error.response("/api/v1/a b")
    body = json.loads(response.body)
    assert response.status_code == status and response.media_type == problems.MEDIA_TYPE
    assert body["status"] == status and body["detail"] and body["instance"] == "/api/v1/a%20b"
    if header:
        assert response.headers[header[0]] == header[1]


def test_a_stale_if_match_says_which_it_is_stale_a_lost_write_or_no_tag():
    """An If-Match naming the current version's number as written in another epoch names a write a failover lost,
    whose number the new primary gave to other content: its 412 says that, not merely that the resource changed."""
    from wire.etags import Named

    id = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
    assert str(problems.PreconditionFailed.if_match(id, 2, 7, [Named(1, 7)])) == problems.PreconditionFailed.IF_MATCH
    other = problems.PreconditionFailed.if_match(id, 2, 7, [Named(2, 6)])
    assert str(other) == ("The ETag in If-Match names version 2 as written in epoch 6, and version 2 here was written "
                          "in epoch 7: other content. The write the ETag names was lost in a failover (or a restore to "
                          "a point in time). Read the resource again for its current ETag.")
    assert other.headers["ETag"] == f'"{id}.2~7"'  # the current one, to use
    # A version of another number, of whatever epoch: an ordinary stale If-Match.
    assert str(problems.PreconditionFailed.if_match(id, 3, 7, [Named(2, 6), Named(2, 7)])) == (
        problems.PreconditionFailed.IF_MATCH)
    assert str(problems.PreconditionFailed.if_match(id, 2, 1, [])) == problems.PreconditionFailed.NO_TAG
    assert problems.PreconditionFailed.if_match(id, 2, 1, [Named(1)]).headers["ETag"] == f'"{id}.2"'
