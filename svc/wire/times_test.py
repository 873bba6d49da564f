import pytest

from wire.problems import Unprocessable
from wire.times import moment, rfc3339


@pytest.mark.parametrize("text", ["2026-11-23T14:02:00Z", "2026-11-23t14:02:00.123456789z",
                                  "2026-11-23T14:02:00+01:00"])
def test_moment_reads_rfc3339_with_its_offset(text):
    assert moment(text).utcoffset() is not None


@pytest.mark.parametrize("text", ["2026-11-23T14:02:00", "2026-11-23", "1700000000", "2026-13-01T00:00:00Z",
                                  "2026-11-23T23:59:60Z", "2026-11-23T14:02:00+24:00", " 2026-11-23T14:02:00Z"])
def test_moment_refuses_anything_else_at_the_parameter(text):
    with pytest.raises(Unprocessable) as error:
        moment(text)
    assert error.value.errors[0]["pointer"] == "#/query/at"


def test_rfc3339_writes_utc_with_z():
    assert rfc3339(moment("2026-11-23T15:02:00+01:00")) == "2026-11-23T14:02:00Z"
    assert rfc3339(None) is None
