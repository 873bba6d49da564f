import pytest

from wire.problems import Conflict, NotFound
from repositories import applications

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_create_then_get(cur):
    created = applications.create(cur, name="billing", comments=None)
    assert applications.get(cur, created["id"]) == created | {"configuration_ids": []}


def test_create_duplicate_name_is_conflict(cur):
    applications.create(cur, name="billing", comments=None)
    with pytest.raises(Conflict):
        applications.create(cur, name="billing", comments="again")


def test_update_returns_the_new_row_with_configuration_ids(cur):
    created = applications.create(cur, name="a", comments=None)
    updated = applications.update(cur, created["id"], name="b", comments="c")
    assert (updated["name"], updated["comments"], updated["configuration_ids"]) == ("b", "c", [])
    assert updated["updated_at"] >= created["updated_at"]


def test_missing_rows_are_not_found(cur):
    for call in (lambda: applications.get(cur, MISSING), lambda: applications.delete(cur, MISSING),
                 lambda: applications.update(cur, MISSING, name="x", comments=None)):
        with pytest.raises(NotFound):
            call()


def test_page_filters_by_name_and_continues_after_cursor(cur):
    ids = [applications.create(cur, name=f"n{i}", comments=None)["id"] for i in range(3)]
    items, cursor = applications.page(cur, limit=2)
    assert [r["id"] for r in items] == ids[:2] and cursor == ids[1]
    items, cursor = applications.page(cur, limit=2, cursor=cursor)
    assert [r["id"] for r in items] == ids[2:] and cursor is None
    assert [r["id"] for r in applications.page(cur, limit=5, name="n1")[0]] == [ids[1]]


def test_list_page_uses_the_primary_key_index(cur):
    # A tiny table would be scanned whole; forbid that to see the plan a large one gets.
    cur.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
    cur.execute("EXPLAIN " + applications.SELECT_PAGE, {"cursor": MISSING, "name": None, "limit": 51})
    plan = " ".join(r["QUERY PLAN"] for r in cur.fetchall())
    cur.execute("RESET enable_seqscan; RESET enable_bitmapscan")
    assert "Index Scan using applications_pkey" in plan and "Sort" not in plan
