from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Body, FastAPI
from fastapi.testclient import TestClient

from wire import jsontext
from wire.jsonroute import ExactJsonRoute


def test_a_body_keeps_its_numbers_exact_and_its_non_numbers_for_refusal():
    router = APIRouter(route_class=ExactJsonRoute)
    seen = []

    @router.post("/echo")
    async def echo(body: Any = Body()):
        seen.append(body)
        return {}

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
