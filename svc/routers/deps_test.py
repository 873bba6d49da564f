import asyncio
from types import SimpleNamespace

import pytest
from pydantic_core import PydanticCustomError

from routers.deps import get_database, plain_integer
from routers.deps import preconditions as preconditions_of
from wire.etags import Named, Preconditions
from wire.problems import PreconditionRequired


def test_the_database_comes_from_the_app_state():
    marker = object()
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(database=marker)))
    assert asyncio.run(get_database(request)) is marker


def _request(require_if_match: bool, *if_match: str) -> SimpleNamespace:
    settings = SimpleNamespace(require_if_match=require_if_match)
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)),
                           scope={"headers": [(b"if-match", line.encode()) for line in if_match]})


def test_preconditions_read_if_match_and_if_none_match_for_the_path_id():
    id = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
    assert asyncio.run(preconditions_of(_request(False, f'"{id}.3", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7"'), id)) == \
        Preconditions([Named(3)], [], current=True)
    assert asyncio.run(preconditions_of(_request(False, '"x"', f'"{id}.3"'), id)).match == [Named(3)]  # two lines, one list
    star = asyncio.run(preconditions_of(_request(True, "*"), id))
    assert star.match is None and star.current  # any version, but one there is
    request = _request(False)
    request.scope["headers"] += [(b"if-none-match", f'W/"{id}.2"'.encode()), (b"if-none-match", f'"{id}.4"'.encode())]
    assert asyncio.run(preconditions_of(request, id)) == Preconditions(None, [Named(2), Named(4)])


def test_missing_if_match_is_unconditional_unless_required():
    assert asyncio.run(preconditions_of(_request(False), "01JD3B5ZQ6V2K9X4N8M7P1R0ST")) == Preconditions()
    with pytest.raises(PreconditionRequired):
        asyncio.run(preconditions_of(_request(True), "01JD3B5ZQ6V2K9X4N8M7P1R0ST"))


@pytest.mark.parametrize("value", ["0", "1", "10", "300", "-1", "9" * 30])
def test_a_plain_decimal_goes_on_to_the_range_check(value):
    assert plain_integer(value) == value


@pytest.mark.parametrize("value", ["1_0", "0_1", " 10", "10 ", "\t1", "+10", "010", "00", "-0", "-010", "10.0", "1.",
                                   "1e1", "0x10", "\u0661\u0660", "\uff11", "", "-", "1 0"])
def test_every_other_spelling_of_an_integer_is_refused(value):
    with pytest.raises(PydanticCustomError):
        plain_integer(value)
