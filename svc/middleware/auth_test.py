import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from middleware import auth

SECRET_W = "w" * 20
SECRET_R = "r" * 20


def test_parse_reads_names_scopes_and_secrets():
    keys = auth.parse(f"ci:rw:{SECRET_W}, dash:ro:{SECRET_R}\n# comment\n")
    assert [(k.name, k.scope, k.secret) for k in keys] == [("ci", "rw", SECRET_W.encode()), ("dash", "ro", SECRET_R.encode())]
    assert auth.parse("") == ()


def test_secrets_may_contain_colons():
    assert auth.parse("a:rw:" + "x:" * 10)[0].secret == ("x:" * 10).encode()


@pytest.mark.parametrize(("text", "message"), [
    ("ci:admin:" + "x" * 20, "scope"),
    ("ci:rw:short", "at least 16"),
    ("bad name:rw:" + "x" * 20, "name"),
    (f"ci:rw:{'x' * 20},ci:ro:{'y' * 20}", "twice"),
])
def test_bad_keys_are_refused_without_showing_the_secret(text, message):
    with pytest.raises(ValueError) as error:
        auth.parse(text)
    assert message in str(error.value) and "x" * 20 not in str(error.value)


def test_keys_never_print_their_secret():
    key = auth.parse(f"ci:rw:{SECRET_W}")[0]
    assert SECRET_W not in repr(key) and SECRET_W not in str(key)


def test_load_reads_a_file_too(tmp_path):
    file = tmp_path / "keys"
    file.write_text(f"dash:ro:{SECRET_R}\n")
    assert [k.name for k in auth.load(f"ci:rw:{SECRET_W}", file)] == ["ci", "dash"]


@pytest.mark.parametrize(("header", "name"), [
    (f"Bearer {SECRET_W}".encode(), "ci"), (f"bearer  {SECRET_R}".encode(), "dash"),
    (b"Bearer nope-nope-nope-nope", None), (f"Basic {SECRET_W}".encode(), None), (b"Bearer ", None), (None, None),
])
def test_identify(header, name):
    keys = auth.parse(f"ci:rw:{SECRET_W},dash:ro:{SECRET_R}")
    found = auth.identify(keys, header)
    assert (found.name if found else None) == name


@pytest.fixture
def client():
    app = FastAPI()

    @app.api_route("/api/v1/thing", methods=["GET", "POST"])
    async def thing(request: Request):
        return {"key": request.state.api_key}

    @app.get("/health")
    async def health():
        return {}

    keys = auth.parse(f"ci:rw:{SECRET_W},dash:ro:{SECRET_R}")
    return TestClient(auth.Authenticate(app, keys, prefix="/api/v1"))


def test_middleware_gates_the_api_only(client):
    assert client.get("/health").status_code == 200
    missing = client.get("/api/v1/thing")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/thing", headers={"Authorization": f"Bearer {SECRET_R}"}).json() == {"key": "dash"}
    assert client.post("/api/v1/thing", headers={"Authorization": f"Bearer {SECRET_R}"}).status_code == 403
    assert client.post("/api/v1/thing", headers={"Authorization": f"Bearer {SECRET_W}"}).json() == {"key": "ci"}


def test_without_keys_the_api_is_open():
    app = FastAPI()

    @app.get("/api/v1/thing")
    async def thing():
        return {"ok": True}

    assert TestClient(auth.Authenticate(app, (), prefix="/api/v1")).get("/api/v1/thing").status_code == 200
