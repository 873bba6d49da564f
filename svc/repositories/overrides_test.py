import pytest

from repositories import applications, changes, configurations, environments, overrides
from wire import jsontext
from wire.etags import Named, Preconditions
from wire.problems import NotFound, PreconditionFailed

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture
def setup(cur):
    app = applications.create(cur, name="billing", comments=None)
    config = configurations.create(cur, application_id=app["id"], name="db", comments=None, config={"host": "a"})
    env = environments.create(cur, name="prod", parent_id=None, comments=None)
    return app, config, env


def test_put_creates_then_replaces_with_versions_revisions_and_feed_entries(cur, setup):
    app, config, env = setup
    created = overrides.put(cur, config["id"], env["id"], patch={"host": "b", "n": 1.10}, comments="eu", actor="ci")
    assert created["created"] and created["version"] == 1
    assert jsontext.loads(created["patch"]) == {"host": "b", "n": jsontext.loads("1.10")}
    replaced = overrides.put(cur, config["id"], env["id"], patch={"host": None}, comments=None,
                             when=Preconditions([Named(1)]))
    assert not replaced["created"] and replaced["version"] == 2
    assert overrides.get(cur, config["id"], env["id"])["version"] == 2
    revisions, _ = overrides.revision_page(cur, config["id"], env["id"], limit=10)
    assert [r["version"] for r in revisions] == [2, 1] and revisions[1]["created_by"] == "ci"
    feed = changes.after(cur, app["id"], 0, limit=10)
    assert [(c["kind"], c["environment"], c["version"]) for c in feed] == \
        [("created", None, 1), ("created", "prod", 1), ("updated", "prod", 2)]


def test_a_stale_if_match_or_if_none_match_star_writes_nothing(cur, setup):
    _, config, env = setup
    with pytest.raises(PreconditionFailed) as error:  # no override yet: If-Match names a version of none
        overrides.put(cur, config["id"], env["id"], patch={}, comments=None, when=Preconditions([Named(1)]))
    assert "ETag" not in error.value.headers
    overrides.put(cur, config["id"], env["id"], patch={"x": 1}, comments=None, when=Preconditions(None, None))
    with pytest.raises(PreconditionFailed):  # If-None-Match: * and one exists
        overrides.put(cur, config["id"], env["id"], patch={}, comments=None, when=Preconditions(None, None))
    with pytest.raises(PreconditionFailed) as error:
        overrides.put(cur, config["id"], env["id"], patch={}, comments=None, when=Preconditions([Named(5)]))
    assert error.value.headers["ETag"] == f'"{config["id"]}.{env["id"]}.1"'
    assert overrides.get(cur, config["id"], env["id"])["version"] == 1


def test_missing_configuration_environment_or_override_is_404_naming_which(cur, setup):
    _, config, env = setup
    with pytest.raises(NotFound, match="configuration"):
        overrides.put(cur, MISSING, env["id"], patch={}, comments=None)
    with pytest.raises(NotFound, match="environment"):
        overrides.put(cur, config["id"], MISSING, patch={}, comments=None)
    with pytest.raises(NotFound, match="no override"):
        overrides.get(cur, config["id"], env["id"])
    with pytest.raises(NotFound, match="no override"):
        overrides.delete(cur, config["id"], env["id"])


def test_delete_then_set_again_continues_the_numbering_and_restore_brings_back_a_revision(cur, setup):
    app, config, env = setup
    overrides.put(cur, config["id"], env["id"], patch={"v": 1}, comments=None)
    overrides.put(cur, config["id"], env["id"], patch={"v": 2}, comments=None)
    overrides.delete(cur, config["id"], env["id"], when=Preconditions([Named(2)]))
    again = overrides.put(cur, config["id"], env["id"], patch={"v": 3}, comments=None)
    assert again["version"] == 3 and again["created"]
    restored = overrides.restore(cur, config["id"], env["id"], 1)
    assert restored["version"] == 4 and jsontext.loads(restored["patch"]) == {"v": 1}
    with pytest.raises(NotFound, match="no revision"):
        overrides.restore(cur, config["id"], env["id"], 99)
    kinds = [(c["kind"], c["version"]) for c in changes.after(cur, app["id"], 1, limit=10)]
    assert kinds == [("created", 1), ("updated", 2), ("deleted", 2), ("created", 3), ("restored", 4)]


def test_page_lists_a_configurations_overrides_in_environment_order(cur, setup):
    _, config, env = setup
    other = environments.create(cur, name="dev", parent_id=None, comments=None)
    for each in (env, other):
        overrides.put(cur, config["id"], each["id"], patch={}, comments=None)
    rows, cursor = overrides.page(cur, config["id"], limit=1)
    assert len(rows) == 1 and cursor == rows[0]["environment_id"]
    rest, end = overrides.page(cur, config["id"], limit=5, cursor=cursor)
    assert len(rest) == 1 and end is None


def test_deleting_the_configuration_deletes_its_overrides_each_recorded_in_the_feed(cur, setup):
    app, config, env = setup
    other = environments.create(cur, name="dev", parent_id=None, comments=None)
    overrides.put(cur, config["id"], env["id"], patch={"a": 1}, comments=None)
    overrides.put(cur, config["id"], other["id"], patch={"a": 2}, comments=None)
    configurations.delete(cur, config["id"], actor="ci")
    feed = changes.after(cur, app["id"], 3, limit=10)
    first, second = sorted([env["id"], other["id"]])
    assert [(c["seq"], c["kind"], c["environment_id"]) for c in feed] == \
        [(4, "deleted", first), (5, "deleted", second), (6, "deleted", None)]
    cur.execute("SELECT count(*) AS n FROM overrides")
    assert cur.fetchone()["n"] == 0
    environments.delete(cur, env["id"])  # nothing holds it any more


def test_a_replace_records_what_a_create_does_under_the_names_of_now(cur, setup):
    app, config, env = setup
    overrides.put(cur, config["id"], env["id"], patch={"v": 1}, comments=None)
    environments.update(cur, env["id"], name="production", parent_id=None, comments=None)
    configurations.update(cur, config["id"], name="database", comments=None, config={"host": "a"})
    replaced = overrides.put(cur, config["id"], env["id"], patch=jsontext.loads('{"v": 2.50}'), comments="by hand",
                             actor="ci", when=Preconditions([Named(7), Named(1)]))
    assert not replaced["created"] and replaced["version"] == 2 and replaced["comments"] == "by hand"
    assert jsontext.dumps(jsontext.loads(replaced["patch"])) == '{"v":2.50}'
    revision = overrides.revision(cur, config["id"], env["id"], 2)
    assert (revision["created_by"], revision["comments"]) == ("ci", "by hand")
    last = changes.after(cur, app["id"], 0, limit=10)[-1]
    assert (last["kind"], last["name"], last["environment"], last["environment_id"], last["version"], last["by"]) == \
        ("updated", "database", "production", env["id"], 2, "ci")


def test_a_create_or_restore_queued_behind_a_create_and_a_delete_numbers_its_revision_after_them(cur, setup,
                                                                                                 database_url):
    """A create (or a restore) of an override that waited for its application's lock while another transaction
    created and deleted the override read the revisions as they were before: it numbered its revision as the other
    had, and failed on the revisions' key (500s in a trial). Each is now a transaction that locks first, then reads."""
    import threading
    import time

    import psycopg2
    import psycopg2.extras

    from tools.harness import HANG

    _, config, env = setup
    overrides.put(cur, config["id"], env["id"], patch={"v": 1}, comments=None)  # revision 1
    overrides.delete(cur, config["id"], env["id"])
    other = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        for queued in ("put", "restore"):
            with other.cursor() as holder:  # a transaction that holds the lock while it creates and deletes
                holder.execute(configurations.LOCK_OWNER, {"id": config["id"]})
                done, failed = [], []

                def write():
                    conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
                    try:
                        with conn.cursor() as mine:
                            if queued == "put":
                                done.append(overrides._create(mine, config["id"], env["id"], {"v": 9}, None,
                                                              Preconditions(), None))
                            else:
                                done.append(overrides.restore(mine, config["id"], env["id"], 1))
                        conn.commit()
                    except Exception as error:  # the test asserts there is none
                        failed.append(error)
                    finally:
                        conn.close()
                waiting = threading.Thread(target=write)
                waiting.start()
                deadline = time.monotonic() + HANG
                while True:  # until the write waits for the lock (its statement then began before what follows)
                    cur.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                                "AND cardinality(pg_blocking_pids(pid)) > 0")
                    if cur.fetchone()["n"]:
                        break
                    assert time.monotonic() < deadline, "the write never waited for the lock"
                    time.sleep(0.01)
                overrides.put(holder, config["id"], env["id"], patch={"v": 2}, comments=None)
                overrides.delete(holder, config["id"], env["id"])
                other.commit()
                waiting.join(timeout=60)
            assert not failed and done, (queued, failed)
            versions = [r["version"] for r in overrides.revision_page(cur, config["id"], env["id"], limit=50)[0]]
            assert done[0]["version"] == versions[0] == versions[1] + 1, (queued, versions)  # after the holder's
            overrides.delete(cur, config["id"], env["id"])
    finally:
        other.close()


def test_an_unconditional_delete_that_found_nothing_is_404_even_if_one_was_created_since(cur, setup, monkeypatch):
    """It ran when there was no override (another delete's, just before), and one was created between its
    statement and its check: 404, not 412 naming an If-None-Match it never sent (a trial)."""
    _, config, env = setup
    real = cur.execute

    def created_between(query, params=None):
        real(query, params)
        if query is overrides.DELETE:  # the override is created again right after the delete found none
            real(overrides.PUT, overrides._put_params(config["id"], env["id"], {"v": 1}, None, Preconditions(), None))
            cur.fetchall()
            real("SELECT NULL WHERE false")  # (what the delete fetches: no row)
    monkeypatch.setattr(cur, "execute", created_between)
    with pytest.raises(NotFound, match="has no override"):
        overrides.delete(cur, config["id"], env["id"])
