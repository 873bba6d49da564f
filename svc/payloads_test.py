import json

import pytest

import models
from payloads import check_storable, reply
from problems import Unprocessable


@pytest.mark.parametrize(
    ("value", "pointer"),
    [
        ({"a": "x\x00"}, "/a"),
        ({"a": [1, {"b/c": "\x00"}]}, "/a/1/b~1c"),
        ({"k\x00": 1}, "/k\x00"),
        ({"a~": ["\ud800"]}, "/a~0/0"),
    ],
)
def test_unstorable_text_is_refused_with_its_pointer(value, pointer):
    with pytest.raises(Unprocessable) as error:
        check_storable(value)
    assert error.value.errors[0]["pointer"] == pointer


def test_surrogate_in_a_key_gives_an_encodable_pointer():
    with pytest.raises(Unprocessable) as error:
        check_storable({"\udc00": 1})
    error.value.errors[0]["pointer"].encode("utf-8")


def test_ordinary_json_passes():
    check_storable({"a": [1, 2.5, True, None, {"b": "żółw ✓ 🐢"}], "": ""})


def test_reply_serializes_the_model_once_as_json():
    response = reply(models.Health(status="ok", database="ok"), 201, {"X-A": "b"})
    assert response.status_code == 201 and response.headers["x-a"] == "b"
    assert response.media_type == "application/json"
    assert json.loads(response.body) == {"status": "ok", "database": "ok"}
