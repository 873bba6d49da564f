import pytest

from settings import Settings
from wire import models
from wire.bodies import check_body, check_storable
from wire.problems import Unprocessable


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
        check_storable(value, 32)
    assert error.value.errors[0]["pointer"] == pointer


def test_surrogate_in_a_key_gives_an_encodable_pointer():
    with pytest.raises(Unprocessable) as error:
        check_storable({"\udc00": 1}, 32)
    error.value.errors[0]["pointer"].encode("utf-8")


def test_ordinary_json_passes():
    check_storable({"a": [1, 2.5, True, None, {"b": "żółw ✓ 🐢"}], "": ""}, 32)


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_is_limited_counting_the_outermost_container():
    check_storable(nested(32), 32)
    with pytest.raises(Unprocessable) as error:
        check_storable(nested(33), 32)
    assert error.value.errors[0]["pointer"] == "/0" * 32


def test_check_body_limits_top_level_config_keys():
    body = models.ConfigurationUpdate.model_validate({"name": "n", "config": {str(i): i for i in range(5)}})
    assert check_body(body, Settings(max_config_keys=5))["config"]["4"] == 4
    with pytest.raises(Unprocessable) as error:
        check_body(body, Settings(max_config_keys=4))
    assert error.value.errors[0]["pointer"] == "/config"
