import pytest

from problems import NotFound, PreconditionFailed
from repositories import applications, rows

MISSING_ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture
def cur(sql, clean):
    return sql


def test_one_returns_the_row_or_raises_not_found_with_the_message(cur):
    assert rows.one(cur, "SELECT 1 AS x", {}, "nope") == {"x": 1}
    with pytest.raises(NotFound, match="nope"):
        rows.one(cur, "SELECT 1 AS x WHERE false", {}, "nope")


def test_missing_or_stale_tells_a_gone_row_from_a_changed_one(cur):
    created = applications.create(cur, name="a", comments=None)
    with pytest.raises(PreconditionFailed) as stale:
        rows.missing_or_stale(cur, applications.SELECT_VERSION, created["id"], "gone")
    assert stale.value.headers["ETag"] == f'"{created["id"]}.1"'
    with pytest.raises(NotFound, match="gone"):
        rows.missing_or_stale(cur, applications.SELECT_VERSION, MISSING_ID, "gone")
    with pytest.raises(KeyError):
        rows.missing_or_stale(cur, applications.SELECT_VERSION, created["id"], "gone", otherwise=KeyError("other"))


def test_write_turns_a_taken_name_into_conflict_and_returns_the_row(cur):
    from problems import Conflict

    created = applications.create(cur, name="taken", comments=None)
    with pytest.raises(Conflict, match="in use"):
        rows.write(cur, applications.INSERT, {"id": MISSING_ID, "name": "taken", "comments": None,
                                              "now": created["created_at"]}, "in use")
    assert rows.write(cur, "SELECT 7 AS n", {}, "unused") == {"n": 7}
