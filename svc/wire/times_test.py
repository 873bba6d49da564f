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


def test_moment_is_in_utc_whatever_the_offset_and_refuses_what_utc_cannot_hold():
    # RFC 3339 allows offsets to ±23:59, PostgreSQL only to ±15:59: the database is sent UTC
    assert moment("2026-01-01T00:00:00-23:59").isoformat() == "2026-01-01T23:59:00+00:00"
    for text in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(Unprocessable, match="out of range") as error:
            moment(text)
        assert error.value.errors[0]["pointer"] == "#/query/at"


def test_an_offset_whose_plus_became_a_space_is_refused_saying_so():
    # `?at=2026-12-06T10:18:53.7+01:00` sent unencoded arrives with a space for the `+`.
    with pytest.raises(Unprocessable) as error:
        moment("2026-12-06T10:18:53.7 01:00")
    assert "%2B" in error.value.errors[0]["message"]
    with pytest.raises(Unprocessable) as error:
        moment("2026-12-06 10:18:53Z")
    assert "%2B" not in error.value.errors[0]["message"]
