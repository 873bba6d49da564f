from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError
from ulid import ULID as _ULID

from wire import ulids

adapter = TypeAdapter(ulids.Ulid)


def test_canonical_string_round_trips():
    value = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
    assert adapter.dump_python(adapter.validate_python(value)) == value
    assert adapter.dump_json(adapter.validate_json(f'"{value}"')) == f'"{value}"'.encode()


@pytest.mark.parametrize("value", ["01jd3b5zq6v2k9x4n8m7p1r0st", "01JD3B5ZQ6V2K9X4N8M7P1R0S", "01JD3B5ZQ6V2K9X4N8M7P1R0STU",
                                   "01JD3B5ZQ6V2K9X4N8M7P1R0SI", "81JD3B5ZQ6V2K9X4N8M7P1R0ST", 12345, b"0123456789abcdef"])
def test_anything_but_the_canonical_string_is_refused(value):
    with pytest.raises(ValidationError):
        adapter.validate_python(value)


def test_new_ids_are_canonical_and_ordered_by_time():
    earlier = ulids.new(datetime(2026, 1, 1, tzinfo=UTC))
    later = ulids.new(datetime(2026, 1, 2, tzinfo=UTC))
    assert ulids.PATTERN.fullmatch(earlier) and earlier < later
    assert _ULID.from_str(earlier).datetime == datetime(2026, 1, 1, tzinfo=UTC)


def test_ids_of_one_millisecond_follow_each_other():
    now = datetime(2026, 5, 5, tzinfo=UTC)
    made = [ulids.new(now) for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000
    assert all(_ULID.from_str(i).datetime == now for i in made)
