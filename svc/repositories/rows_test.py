import pytest

from wire.problems import NotFound, PreconditionFailed
from repositories import applications, rows

MISSING_ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


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
    from wire.problems import Conflict

    created = applications.create(cur, name="taken", comments=None)
    with pytest.raises(Conflict, match="in use"):
        rows.write(cur, applications.INSERT, {"id": MISSING_ID, "name": "taken", "comments": None, "version": 1,
                                              "created_at": created["created_at"],
                                              "updated_at": created["created_at"]}, "in use")
    assert rows.write(cur, "SELECT 7 AS n", {}, "unused") == {"n": 7}


def ids(n):
    return [{"id": f"{i:026d}"} for i in range(n)]


def test_extra_row_means_another_page_whose_cursor_is_the_last_shown():
    page, cursor = rows.split(ids(4), 3)
    assert len(page) == 3 and cursor == page[-1]["id"]


def test_no_extra_row_means_last_page():
    assert rows.split(ids(3), 3) == (ids(3), None)
    assert rows.split([], 3) == ([], None)


def test_cursor_can_be_another_key_as_text():
    page, cursor = rows.split([{"version": v} for v in (9, 8, 7)], 2, key="version")
    assert cursor == "8" and len(page) == 2


def test_a_failed_precondition_names_if_match_first_then_if_none_match(cur):
    from wire.etags import Named, Preconditions

    created = applications.create(cur, name="p", comments=None)
    for when, detail in ((Preconditions(match=[Named(9)], none_match=[Named(1)]), PreconditionFailed.IF_MATCH),
                         (Preconditions(match=[]), PreconditionFailed.NO_TAG),  # malformed, weak, another's
                         (Preconditions(match=[Named(1)], none_match=[Named(1)]), PreconditionFailed.IF_NONE_MATCH),
                         (Preconditions(none_match=None), PreconditionFailed.IF_NONE_MATCH)):
        with pytest.raises(PreconditionFailed) as failed:
            rows.missing_or_stale(cur, applications.SELECT_VERSION, created["id"], "gone", when)
        assert failed.value.detail == detail and failed.value.headers["ETag"] == f'"{created["id"]}.1"'


def test_a_field_no_column_stores_is_refused_not_dropped():
    assert rows.fields({"name": "a", "config": {"k": 1}}, ("name", "config"))["config"].adapted == {"k": 1}
    assert rows.fields({"name": "a"}, ("name", "comments")) == {"name": "a", "comments": None}
    with pytest.raises(TypeError, match="owner"):
        rows.fields({"name": "a", "config": {}, "owner": "x"}, ("name", "config"))


def test_column_lists_are_spelled_by_name():
    assert rows.names(("id", "name")) == "id, name" and rows.names(("id", "name"), of="c") == "c.id, c.name"
    assert rows.params(("id", "name")) == "%(id)s, %(name)s"
    assert rows.assign(("name",)) == "name = %(name)s" and rows.assign(("name",), of="s") == "name = s.name"
    assert rows.copy_into("t", {"a": "x.b", "c": "%(d)s"}) == "INSERT INTO t (a, c) SELECT x.b, %(d)s"


# Migration 0020: every version and every change of the feed records the epoch (timeline) it was written in;
# `timeline(n)` makes the test database write as a primary promoted to timeline n.

def test_a_version_is_written_in_the_epoch_of_its_write_and_keeps_it_until_written_again(cur, timeline):
    from repositories import configurations, environments

    app = applications.create(cur, name="e", comments=None)
    config = configurations.create(cur, application_id=app["id"], name="db", comments=None, config={})
    env = environments.create(cur, name="prod", parent_id=None, comments=None)
    cur.execute("SELECT config_service_epoch() AS now")
    assert cur.fetchone()["now"] == 1 == app["epoch"] == config["epoch"] == env["epoch"]  # this server's timeline
    timeline(2)
    assert configurations.get(cur, config["id"])["epoch"] == 1  # what was written before keeps its epoch
    updated = configurations.update(cur, config["id"], name="db", comments=None, config={"v": 2})
    assert (updated["version"], updated["epoch"]) == (2, 2)
    renamed = applications.update(cur, app["id"], name="e2", comments=None)
    assert (renamed["version"], renamed["epoch"]) == (3, 2)  # (a configuration's creation raised it to 2)
    cur.execute("SELECT seq, epoch FROM changes WHERE application_id = %s ORDER BY seq", (app["id"],))
    assert [tuple(row.values()) for row in cur.fetchall()] == [(1, 1), (2, 2)]
    made = configurations.create(cur, application_id=app["id"], name="cache", comments=None, config={})
    assert made["epoch"] == 2
    # A write that sets the epoch itself (a restore by hand) is left as it wrote; a change of other columns than
    # the version (the feed's counter) is no new version.
    cur.execute("UPDATE configurations SET version = version + 1, epoch = 7 WHERE id = %s RETURNING epoch",
                (config["id"],))
    assert cur.fetchone()["epoch"] == 7
    timeline(3)
    cur.execute("UPDATE applications SET last_change = last_change + 1 WHERE id = %s RETURNING epoch", (app["id"],))
    assert cur.fetchone()["epoch"] == 2


def test_a_write_matches_a_version_as_written_not_its_number_alone(cur, timeline):
    from wire.etags import Named, Preconditions

    app = applications.create(cur, name="m", comments=None)
    timeline(2)
    lost = Preconditions(match=[Named(1, 2)])  # version 1 as a lost write in epoch 2 would have named it
    with pytest.raises(PreconditionFailed) as failed:
        applications.update(cur, app["id"], name="m2", comments=None, when=lost)
    assert "written in epoch 2" in failed.value.detail and failed.value.headers["ETag"] == f'"{app["id"]}.1"'
    written = applications.update(cur, app["id"], name="m2", comments=None, when=Preconditions(match=[Named(1, 1)]))
    assert (written["version"], written["epoch"]) == (2, 2)
    with pytest.raises(PreconditionFailed):  # If-None-Match of the version as written refuses it; of another, not
        applications.update(cur, app["id"], name="m3", comments=None, when=Preconditions(none_match=[Named(2, 2)]))
    assert applications.update(cur, app["id"], name="m3", comments=None,
                               when=Preconditions(none_match=[Named(2, 1)]))["version"] == 3
