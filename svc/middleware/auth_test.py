import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from live.readcache import ReadCache
from middleware import auth
from wire import principals
from wire.principals import digest

SECRET_W = "w" * 20
SECRET_R = "r" * 20
MANAGED = "csk_" + "m" * 43


class Database:
    """The managed keys as `api_keys.active` reads them, counted."""

    def __init__(self, rows):
        self.rows, self.runs = rows, 0

    async def run(self, fn, *args, **kwargs):
        self.runs += 1
        return self.rows


def make_client(rows=(), keys=f"ci:rw:{SECRET_W},dash:ro:{SECRET_R}"):
    app = FastAPI()

    @app.api_route("/api/v1/thing", methods=["GET", "POST"])
    async def thing(request: Request):
        principal = request.state.principal
        return {"key": request.state.api_key, "id": principal.id, "actions": sorted(principal.actions)}

    @app.get("/health")
    async def health():
        return {}

    app.state.read_cache = ReadCache(max_bytes=0)  # no listener: every look-up reads the "database"
    app.state.database = Database(list(rows))
    app.add_middleware(auth.Authenticate, keys=principals.parse(keys), prefix="/api/v1")
    return TestClient(app), app.state.database


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_middleware_gates_the_api_only():
    client, _ = make_client()
    assert client.get("/health").status_code == 200
    missing = client.get("/api/v1/thing")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/thing", headers=bearer(SECRET_R)).json() == {"key": "dash", "id": None,
                                                                           "actions": ["read"]}
    # What a key may do is each route's to say (live/scopes.py): the middleware only says who it is.
    assert client.post("/api/v1/thing", headers=bearer(SECRET_W)).json()["actions"] == ["read", "write"]


@pytest.mark.parametrize("header", [b"Bearer nope-nope-nope-nope", f"Basic {SECRET_W}".encode(), b"Bearer ", b""])
def test_anything_but_a_known_bearer_token_is_401(header):
    client, _ = make_client()
    assert client.get("/api/v1/thing", headers={"Authorization": header.decode()}).status_code == 401


def row(**overrides):
    return {"id": "01JD3D4M5N6P7Q8R9S0T1V2W3X", "name": "svc", "secret_hash": digest(MANAGED.encode()),
            "actions": ["read"], "applications": ["01JD3B5ZQ6V2K9X4N8M7P1R0ST"], "environments": None,
            "expires_at": None} | overrides


def test_a_managed_key_is_found_by_the_digest_of_its_secret():
    client, database = make_client([row()])
    answer = client.get("/api/v1/thing", headers=bearer(MANAGED))
    assert answer.status_code == 200 and answer.json() == {"key": "svc", "id": "01JD3D4M5N6P7Q8R9S0T1V2W3X",
                                                           "actions": ["read"]}
    assert database.runs >= 1


def test_an_expired_managed_key_is_401():
    from datetime import UTC, datetime, timedelta
    client, _ = make_client([row(expires_at=datetime.now(UTC) - timedelta(seconds=1))])
    assert client.get("/api/v1/thing", headers=bearer(MANAGED)).status_code == 401


def test_a_settings_key_needs_no_look_up():
    client, database = make_client([row()])
    assert client.get("/api/v1/thing", headers=bearer(SECRET_R)).status_code == 200
    assert database.runs == 0


def test_an_unknown_token_and_a_wrong_one_take_the_same_path():
    """Both are a digest found nowhere: each compares against every settings key and looks once among the managed."""
    client, database = make_client([row()])
    for token in ("csk_" + "x" * 43, MANAGED[:-1] + "n"):
        before = database.runs
        assert client.get("/api/v1/thing", headers=bearer(token)).status_code == 401
        assert database.runs - before == 1


def test_without_keys_the_api_is_open():
    app = FastAPI()

    @app.get("/api/v1/thing")
    async def thing():
        return {"ok": True}

    app.add_middleware(auth.Authenticate, keys=(), prefix="/api/v1")
    assert TestClient(app).get("/api/v1/thing").status_code == 200


def test_when_the_managed_keys_cannot_be_read_the_answer_is_503_not_500():
    from wire.problems import ServiceUnavailable

    client, database = make_client([row()])

    async def down(fn, *args, **kwargs):
        raise ServiceUnavailable("The database is unavailable.")
    database.run = down
    answer = client.get("/api/v1/thing", headers=bearer(MANAGED))
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("actions", "applications", "method", "path", "refused"), [
    ({"read"}, None, "POST", "/applications", True),  # sees everything: the write is refused whatever it names
    ({"read"}, None, "GET", "/applications", False),
    ({"read"}, frozenset({"A"}), "PUT", "/configurations/X", False),  # the route says 404 or 403
    ({"read", "write"}, None, "DELETE", "/configurations/X", False),
    ({"read"}, None, "GET", "/keys", True),  # key management needs manage, to read too
    ({"read"}, None, "GET", "/audit/keys", True),
    ({"read"}, None, "GET", "/key", False),  # its own key: anyone's
    ({"read", "manage"}, None, "POST", "/keys", False),  # managing keys needs no write
    ({"manage"}, None, "DELETE", "/keys/X", False),
    ({"manage"}, None, "POST", "/applications", False),  # sees nothing: the route answers
])
def test_refused_early_only_where_the_answer_is_certain(actions, applications, method, path, refused):
    principal = principals.Principal("k", frozenset(actions), applications)
    assert (auth.early_refusal(principal, method, path) is not None) is refused
