from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from middleware.request_id import RequestId


def test_request_id_is_kept_when_sane_else_made_and_is_in_the_state():
    app = FastAPI()

    @app.get("/id")
    async def echo(request: Request):
        return {"request_id": request.state.request_id}

    client = TestClient(RequestId(app))
    assert client.get("/id", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/id", headers={"X-Request-ID": "bad id \x7f" + "x" * 200})
    assert made.headers["x-request-id"] != "abc-123" and len(made.headers["x-request-id"]) == 16
    assert made.json()["request_id"] == made.headers["x-request-id"]
    assert client.get("/id").headers["x-request-id"] != made.headers["x-request-id"]
