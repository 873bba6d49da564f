from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Body, FastAPI
from fastapi.testclient import TestClient

from wire import jsontext
from wire.jsonroute import ExactJsonRoute


def echoing() -> tuple[APIRouter, list[Any]]:
    """A router on the route class whose POST /echo keeps each body it is given in the list."""
    router = APIRouter(route_class=ExactJsonRoute)
    seen: list[Any] = []

    @router.post("/echo")
    async def echo(body: Any = Body()):
        seen.append(body)
        return {}

    return router, seen


def test_a_body_keeps_its_numbers_exact_and_its_non_numbers_for_refusal():
    router, seen = echoing()

    @router.get("/plain")
    async def plain():
        return {"ok": True}

    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    text = '{"pi": 3.1415926535897932384626433832795028, "tiny": 1e-400, "n": NaN, "i": 7}'
    assert client.post("/echo", content=text, headers={"Content-Type": "application/json"}).status_code == 200
    (body,) = seen
    assert (body["pi"], body["tiny"], body["i"]) == (Decimal("3.1415926535897932384626433832795028"),
                                                     Decimal("1e-400"), 7)
    assert isinstance(body["n"], jsontext.NonNumber)
    assert client.get("/plain").json() == {"ok": True}


def test_an_encoded_body_is_415_naming_the_coding_taken_before_it_is_read():
    """A body sent with a Content-Encoding other than identity is refused as unsupported (RFC 9110 §8.4), with
    `Accept-Encoding: identity`, however its lines are split; never read as the JSON it is not."""
    import gzip

    from wire import problems

    router, seen = echoing()
    app = FastAPI()
    problems.install(app)
    app.include_router(router)
    client = TestClient(app)
    for encoding in (["gzip"], ["identity, gzip"], ["identity", "br"], ["GZIP"]):
        answer = client.post("/echo", content=gzip.compress(b'{"a": 1}'),
                             headers=[("Content-Type", "application/json"), *(("Content-Encoding", e) for e in encoding)])
        assert answer.status_code == 415 and answer.headers["accept-encoding"] == "identity", encoding
        assert answer.headers["content-type"] == "application/problem+json"
        assert "Content-Encoding" in answer.json()["detail"]
    assert seen == []
    for encoding in (["identity"], ["Identity, identity"], []):
        answer = client.post("/echo", content=b'{"a": 1}',
                             headers=[("Content-Type", "application/json"), *(("Content-Encoding", e) for e in encoding)])
        assert answer.status_code == 200, encoding
    assert seen == [{"a": 1}] * 3


def test_an_empty_body_is_400_not_a_field_missing():
    """No JSON text at all is a body that cannot be read (RFC 8259 §2), as any other not JSON: 400, where FastAPI
    took it for a body missing (422 "Field required" at the root). An optional body may be left out."""
    from wire import problems

    router, seen = echoing()

    @router.post("/optional")
    async def optional(body: Any = Body(default=None)):
        return {"body": body}

    app = FastAPI()
    problems.install(app)
    app.include_router(router)
    client = TestClient(app)
    for content in (b"", b"  \r\n"):
        answer = client.post("/echo", content=content, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == "The request body is empty: it must be a JSON object."
    assert seen == [] and client.post("/optional").json() == {"body": None}


def test_an_empty_body_of_another_media_type_is_that_media_type_s_refusal():
    """An empty body is 400 only where JSON was declared (or nothing was): one declared as something else is the
    route's 415, as a body of that type with content is."""
    from routers.deps import JsonBody
    from wire import problems

    router = APIRouter(route_class=ExactJsonRoute)

    @router.put("/thing", dependencies=[JsonBody])
    async def thing(body: Any = Body()):
        return {}

    app = FastAPI()
    problems.install(app)
    app.include_router(router)
    client = TestClient(app)
    for content in (b"", b"x"):
        assert client.put("/thing", content=content, headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.put("/thing", content=b"", headers={"Content-Type": "application/json"}).status_code == 400
