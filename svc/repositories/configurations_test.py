import threading
import time

import psycopg2
import psycopg2.extras
import pytest

from wire import jsontext, models
from wire.problems import Conflict, NotFound, Unprocessable
from repositories import applications, configurations
from repositories.applications_test import columns_of

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


# Each configuration write, on a configuration of the application `app_id` (made with revision 1).
WRITES = {
    "create": lambda cur, app_id, id: configurations.create(cur, application_id=app_id, name="new", comments=None,
                                                            config={}),
    "update": lambda cur, app_id, id: configurations.update(cur, id, name="db", comments=None, config={"v": 2}),
    "rename into a name": lambda cur, app_id, id: configurations.update(cur, id, name="taken?", comments=None,
                                                                        config={}),
    "restore": lambda cur, app_id, id: configurations.restore(cur, id, 1),
    "delete": lambda cur, app_id, id: configurations.delete(cur, id),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_configuration_write_locks_its_application_before_its_configuration(database_url, cur, app_id, write):
    """One lock order everywhere: the application's row, then its configurations' rows. Deleting an application
    takes them in that order (its row, then the cascade); a write that held its configuration while it waited for
    the application would deadlock with it. Here the deletion holds the application's row first, as it does
    when it wins the race, and must then delete everything while the write waits, which ends in 404."""
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={})
    deleter = psycopg2.connect(database_url)
    writer = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    writer.autocommit = True  # as the service runs its writes: one statement each
    outcome: dict[str, BaseException | None] = {}

    def write_now() -> None:
        try:
            with writer.cursor() as wcur:
                WRITES[write](wcur, app_id, made["id"])
            outcome["error"] = None
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    try:
        with deleter.cursor() as dcur:
            dcur.execute("SELECT 1 FROM applications WHERE id = %s FOR UPDATE", (app_id,))
            thread = threading.Thread(target=write_now)
            thread.start()
            waiting_for_a_lock(cur, writer.get_backend_pid())
            dcur.execute("DELETE FROM applications WHERE id = %s", (app_id,))
        deleter.commit()
        thread.join(60)
        assert not thread.is_alive()
    finally:
        deleter.close()
        writer.close()
    expected = Unprocessable if write == "create" else NotFound
    assert isinstance(outcome["error"], expected), repr(outcome["error"])
    cur.execute("SELECT count(*) AS n FROM configurations WHERE application_id = %s", (app_id,))
    assert cur.fetchone()["n"] == 0


def waiting_for_a_lock(cur, pid: int, within: float = 60) -> None:
    """Return once backend `pid` waits for a lock (a bound only a hang reaches)."""
    deadline = time.monotonic() + within
    while True:
        cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
        if cur.fetchone()["wait_event_type"] == "Lock":
            return
        assert time.monotonic() < deadline, "the write never waited for the application's lock"
        time.sleep(0.01)


def test_one_list_names_every_column_of_both_tables_and_the_contracts_fields(cur):
    assert columns_of(cur, "configurations") == set(configurations.COLUMNS)
    assert columns_of(cur, "configuration_revisions") == set(configurations.REVISION_COLUMNS)
    assert set(models.ConfigurationUpdate.model_fields) == set(configurations.FIELDS)
    assert set(models.ConfigurationCreate.model_fields) == {"application_id", *configurations.FIELDS}
    assert set(models.ConfigurationResource.model_fields) == set(configurations.STORED)  # not `epoch`: the ETag's
    assert set(models.Revision.model_fields) == set(configurations.REVISION_COLUMNS)


def test_a_revision_keeps_every_field_and_a_restore_brings_each_back(cur, app_id):
    made = configurations.create(cur, application_id=app_id, name="db", comments="first", config={"v": 1})
    configurations.update(cur, made["id"], name="db2", comments=None, config={"v": 2})
    first = configurations.revision(cur, made["id"], 1)
    assert {field: first[field] for field in configurations.FIELDS} == {field: made[field]
                                                                        for field in configurations.FIELDS}
    restored = configurations.restore(cur, made["id"], 1)
    assert {field: restored[field] for field in configurations.FIELDS} == {field: made[field]
                                                                           for field in configurations.FIELDS}
