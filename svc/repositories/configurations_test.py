import pytest

import jsontext

from problems import Conflict, NotFound, Unprocessable
from repositories import applications, configurations

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture
def app_id(cur):
    return applications.create(cur, name="app", comments=None)["id"]


def test_create_then_get_keeps_the_json(cur, app_id):
    config = {"a": [1, {"b": None}], "c": 1.5}
    created = configurations.create(cur, application_id=app_id, name="db", comments=None, config=config)
    assert configurations.get(cur, created["id"]) == created
    # jsonb comes back as PostgreSQL's text, numbers exact
    assert isinstance(created["config"], jsontext.Raw) and jsontext.loads(created["config"]) == config


def test_unknown_application_is_unprocessable_at_application_id(cur):
    with pytest.raises(Unprocessable) as error:
        configurations.create(cur, application_id=MISSING, name="db", comments=None, config={})
    assert error.value.errors[0]["pointer"] == "/application_id"


def test_duplicate_name_in_one_application_is_conflict(cur, app_id):
    configurations.create(cur, application_id=app_id, name="db", comments=None, config={})
    with pytest.raises(Conflict):
        configurations.create(cur, application_id=app_id, name="db", comments=None, config={})


def test_update_and_delete(cur, app_id):
    created = configurations.create(cur, application_id=app_id, name="db", comments=None, config={})
    updated = configurations.update(cur, created["id"], name="db2", comments="x", config={"k": "v"})
    assert (updated["name"], jsontext.loads(updated["config"]), updated["application_id"]) == ("db2", {"k": "v"}, app_id)
    configurations.delete(cur, created["id"])
    with pytest.raises(NotFound):
        configurations.get(cur, created["id"])


def test_missing_rows_are_not_found(cur):
    for call in (lambda: configurations.delete(cur, MISSING),
                 lambda: configurations.update(cur, MISSING, name="x", comments=None, config={}),
                 lambda: configurations.page(cur, MISSING, limit=5)):
        with pytest.raises(NotFound):
            call()


def test_page_holds_only_the_configurations_of_its_application(cur, app_id):
    other = applications.create(cur, name="other", comments=None)["id"]
    mine = [configurations.create(cur, application_id=app_id, name=f"c{i}", comments=None, config={})["id"]
            for i in range(3)]
    configurations.create(cur, application_id=other, name="c0", comments=None, config={})
    items, cursor = configurations.page(cur, app_id, limit=2)
    rest, last = configurations.page(cur, app_id, limit=2, cursor=cursor)
    assert [r["id"] for r in items + rest] == mine and last is None
    assert [r["name"] for r in configurations.page(cur, app_id, limit=9, name="c1")[0]] == ["c1"]
