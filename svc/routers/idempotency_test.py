"""The key and the fingerprint of a keyed write (the whole flow is tested over HTTP in test_idempotency.py)."""

import pytest
from starlette.requests import Request

from routers import idempotency
from wire.problems import Unprocessable


def request(method: str = "PUT", path: str = "/api/v1/configurations/x", **headers: str) -> Request:
    raw = [(name.lower().replace("_", "-").encode(), value.encode("latin-1")) for name, value in headers.items()]
    return Request({"type": "http", "method": method, "path": path, "headers": raw})


def test_a_key_is_read_with_or_without_the_quotes_of_an_sf_string():
    assert idempotency.key_of(request()) is None
    assert idempotency.key_of(request(Idempotency_Key="abc 1")) == "abc 1"
    assert idempotency.key_of(request(Idempotency_Key='"abc 1"')) == "abc 1"


@pytest.mark.parametrize("value", ["", '""', 'a"b', "a\\b", "k" * 256, "\x7f"])
def test_what_is_not_a_key_is_422_at_the_header(value):
    with pytest.raises(Unprocessable) as refused:
        idempotency.key_of(request(Idempotency_Key=value))
    assert refused.value.errors == [{"pointer": "#/header/Idempotency-Key", "message": refused.value.errors[0]["message"]}]


def test_the_fingerprint_covers_method_path_preconditions_and_body():
    base = idempotency.fingerprint(request(), b"{}")
    assert idempotency.fingerprint(request(), b"{}") == base
    assert idempotency.fingerprint(request(method="DELETE"), b"{}") != base
    assert idempotency.fingerprint(request(path="/api/v1/configurations/y"), b"{}") != base
    assert idempotency.fingerprint(request(If_Match='"x.1"'), b"{}") != base
    assert idempotency.fingerprint(request(If_None_Match="*"), b"{}") != base
    assert idempotency.fingerprint(request(), b'{"a":1}') != base
