import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.extras
import pytest

from jsondoc.patch import apply
from repositories import applications, configurations, environments, history, overrides
from wire import jsontext
from wire.problems import NotFound, Unprocessable

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def doc(value):
    return jsontext.loads(value) if isinstance(value, str) else value


def state(cur, app_id: str, seq: int) -> dict[str, tuple]:
    """The application's configurations at `seq`, as {id: (name, version, config)}."""
    rows = history.application_at(cur, app_id, seq=seq)["configurations"]
    return {row["configuration_id"]: (row["name"], row["version"], doc(row["config"])) for row in rows}


def current(cur, app_id: str) -> dict[str, tuple]:
    rows, _ = configurations.page(cur, app_id, limit=500)
    return {row["id"]: (row["name"], row["version"], doc(row["config"])) for row in rows}


def last_change(cur, app_id: str) -> int:
    cur.execute("SELECT last_change FROM applications WHERE id = %s", (app_id,))
    return cur.fetchone()["last_change"]


def owned_by(app_id: str):
    """An `allowed` that asserts it is asked of application `app_id`."""
    def allowed(application_id: str) -> None:
        assert application_id == app_id
    return allowed


@pytest.fixture
def app_id(cur):
    return applications.create(cur, name="billing", comments=None)["id"]


def test_every_position_reads_back_the_state_recorded_after_its_write_deletions_included(cur, app_id):
    rng = random.Random(26)
    recorded = {0: {}}
    ids: list[str] = []
    for step in range(120):
        live = list(current(cur, app_id))
        choice = rng.random()
        if not live or choice < 0.3:
            ids.append(configurations.create(cur, application_id=app_id, name=f"c{rng.randrange(8)}-{step}",
                                             comments=None, config={"n": step})["id"])
        elif choice < 0.8:
            configurations.update(cur, rng.choice(live), name=f"u{step}", comments=None,
                                  config={"n": step, "x": [step, 1.50]})
        else:
            configurations.delete(cur, rng.choice(live))
        recorded[last_change(cur, app_id)] = current(cur, app_id)
    assert len(recorded) == 121  # one position per write, no gaps
    for seq, expected in recorded.items():
        assert state(cur, app_id, seq) == expected, seq
    for seq in (0, 37, 120):
        for id in ids:
            if id in recorded[seq]:
                read = history.owned_configuration_at(cur, id, owned_by(app_id), seq=seq)
                assert read["application_id"] == app_id and read["seq"] == seq
                read = read["configuration"]
                assert (read["name"], read["version"], doc(read["config"])) == recorded[seq][id]
            else:
                with pytest.raises(NotFound, match="did not exist"):
                    history.owned_configuration_at(cur, id, owned_by(app_id), seq=seq)


def test_a_deleted_configuration_keeps_its_history_and_its_name_can_be_taken_by_a_new_one(cur, app_id):
    old = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"host": "a"})
    configurations.update(cur, old["id"], name="db", comments=None, config={"host": "b"})
    configurations.delete(cur, old["id"])
    new = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"host": "c"})
    assert new["id"] != old["id"]
    assert history.owner(cur, old["id"]) == app_id
    assert history.configuration_diff(cur, app_id, old["id"], 1, 2)["patch"] == [
        {"op": "replace", "path": "/host", "value": "b"}]
    with pytest.raises(NotFound, match="deleted"):
        history.configuration_diff(cur, app_id, old["id"], 1, None)
    assert state(cur, app_id, 2) == {old["id"]: ("db", 2, {"host": "b"})}
    assert state(cur, app_id, 3) == {}
    assert state(cur, app_id, 4) == {new["id"]: ("db", 1, {"host": "c"})}
    with pytest.raises(NotFound, match="No configuration"):
        history.owner(cur, MISSING)


def test_a_diff_is_minimal_exact_and_scoped_to_the_application(cur, app_id):
    config = {f"k{i}": {"v": i, "list": list(range(i))} for i in range(30)}
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config=config)
    changed = {**config, "k7": {"v": 7, "list": list(range(7))}, "k12": {"v": jsontext.loads("12.0"),
                                                                           "list": list(range(12))}}
    configurations.update(cur, made["id"], name="db", comments=None, config=changed)
    result = history.configuration_diff(cur, app_id, made["id"], 1, None)
    assert result["patch"] == [{"op": "replace", "path": "/k12/v", "value": jsontext.loads("12.0")}]
    assert apply(doc(configurations.revision(cur, made["id"], 1)["config"]), result["patch"]) == changed
    assert (result["from_version"], result["to_version"]) == (1, 2)
    assert history.configuration_diff(cur, app_id, made["id"], 2, 1)["patch"] == [
        {"op": "replace", "path": "/k12/v", "value": 12}]
    with pytest.raises(NotFound, match="no revision 9"):
        history.configuration_diff(cur, app_id, made["id"], 9, None)
    other = applications.create(cur, name="other", comments=None)["id"]
    with pytest.raises(NotFound):
        history.configuration_diff(cur, other, made["id"], 1, 2)


def test_override_diffs_and_effective_views_at_a_position(cur, app_id):
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"host": "a", "port": 1})
    root = environments.create(cur, name="prod", parent_id=None, comments=None)
    leaf = environments.create(cur, name="prod-eu", parent_id=root["id"], comments=None)
    overrides.put(cur, made["id"], root["id"], patch={"host": "r"}, comments=None)           # 2
    overrides.put(cur, made["id"], leaf["id"], patch={"port": 2}, comments=None)             # 3
    overrides.put(cur, made["id"], leaf["id"], patch={"port": 3, "tls": True}, comments=None)  # 4
    overrides.delete(cur, made["id"], root["id"])                                           # 5
    assert history.override_diff(cur, app_id, made["id"], leaf["id"], 1, None)["patch"] == [
        {"op": "replace", "path": "/port", "value": 3}, {"op": "add", "path": "/tls", "value": True}]
    assert history.override_owner(cur, made["id"], root["id"]) == app_id
    with pytest.raises(NotFound, match="deleted"):
        history.override_diff(cur, app_id, made["id"], root["id"], 1, None)
    views = {seq: history.effective_at(cur, app_id, made["id"], leaf["id"], seq=seq)["view"]["config"]
             for seq in range(1, 6)}
    assert views == {1: {"host": "a", "port": 1}, 2: {"host": "r", "port": 1}, 3: {"host": "r", "port": 2},
                     4: {"host": "r", "port": 3, "tls": True}, 5: {"host": "a", "port": 3, "tls": True}}
    with pytest.raises(NotFound, match="did not exist"):
        history.effective_at(cur, app_id, made["id"], leaf["id"], seq=0)
    with pytest.raises(NotFound, match="environment"):
        history.effective_at(cur, app_id, made["id"], MISSING, seq=1)


def test_a_time_reads_the_last_position_recorded_by_then(cur, app_id):
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})
    configurations.update(cur, made["id"], name="db", comments=None, config={"v": 2})
    cur.execute("SELECT seq, recorded_at FROM changes WHERE application_id = %s ORDER BY seq", (app_id,))
    first, second = cur.fetchall()
    assert first["recorded_at"] < second["recorded_at"]
    at_first = history.application_at(cur, app_id, at=first["recorded_at"])
    assert at_first["seq"] == 1 and at_first["recorded_at"] == first["recorded_at"]
    between = first["recorded_at"] + (second["recorded_at"] - first["recorded_at"]) / 2
    assert history.application_at(cur, app_id, at=between)["seq"] == 1
    assert history.application_at(cur, app_id, at=second["recorded_at"])["seq"] == 2
    cur.execute("SELECT created_at FROM applications WHERE id = %s", (app_id,))
    created = cur.fetchone()["created_at"]
    before_first = history.application_at(cur, app_id, at=created)
    assert (before_first["seq"], before_first["recorded_at"], before_first["configurations"]) == (0, None, [])


def test_points_outside_the_history_are_clear_problems(cur, app_id):
    configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})
    with pytest.raises(Unprocessable) as error:
        history.application_at(cur, app_id, at=datetime.now(UTC) + timedelta(minutes=5))
    assert error.value.errors == [{"pointer": "#/query/at", "message": "This time is in the future."}]
    with pytest.raises(Unprocessable) as error:
        history.application_at(cur, app_id, at=datetime(2000, 1, 1, tzinfo=UTC))
    assert error.value.errors[0]["message"] == "The application did not exist at this time."
    assert history.application_at(cur, app_id)["seq"] == 1  # no point: now
    with pytest.raises(Unprocessable, match="not both"):
        history.application_at(cur, app_id, seq=1, at=datetime.now(UTC))
    with pytest.raises(Unprocessable, match="send it with `seq`"):
        history.application_at(cur, app_id, epoch=1)
    with pytest.raises(NotFound, match="ends at position 1"):
        history.application_at(cur, app_id, seq=2)
    with pytest.raises(NotFound, match="No application"):
        history.application_at(cur, MISSING, seq=0)


def test_prune_drops_only_what_no_state_from_the_cut_on_shows(cur, app_id):
    kept = configurations.create(cur, application_id=app_id, name="kept", comments=None, config={"v": 1})   # 1
    configurations.update(cur, kept["id"], name="kept", comments=None, config={"v": 2})                   # 2
    gone = configurations.create(cur, application_id=app_id, name="gone", comments=None, config={"v": 1})   # 3
    env = environments.create(cur, name="prod", parent_id=None, comments=None)
    overrides.put(cur, gone["id"], env["id"], patch={"a": 1}, comments=None)                              # 4
    overrides.put(cur, kept["id"], env["id"], patch={"a": 1}, comments=None)                              # 5
    overrides.put(cur, kept["id"], env["id"], patch={"a": 2}, comments=None)                              # 6
    overrides.delete(cur, kept["id"], env["id"])                                                          # 7
    configurations.delete(cur, gone["id"])                                                                # 8, 9
    configurations.update(cur, kept["id"], name="kept", comments=None, config={"v": 3})                   # 10
    cur.execute("SELECT max(recorded_at) AS at FROM changes WHERE application_id = %s AND seq <= 9", (app_id,))
    cut = cur.fetchone()["at"]  # when the deletion's changes (8, 9) were all recorded
    before = {seq: state(cur, app_id, seq) for seq in range(9, 11)}

    counts = history.prune(cur, cut)

    assert counts["applications"] == 1
    cur.execute("SELECT configuration_id, version FROM configuration_revisions ORDER BY configuration_id, version")
    assert [(row["configuration_id"], row["version"]) for row in cur.fetchall()] == [(kept["id"], 2), (kept["id"], 3)]
    cur.execute("SELECT configuration_id, version FROM override_revisions ORDER BY configuration_id, version")
    # the last revision of each override stays: one set again continues its numbering
    assert sorted((row["configuration_id"], row["version"]) for row in cur.fetchall()) == sorted(
        [(gone["id"], 1), (kept["id"], 2)])
    assert {seq: state(cur, app_id, seq) for seq in range(9, 11)} == before
    with pytest.raises(NotFound, match="before feed position 9 was pruned"):
        history.application_at(cur, app_id, seq=8)
    # A diff from a pruned revision says so, as reading that revision does (not "has no revision 1").
    with pytest.raises(NotFound, match="Revision 1 of this configuration was pruned"):
        history.configuration_diff(cur, app_id, kept["id"], 1, None)
    with pytest.raises(NotFound, match="has no revision 9"):
        history.configuration_diff(cur, app_id, kept["id"], 2, 9)
    with pytest.raises(NotFound, match="was pruned"):
        configurations.revision(cur, kept["id"], 1)
    with pytest.raises(NotFound, match="Revision 1 of this override was pruned"):  # overrides alike
        history.override_diff(cur, app_id, kept["id"], env["id"], 1, 2)
    with pytest.raises(NotFound, match="This revision was pruned"):
        overrides.revision(cur, kept["id"], env["id"], 1)
    with pytest.raises(NotFound, match="has no revision with this version"):
        overrides.revision(cur, kept["id"], env["id"], 7)
    assert overrides.put(cur, kept["id"], env["id"], patch={"a": 3}, comments=None)["version"] == 3
    assert history.prune(cur, cut)["applications"] == 0  # the cut only moves forward


def test_a_position_inside_one_transactions_changes_reads_the_state_before_them(cur, app_id):
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})      # 1
    root = environments.create(cur, name="prod", parent_id=None, comments=None)
    leaf = environments.create(cur, name="qa", parent_id=None, comments=None)
    overrides.put(cur, made["id"], root["id"], patch={"v": 2}, comments=None)                            # 2
    overrides.put(cur, made["id"], leaf["id"], patch={"v": 3}, comments=None)                            # 3
    configurations.delete(cur, made["id"])  # one statement: the two overrides (4, 5), then the configuration (6)
    for seq in (4, 5):
        answer = history.application_at(cur, app_id, seq=seq)
        assert answer["seq"] == 3 and len(answer["configurations"]) == 1
    assert history.application_at(cur, app_id, seq=6)["configurations"] == []
    cur.execute("SELECT seq, recorded_at FROM changes WHERE application_id = %s AND seq >= 3 ORDER BY seq", (app_id,))
    recorded = {row["seq"]: row["recorded_at"] for row in cur.fetchall()}
    assert recorded[3] < recorded[4] == recorded[5] == recorded[6]  # one statement: one time, its changes'
    assert history.application_at(cur, app_id, at=recorded[6] - timedelta(microseconds=1))["seq"] == 3
    assert history.application_at(cur, app_id, at=recorded[6])["seq"] == 6
    # A transaction of two statements records its changes at two times: between them, the state before both.
    again = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})   # 7
    cur.execute("BEGIN")
    overrides.put(cur, again["id"], root["id"], patch={"v": 2}, comments=None)                           # 8
    overrides.put(cur, again["id"], leaf["id"], patch={"v": 3}, comments=None)                           # 9
    cur.execute("COMMIT")
    cur.execute("SELECT seq, recorded_at FROM changes WHERE application_id = %s AND seq >= 8 ORDER BY seq", (app_id,))
    first, last = (row["recorded_at"] for row in cur.fetchall())
    assert first < last
    assert history.application_at(cur, app_id, at=first)["seq"] == 7  # recorded in part, not committed then
    assert history.application_at(cur, app_id, at=last - timedelta(microseconds=1))["seq"] == 7
    assert history.application_at(cur, app_id, at=last)["seq"] == 9


def test_a_time_finds_the_position_the_definition_gives_at_every_moment_of_the_history(cur, app_id):
    # A history of one-change transactions and of a transaction of three (a deletion with its two overrides),
    # asked at every recorded moment and a microsecond either side of it: the index search (history_position)
    # answers what the definition, which reads every change (history_position_every), does.
    made = [configurations.create(cur, application_id=app_id, name=f"c{n}", comments=None, config={"n": n})
            for n in range(3)]
    root = environments.create(cur, name="prod", parent_id=None, comments=None)
    leaf = environments.create(cur, name="qa", parent_id=None, comments=None)
    for environment in (root, leaf):
        overrides.put(cur, made[1]["id"], environment["id"], patch={"e": 1}, comments=None)
    configurations.delete(cur, made[1]["id"])
    configurations.update(cur, made[0]["id"], name="c0", comments=None, config={"n": 10})
    cur.execute("BEGIN")  # a transaction of two statements, each at its own time
    configurations.update(cur, made[0]["id"], name="c0", comments=None, config={"n": 11})
    configurations.update(cur, made[2]["id"], name="c2", comments=None, config={"n": 12})
    cur.execute("COMMIT")
    cur.execute("SELECT recorded_at FROM changes WHERE application_id = %s", (app_id,))
    moments = sorted({row["recorded_at"] + timedelta(microseconds=d) for row in cur.fetchall() for d in (-1, 0, 1)})
    answers = []
    for at in moments:
        answers.append(history.application_at(cur, app_id, at=at)["seq"])
        cur.execute("SELECT history_position_every(%(id)s, %(at)s) AS seq", {"id": app_id, "at": at})
        assert answers[-1] == cur.fetchone()["seq"], at
    # Never inside the deletion's three (6-8), nor between the two statements' changes (10, 11).
    assert not {6, 7, 10} & set(answers) and 9 in answers and answers[-1] == 11


def test_changes_recorded_before_transaction_ids_are_read_by_the_definition(cur, app_id):
    # Changes recorded before migration 0010 have no `txid`: a time among them is answered by reading every change
    # (history_position_every), and a position among them is its own (no transaction to read past).
    for n in range(4):
        configurations.create(cur, application_id=app_id, name=f"c{n}", comments=None, config={"n": n})
    cur.execute("UPDATE changes SET txid = NULL WHERE application_id = %s RETURNING recorded_at", (app_id,))
    moments = sorted(row["recorded_at"] for row in cur.fetchall())
    assert [history.application_at(cur, app_id, at=at)["seq"] for at in moments] == [1, 2, 3, 4]
    assert history.application_at(cur, app_id, at=moments[0] - timedelta(microseconds=1))["seq"] == 0
    point = history.application_at(cur, app_id, seq=3)
    assert (point["seq"], point["recorded_at"], len(point["configurations"])) == (3, moments[2], 3)


def test_a_configuration_read_asks_whether_its_application_may_be_seen_before_anything_else(cur, app_id):
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})

    def hidden(application_id: str) -> None:
        assert application_id == app_id
        raise NotFound(history.NO_CONFIGURATION)

    for point in ({"seq": 99}, {"at": datetime.now(UTC) + timedelta(minutes=5)}, {"seq": 0}, {"seq": 1}, {}):
        with pytest.raises(NotFound, match="No configuration has this id"):
            history.owned_configuration_at(cur, made["id"], hidden, **point)
    with pytest.raises(NotFound, match="No configuration has this id"):
        history.owned_configuration_at(cur, MISSING, owned_by(app_id), seq=1)
    with pytest.raises(NotFound, match="did not exist"):
        history.owned_configuration_at(cur, made["id"], owned_by(app_id), seq=0)
    with pytest.raises(NotFound, match="ends at position 1"):
        history.owned_configuration_at(cur, made["id"], owned_by(app_id), seq=2)
    assert history.owned_configuration_at(cur, made["id"], owned_by(app_id))["seq"] == 1  # no point: now
    with pytest.raises(NotFound, match="No configuration has this id"):
        history.owned_configuration_at(cur, MISSING, owned_by(app_id))
    with pytest.raises(Unprocessable, match="not both"):
        history.owned_configuration_at(cur, made["id"], owned_by(app_id), seq=1, at=datetime.now(UTC))

    class Counted:
        """`cur`, counting its statements."""

        def __init__(self, cur):
            self.cur, self.statements = cur, 0

        def execute(self, *args, **kwargs):
            self.statements += 1
            return self.cur.execute(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.cur, name)

    # Hidden and missing alike after as many statements, so that their time does not tell them apart either: with no
    # point, the owner's look-up only (where the hidden one once went on to read where the feed ends and the state).
    for point, statements in (({}, 1), ({"seq": 1}, 1), ({"at": datetime.now(UTC)}, 1)):
        counted = [Counted(cur), Counted(cur)]
        for counting, id, allowed in ((counted[0], made["id"], hidden), (counted[1], MISSING, owned_by(app_id))):
            with pytest.raises(NotFound, match="No configuration has this id"):
                history.owned_configuration_at(counting, id, allowed, **point)
        assert [c.statements for c in counted] == [statements, statements], point


def test_a_time_waits_only_for_a_write_in_flight_that_could_have_recorded_a_change_by_then(cur, app_id,
                                                                                           database_url):
    # Two committed changes, then a write holding the application's row with a third recorded but not committed. A
    # time before the second change's does not wait (the write in flight recorded after it); a time after the third
    # change's waits for that write, and reads it once it has committed.
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})
    configurations.update(cur, made["id"], name="db", comments=None, config={"v": 2})
    cur.execute("SELECT seq, recorded_at FROM changes WHERE application_id = %s ORDER BY seq", (app_id,))
    first, _ = [row["recorded_at"] for row in cur.fetchall()]
    writer = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    reader = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    reader.autocommit = True
    with ThreadPoolExecutor(2) as pool:
        try:
            with writer.cursor() as held:
                configurations.update(held, made["id"], name="db", comments=None, config={"v": 3})
            # while the write holds the row (a read that waited would end at the deadline)
            assert pool.submit(history.application_at, cur, app_id, at=first).result(timeout=30)["seq"] == 1
            later = pool.submit(history.application_at, reader.cursor(), app_id, at=datetime.now(UTC))
            deadline = time.monotonic() + 30
            while not later.done() and time.monotonic() < deadline:
                cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                            (reader.get_backend_pid(),))
                if cur.fetchone()["wait_event_type"] == "Lock":
                    break
                time.sleep(0.01)
            assert not later.done()  # it waits for the write's row lock
            writer.commit()
            assert later.result(timeout=30)["seq"] == 3
        finally:
            writer.close()  # ends the write, if the test did not: nothing is left waiting for it
            reader.close()


def test_a_configurations_past_is_found_from_its_own_changes_whatever_plan_is_kept(cur, app_id):
    """PostgreSQL keeps a generic plan of each statement of a function once it costs no more than the custom ones,
    and a generic plan estimates an application's feed from the average application. Whatever plan is kept, a
    configuration's state at a position is found from the configuration's own changes: beside 1,500 changes of
    another configuration of its application, the statement reads no index of the application's feed."""
    read = configurations.create(cur, application_id=app_id, name="read", comments=None, config={"n": 0})["id"]
    busy = configurations.create(cur, application_id=app_id, name="busy", comments=None, config={"n": 0})["id"]
    for n in range(1500):
        configurations.update(cur, busy, name="busy", comments=None, config={"n": n + 1})
    for n in range(40):  # applications with a feed of one change, as most are
        other = applications.create(cur, name=f"other-{n}", comments=None)["id"]
        configurations.create(cur, application_id=other, name="c", comments=None, config={})
    cur.execute("ANALYZE changes")
    cur.execute("LOAD 'auto_explain'")
    cur.execute("SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; "
                "SET auto_explain.log_level = notice; SET client_min_messages = notice; "
                "SET plan_cache_mode = force_generic_plan")
    notices = cur.connection.notices
    for _ in range(3):
        del notices[:]
        assert history.owned_configuration_at(cur, read, owned_by(app_id), seq=1000)["configuration"]["version"] == 1
    plans = [n for n in notices if "SELECT c.kind, c.version" in n]
    assert len(plans) == 1 and "changes_configuration_id_idx" in plans[0], notices
    assert all(index not in plans[0] for index in ("changes_txid_idx", "changes_pkey", "changes_recorded_at_idx"))
