"""History over real HTTP against uvicorn with 2 workers: diffs, and reads of the past by feed position and by time
checked against a history the test records while writers run concurrently; deletions kept; pruning."""

import asyncio
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from jsondoc.patch import apply
from tools import harness
from tools.harness import APPS, CONFIGS, assert_problem

pytestmark = pytest.mark.integration

WRITES_PER_WRITER = 120
SAMPLES = 40


@pytest.fixture
def base(serve, clean):
    return serve(workers=2, **harness.PATIENT)  # every status is counted: no 503 from a busy machine's stall


async def _writer(client: httpx.AsyncClient, app_id: str, number: int, done: list[dict]) -> None:
    """Creates, updates and deletes configurations of its own (unconditionally: no one else writes them),
    recording each acknowledged write: when it began and ended, and what it answered."""
    rng = random.Random(number)
    ids: dict[str, str | None] = {f"w{number}-a": None, f"w{number}-b": None}
    for step in range(WRITES_PER_WRITER):
        name = rng.choice(sorted(ids))
        began = datetime.now(UTC)
        if ids[name] is None:
            response = await client.post(CONFIGS, json={"application_id": app_id, "name": name,
                                                        "config": {"step": step, "w": number}})
            assert response.status_code == 201, response.text
            ids[name] = response.json()["id"]
            record = {"id": ids[name], "version": 1, "config": response.json()["config"], "kind": "created"}
        elif rng.random() < 0.15:
            response = await client.delete(f"{CONFIGS}/{ids[name]}")
            assert response.status_code == 204, response.text
            record = {"id": ids[name], "kind": "deleted"}
            ids[name] = None
        else:
            response = await client.put(f"{CONFIGS}/{ids[name]}", json={
                "name": name, "config": {"step": step, "w": number, "list": [step, rng.randrange(3)]}})
            assert response.status_code == 200, response.text
            record = {"id": ids[name], "version": response.json()["version"], "config": response.json()["config"],
                      "kind": "updated"}
        done.append({**record, "began": began, "ended": datetime.now(UTC)})


async def _sampler(client: httpx.AsyncClient, app_id: str, samples: list[dict]) -> None:
    """Reads the application at the present moment, SAMPLES times, beside the writers (a sample taken after they
    ended checks the same things)."""
    for _ in range(SAMPLES):
        at = datetime.now(UTC)
        response = await client.get(f"{APPS}/{app_id}/snapshot", params={"at": at.isoformat()})
        assert response.status_code == 200, response.text
        samples.append({"at": at, "answer": response.json()})
        await asyncio.sleep(0.01)


async def _record(base: str) -> tuple[str, list[dict], list[dict]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        app_id = (await client.post(APPS, json={"name": "billing"})).json()["id"]
        done: list[dict] = []
        samples: list[dict] = []
        await asyncio.gather(_sampler(client, app_id, samples), *(_writer(client, app_id, n, done) for n in range(2)))
        return app_id, done, samples


def _states_by_position(feed: list[dict], contents: dict[tuple[str, int], dict]) -> list[dict]:
    """The application's configurations after each position of its feed (index 0: before the first change),
    {id: (version, config)}, from the feed's order and the contents the writers were answered."""
    states, state = [{}], {}
    for change in feed:
        if change["kind"] == "deleted":
            state = {id: value for id, value in state.items() if id != change["configuration_id"]}
        else:
            key = (change["configuration_id"], change["version"])
            state = {**state, change["configuration_id"]: (change["version"], contents[key])}
        states.append(state)
    return states


def _key(id: str, kind: str, version: int | None) -> tuple[str, int | str]:
    """A write as the feed names it: its configuration and the version it made, or its deletion."""
    return (id, "deleted" if kind == "deleted" else version)


def _answered(snapshot: dict) -> dict:
    return {c["configuration_id"]: (c["version"], c["config"]) for c in snapshot["configurations"]}


def test_reads_of_the_past_match_a_history_recorded_while_two_workers_write(base):
    app_id, done, samples = asyncio.run(_record(base))
    with httpx.Client(base_url=base, timeout=60) as client:
        feed = client.get(f"{APPS}/{app_id}/changes", params={"limit": 500}).json()["items"]
        assert [change["seq"] for change in feed] == list(range(1, 2 * WRITES_PER_WRITER + 1))
        contents = {(write["id"], write["version"]): write["config"] for write in done if write["kind"] != "deleted"}
        expected = _states_by_position(feed, contents)
        # every position, by `seq`: exactly the writes numbered up to it
        for seq, state in enumerate(expected):
            answer = client.get(f"{APPS}/{app_id}/snapshot", params={"seq": seq}).json()
            assert answer["seq"] == seq and _answered(answer) == state, seq
        # each write's position: a write acknowledged before a time is in the read at that time; one begun after
        # it is not; and the same time read again later (no write in flight any more) answers the same position
        position = {}
        for change in feed:
            position[_key(change["configuration_id"], change["kind"], change["version"])] = change["seq"]
        for sample in samples:
            seq = sample["answer"]["seq"]
            assert _answered(sample["answer"]) == expected[seq]
            for write in done:
                at = position[_key(write["id"], write["kind"], write.get("version"))]
                if write["ended"] < sample["at"]:
                    assert at <= seq, (write, sample["at"])
                if write["began"] > sample["at"]:
                    assert at > seq, (write, sample["at"])
            again = client.get(f"{APPS}/{app_id}/snapshot", params={"at": sample["at"].isoformat()}).json()
            assert again["seq"] == seq
        # one configuration at a time answers the same as the whole application
        some = feed[len(feed) // 2]
        one = client.get(f"{CONFIGS}/{some['configuration_id']}/snapshot", params={"seq": some["seq"]})
        if some["kind"] == "deleted":
            assert_problem(one, 404)
        else:
            assert one.json()["configuration"]["config"] == expected[some["seq"]][some["configuration_id"]][1]


def test_a_deleted_configuration_is_diffed_and_read_from_before_its_deletion(client, application, configuration):
    app = application("billing")
    config = configuration(app["id"], "db", {"host": "a", "ports": [1, 2, 3], "n": 1})
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"host": "a", "ports": [1, 3], "n": 1}})
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"host": "b", "ports": [1, 3], "n": 1}})
    assert client.delete(f"{CONFIGS}/{config['id']}").status_code == 204
    again = configuration(app["id"], "db", {"host": "c"})  # the name again: another configuration
    diff = client.get(f"{CONFIGS}/{config['id']}/diff", params={"from": 1, "to": 3}).json()
    assert diff["patch"] == [{"op": "replace", "path": "/host", "value": "b"},
                             {"op": "remove", "path": "/ports/1"}]
    assert apply({"host": "a", "ports": [1, 2, 3], "n": 1}, diff["patch"]) == {"host": "b", "ports": [1, 3], "n": 1}
    assert_problem(client.get(f"{CONFIGS}/{config['id']}/diff", params={"from": 1}), 404)  # no current state
    assert client.get(f"{CONFIGS}/{config['id']}/snapshot", params={"seq": 3}).json()["configuration"]["config"] \
        == {"host": "b", "ports": [1, 3], "n": 1}
    assert_problem(client.get(f"{CONFIGS}/{config['id']}/snapshot", params={"seq": 4}), 404)
    names = [c["configuration_id"] for c in client.get(f"{APPS}/{app['id']}/snapshot",
                                                        params={"seq": 5}).json()["configurations"]]
    assert names == [again["id"]]
    # Its revisions are kept and listed; a restore of one says what to do instead, not "no configuration"
    assert [r["version"] for r in client.get(f"{CONFIGS}/{config['id']}/revisions").json()["items"]] == [3, 2, 1]
    refused = assert_problem(client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore"), 404)
    assert refused["detail"].startswith("This configuration was deleted; its revisions are kept")
    assert assert_problem(client.post(f"{CONFIGS}/{'0' * 26}/revisions/1/restore"), 404)["detail"] == \
        "No configuration has this id."


def test_a_read_at_the_time_a_change_shows_includes_it(client, application, configuration):
    """The time a change shows (the configuration's `updated_at`, its revision's `created_at`, its feed entry's
    `at`) is one, and a read of the past at it includes the change; a microsecond before, not."""
    app = application("billing")
    config = configuration(app["id"], "db", {"v": 1})
    env = client.post("/api/v1/environments", json={"name": "prod", "parent_id": None}).json()
    shown = [config["updated_at"]]
    for v in (2, 3):
        written = client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": v}})
        shown.append(written.json()["updated_at"])
    override = client.put(f"{CONFIGS}/{config['id']}/overrides/{env['id']}", json={"patch": {"v": 4}}).json()
    shown.append(override["updated_at"])
    feed = client.get(f"{APPS}/{app['id']}/changes").json()["items"]
    assert [entry["at"] for entry in feed] == shown
    revisions = client.get(f"{CONFIGS}/{config['id']}/revisions").json()["items"]
    assert [r["created_at"] for r in reversed(revisions)] == shown[:3]
    assert client.get(f"{CONFIGS}/{config['id']}/overrides/{env['id']}/revisions").json()["items"][0]["created_at"] \
        == shown[3]
    for version, at in enumerate(shown[:3], 1):
        then = client.get(f"{CONFIGS}/{config['id']}/snapshot", params={"at": at}).json()
        assert (then["seq"], then["configuration"]["version"]) == (version, version), at
        before = datetime.fromisoformat(at) - timedelta(microseconds=1)
        if version > 1:
            then = client.get(f"{CONFIGS}/{config['id']}/snapshot", params={"at": before.isoformat()}).json()
            assert then["configuration"]["version"] == version - 1, at
    url = f"{CONFIGS}/{config['id']}/effective/snapshot"
    assert client.get(url, params={"at": shown[3], "environment_id": env["id"]}).json()["seq"] == 4


def test_points_outside_the_history_are_problems_with_pointers(client, application, configuration):
    app = application("billing")
    made = configuration(app["id"], "db", {"v": 1})
    url = f"{APPS}/{app['id']}/snapshot"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert assert_problem(client.get(url, params={"at": future}), 422)["errors"][0]["pointer"] == "#/query/at"
    assert_problem(client.get(url, params={"at": "2001-01-01T00:00:00Z"}), 422)
    assert_problem(client.get(url, params={"at": "yesterday"}), 422)
    for extreme in ("2026-01-01T00:00:00-23:59", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"):
        for path in (url, f"{CONFIGS}/{made['id']}/snapshot"):  # the route, and the fast path
            assert assert_problem(client.get(path, params={"at": extreme}), 422)["errors"][0]["pointer"] == "#/query/at"
    assert_problem(client.get(url, params={"seq": 1, "at": "2026-01-01T00:00:00Z"}), 422)
    assert "ends at position 1" in assert_problem(client.get(url, params={"seq": 2}), 404)["detail"]
    assert_problem(client.get(url, params={"seq": -1}), 422)


def test_a_snapshot_without_a_point_is_now_with_the_position_a_follower_goes_on_from(client, application,
                                                                                      configuration):
    """A watcher's start: the state now and its feed position in one read (etcd's revision on a Get), then the feed
    from there misses nothing and repeats nothing. By an application, a configuration, an effective view."""
    app = application("billing")
    made = configuration(app["id"], "db", {"v": 1})
    client.put(f"{CONFIGS}/{made['id']}", json={"name": "db", "config": {"v": 2}})
    env = client.post("/api/v1/environments", json={"name": "prod"}).json()
    client.put(f"{CONFIGS}/{made['id']}/overrides/{env['id']}", json={"patch": {"v": 3}})
    now = [client.get(f"{APPS}/{app['id']}/snapshot").json(), client.get(f"{CONFIGS}/{made['id']}/snapshot").json(),
           client.get(f"{CONFIGS}/{made['id']}/effective/snapshot", params={"environment_id": env["id"]}).json()]
    assert {(n["seq"], n["epoch"]) for n in now} == {(3, client.get(f"{APPS}/{app['id']}/changes").json()["epoch"])}
    assert now[0]["configurations"][0]["config"] == now[1]["configuration"]["config"] == {"v": 2}
    assert now[2]["view"]["config"] == {"v": 3}
    client.put(f"{CONFIGS}/{made['id']}", json={"name": "db", "config": {"v": 4}})
    follows = client.get(f"{APPS}/{app['id']}/changes", params={"after": now[0]["seq"], "epoch": now[0]["epoch"]})
    assert [(c["seq"], c["version"]) for c in follows.json()["items"]] == [(4, 3)]
    client.delete(f"{CONFIGS}/{made['id']}")
    assert assert_problem(client.get(f"{CONFIGS}/{made['id']}/snapshot"), 404)  # deleted: not there now
    assert_problem(client.get(f"{CONFIGS}/01JD3B5ZQ6V2K9X4N8M7P1R0ST/snapshot"), 404)
    assert_problem(client.get(f"{APPS}/01JD3B5ZQ6V2K9X4N8M7P1R0ST/snapshot"), 404)


def test_prune_keeps_the_state_at_the_cut_and_what_follows(client, application, configuration, database_url):
    app = application("billing")
    config = configuration(app["id"], "db", {"v": 1})
    for v in (2, 3):
        client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": v}})
    cut = client.get(f"{APPS}/{app['id']}/snapshot", params={"seq": 2}).json()["recorded_at"]
    result = subprocess.run([sys.executable, "-m", "db.prune", "--before", cut], cwd=harness.SVC, text=True,
                            capture_output=True, env=harness.child_env(DATABASE_URL=database_url), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 configuration revision and" in result.stdout
    assert "pruned" in assert_problem(client.get(f"{APPS}/{app['id']}/snapshot", params={"seq": 1}), 404)["detail"]
    for seq, v in ((2, 2), (3, 3)):
        answer = client.get(f"{CONFIGS}/{config['id']}/snapshot", params={"seq": seq}).json()
        assert answer["configuration"]["config"] == {"v": v}
    assert client.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"v": 3}
    assert client.get(f"{CONFIGS}/{config['id']}/diff", params={"from": 2}).json()["patch"] == [
        {"op": "replace", "path": "/v", "value": 3}]
    # A revision pruned says so; one that never was, and a configuration that never was, as before.
    pruned = assert_problem(client.get(f"{CONFIGS}/{config['id']}/revisions/1"), 404)["detail"]
    assert pruned.startswith("This revision was pruned") and "make prune" in pruned
    assert assert_problem(client.get(f"{CONFIGS}/{config['id']}/revisions/4"), 404)["detail"] == \
        "This configuration has no revision with this version."
    # A restore of either says the same (a pruned one answered "no revision with this version").
    assert assert_problem(client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore"), 404)["detail"] == pruned
    assert assert_problem(client.post(f"{CONFIGS}/{config['id']}/revisions/9/restore"), 404)["detail"] == \
        "This configuration has no revision with this version."
    client.delete(f"{CONFIGS}/{config['id']}")  # deleted, its history kept: the same answers
    assert assert_problem(client.get(f"{CONFIGS}/{config['id']}/revisions/1"), 404)["detail"] == pruned
    assert assert_problem(client.get(f"{CONFIGS}/{config['id']}/revisions/4"), 404)["detail"] == \
        "This configuration has no revision with this version."
    assert assert_problem(client.get(f"{CONFIGS}/{'0' * 26}/revisions/1"), 404)["detail"] == \
        "No configuration has this id."


def test_staging_exported_planned_into_prod_and_applied_exactly_as_reviewed(client, application, configuration):
    staging, prod = application("billing-staging"), application("billing-prod")
    env = client.post("/api/v1/environments", json={"name": "prod"}).json()
    db = client.post(CONFIGS, content='{"application_id": "' + staging["id"] + '", "name": "db", '
                     '"config": {"host": "db", "ratio": 0.10}}', headers={"Content-Type": "application/json"}).json()
    client.put(f"{CONFIGS}/{db['id']}/overrides/{env['id']}", json={"patch": {"host": "db.prod"}})
    configuration(prod["id"], "legacy", {"old": True})
    exported = client.get(f"{APPS}/{staging['id']}/export")
    assert exported.status_code == 200 and '"ratio":0.10' in exported.text
    document = exported.json()

    plan = client.post(f"{APPS}/{prod['id']}/import/plan", json={"document": document, "mode": "exact"})
    assert plan.status_code == 200, plan.text
    assert [(i["name"], i["action"]) for i in plan.json()["items"]] == [("db", "created"), ("legacy", "deleted")]
    feed_before = client.get(f"{APPS}/{prod['id']}/changes").json()["items"]
    applied = client.post(f"{APPS}/{prod['id']}/import/apply", headers={"Idempotency-Key": "promote-1"},
                          json={"document": document, "mode": "exact", "token": plan.json()["token"]})
    assert applied.status_code == 200, applied.text
    exported_now = client.get(f"{APPS}/{prod['id']}/export").json()
    assert exported_now["configurations"] == document["configurations"]
    # An export, a plan and an apply name their position's epoch with its seq, as the feed does
    assert exported_now["epoch"] == document["epoch"] == plan.json()["epoch"] == applied.json()["epoch"] == \
        client.get(f"{APPS}/{prod['id']}/changes").json()["items"][-1]["epoch"]
    assert applied.json()["seq"] == exported_now["seq"]
    feed = client.get(f"{APPS}/{prod['id']}/changes").json()["items"][len(feed_before):]
    assert [(c["kind"], c["name"], c["environment"]) for c in feed] == [
        ("deleted", "legacy", None), ("created", "db", None), ("created", "db", "prod")]
    # One transaction, one time: every change shows it, and a read of the past at it has all of them.
    assert len({c["at"] for c in feed}) == 1
    assert datetime.fromisoformat(feed[0]["at"]) > datetime.fromisoformat(feed_before[-1]["at"])
    at = client.get(f"{APPS}/{prod['id']}/snapshot", params={"at": feed[0]["at"]}).json()
    assert at["seq"] == feed[-1]["seq"] and [c["name"] for c in at["configurations"]] == ["db"]
    # the same request again (a retry) answers what it answered; a new apply of the old plan is 412
    again = client.post(f"{APPS}/{prod['id']}/import/apply", headers={"Idempotency-Key": "promote-1"},
                        json={"document": document, "mode": "exact", "token": plan.json()["token"]})
    assert again.status_code == 200 and again.content == applied.content
    assert_problem(client.post(f"{APPS}/{prod['id']}/import/apply",
                               json={"document": document, "mode": "exact", "token": plan.json()["token"]}), 412)


def test_an_apply_after_any_change_writes_nothing(client, application, configuration):
    app = application("billing")
    config = configuration(app["id"], "db", {"v": 1})
    document = {"configurations": [{"name": "db", "config": {"v": 2}}, {"name": "new", "config": {}}]}
    plan = client.post(f"{APPS}/{app['id']}/import/plan", json={"document": document}).json()
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 1, "w": 1}})
    stale = client.post(f"{APPS}/{app['id']}/import/apply", json={"document": document, "token": plan["token"]})
    said = assert_problem(stale, 412)["detail"]
    assert "plan (merge) at the application's position now (seq 2)" in said and plan["seq"] == 1  # what to compare
    assert [c["name"] for c in client.get(f"{APPS}/{app['id']}/configurations").json()["items"]] == ["db"]
    assert client.get(f"{APPS}/{app['id']}/changes").json()["items"][-1]["seq"] == 2
    forged = client.post(f"{APPS}/{app['id']}/import/apply", json={"document": document, "token": "0" * 64})
    assert_problem(forged, 412)
    unknown = {"configurations": [{"name": "db", "config": {}, "overrides": {"nowhere": {}}}]}
    problem = assert_problem(client.post(f"{APPS}/{app['id']}/import/plan", json={"document": unknown}), 422)
    assert problem["errors"][0]["pointer"] == "/document/configurations/0/overrides/nowhere"


def test_a_change_set_is_all_or_nothing(client, application, configuration):
    app = application("billing")
    a, b = configuration(app["id"], "a", {"v": 1}), configuration(app["id"], "b", {"v": 1})
    failing = {"changes": [
        {"action": "create", "name": "c", "config": {}},
        {"action": "update", "configuration_id": a["id"], "name": "a", "config": {"v": 2},
         "if_match": f'"{a["id"]}.1"'},
        {"action": "update", "configuration_id": b["id"], "name": "b", "config": {"v": 2},
         "if_match": f'"{b["id"]}.7"'}]}
    refused = client.post(f"{APPS}/{app['id']}/changesets", json=failing)
    problem = assert_problem(refused, 412)
    assert problem["detail"].startswith("Change 2 (update)")
    assert problem["errors"] == [{"pointer": "/changes/2", "message": problem["detail"]}]
    assert refused.headers["ETag"] == f'"{b["id"]}.1"'
    assert [c["name"] for c in client.get(f"{APPS}/{app['id']}/configurations").json()["items"]] == ["a", "b"]
    assert client.get(f"{CONFIGS}/{a['id']}").json()["version"] == 1
    assert len(client.get(f"{APPS}/{app['id']}/changes").json()["items"]) == 2
    failing["changes"][2]["if_match"] = f'"{b["id"]}.1"'
    written = client.post(f"{APPS}/{app['id']}/changesets", json=failing)
    assert written.status_code == 200, written.text
    assert [r["version"] for r in written.json()["results"]] == [1, 2, 2] and written.json()["seq"] == 5
    # The position after the set names its epoch, as a feed entry does, for a read of the past to send with it
    assert written.json()["epoch"] == client.get(f"{APPS}/{app['id']}/changes").json()["items"][-1]["epoch"]
    back = client.get(f"{APPS}/{app['id']}/snapshot", params={"seq": 5, "epoch": written.json()["epoch"]})
    assert back.status_code == 200 and (back.json()["seq"], back.json()["epoch"]) == (5, written.json()["epoch"])
    assert_problem(client.get(f"{APPS}/{app['id']}/snapshot", params={"seq": 5, "epoch": 7}), 410)
    # Its three changes show one time, as do the configurations they wrote, and a read of the past at that time
    # (each of them) has all three: the change set is one transaction.
    *_, before, c, a2, b2 = client.get(f"{APPS}/{app['id']}/changes").json()["items"]
    assert c["at"] == a2["at"] == b2["at"] and datetime.fromisoformat(c["at"]) > datetime.fromisoformat(before["at"])
    made = written.json()["results"][0]["configuration_id"]
    assert {client.get(f"{CONFIGS}/{id}").json()["updated_at"] for id in (made, a["id"], b["id"])} == {c["at"]}
    for id in (made, a["id"], b["id"]):
        assert client.get(f"{CONFIGS}/{id}/snapshot", params={"at": c["at"]}).json()["seq"] == 5
    assert client.get(f"{APPS}/{app['id']}/snapshot", params={"at": c["at"]}).json()["seq"] == 5
    # A follower reading small pages gets the set whole, never a page ending inside it.
    feed = f"{APPS}/{app['id']}/changes"
    assert [i["seq"] for i in client.get(feed, params={"after": 1, "limit": 2}).json()["items"]] == [2]
    page = client.get(feed, params={"after": 2, "limit": 1}).json()
    assert [i["seq"] for i in page["items"]] == [3, 4, 5] and page["next_after"] == 5
    missing = client.post(f"{APPS}/{app['id']}/changesets", json={"changes": [{"action": "update", "name": "a"}]})
    assert assert_problem(missing, 422)["errors"][0]["pointer"] == "/changes/0/configuration_id"


def test_a_change_set_writes_overrides_with_their_configurations_in_one_transaction(client, application,
                                                                                    configuration):
    """A key added to a configuration and its value in prod land together (no reader of prod sees the one without
    the other); an override's configuration is named by id or by the name the set gave it; overrides are
    conditional on their own ETags, `*` included; a failing change undoes the whole set."""
    app = application("billing")
    db = configuration(app["id"], "db", {"host": "db"})
    prod = client.post("/api/v1/environments", json={"name": "prod"}).json()
    old = client.put(f"{CONFIGS}/{db['id']}/overrides/{prod['id']}", json={"patch": {"host": "db.prod"}})
    url = f"{APPS}/{app['id']}/changesets"
    written = client.post(url, json={"changes": [
        {"action": "update", "configuration_id": db["id"], "name": "db", "config": {"host": "db", "pool": 5},
         "if_match": f'"{db["id"]}.1"'},
        {"action": "set_override", "configuration_id": db["id"], "environment_id": prod["id"],
         "patch": {"host": "db.prod", "pool": 50}, "if_match": old.headers["etag"]},
        {"action": "create", "name": "cache", "config": {"ttl": 60}},
        {"action": "set_override", "name": "cache", "environment_id": prod["id"], "patch": {"ttl": 600}},
        {"action": "delete_override", "name": "cache", "environment_id": prod["id"], "if_match": "*"},
        {"action": "set_override", "name": "cache", "environment_id": prod["id"], "patch": {"ttl": 900},
         "comments": "longer in prod"}]})
    assert written.status_code == 200, written.text
    results = written.json()["results"]
    assert [(r["action"], r["environment_id"], r["version"]) for r in results] == [
        ("update", None, 2), ("set_override", prod["id"], 2), ("create", None, 1),
        ("set_override", prod["id"], 1), ("delete_override", prod["id"], None), ("set_override", prod["id"], 2)]
    cache = results[2]["configuration_id"]
    assert results[3]["configuration_id"] == cache
    for result in (results[1], results[5]):
        read = client.get(f"{CONFIGS}/{result['configuration_id']}/overrides/{prod['id']}")
        assert read.headers["etag"] == result["etag"]
    assert client.get(f"{CONFIGS}/{cache}/overrides/{prod['id']}").json()["comments"] == "longer in prod"
    view = client.get(f"{CONFIGS}/{db['id']}/effective", params={"environment_id": prod["id"]}).json()
    assert view["config"] == {"host": "db.prod", "pool": 50}
    feed = client.get(f"{APPS}/{app['id']}/changes").json()["items"][-6:]
    assert len({c["at"] for c in feed}) == 1 and [c["environment"] for c in feed] == [
        None, "prod", None, "prod", "prod", "prod"]

    # Refused as a whole: a stale override ETag (412 with the current one), `*` on an override that is not
    # there, an unknown configuration name, a missing field.
    before = client.get(f"{APPS}/{app['id']}/changes").json()["items"][-1]["seq"]
    stale = client.post(url, json={"changes": [
        {"action": "update", "configuration_id": db["id"], "name": "db", "config": {}},
        {"action": "set_override", "configuration_id": db["id"], "environment_id": prod["id"], "patch": {},
         "if_match": old.headers["etag"]}]})
    problem = assert_problem(stale, 412)
    assert problem["detail"].startswith("Change 1 (set_override)") and stale.headers["etag"] == results[1]["etag"]
    never = client.post(url, json={"changes": [
        {"action": "delete_override", "configuration_id": db["id"], "environment_id": prod["id"]},
        {"action": "set_override", "configuration_id": db["id"], "environment_id": prod["id"], "patch": {},
         "if_match": "*"}]})
    assert assert_problem(never, 412)["errors"][0]["pointer"] == "/changes/1"
    unknown = client.post(url, json={"changes": [
        {"action": "set_override", "name": "nope", "environment_id": prod["id"], "patch": {}}]})
    assert "no configuration with this name" in assert_problem(unknown, 404)["detail"]
    nameless = client.post(url, json={"changes": [
        {"action": "delete_override", "environment_id": prod["id"]}]})
    assert assert_problem(nameless, 422)["errors"][0]["pointer"] == "/changes/0/configuration_id"
    assert client.get(f"{APPS}/{app['id']}/changes").json()["items"][-1]["seq"] == before
    assert client.get(f"{CONFIGS}/{db['id']}").json()["config"] == {"host": "db", "pool": 5}


def test_deleting_an_environment_keeps_its_overrides_history_and_the_past_reads_as_it_was(
        client, application, configuration, database_url):
    """The override revisions of an environment went with it when it was deleted (a foreign key's cascade): an
    export at a position where it had an override no longer showed it, and its revisions and diffs answered 404."""
    app = application("billing")
    config = configuration(app["id"], "db", {"host": "db"})
    canary = client.post("/api/v1/environments", json={"name": "canary"}).json()
    override = f"{CONFIGS}/{config['id']}/overrides/{canary['id']}"
    assert client.put(override, json={"patch": {"host": "canary"}}).status_code == 201
    assert client.put(override, json={"patch": {"host": "canary-2"}}).status_code == 200
    before = client.get(f"{APPS}/{app['id']}/export", params={"seq": 3}).json()
    assert before["configurations"][0]["overrides"] == {"canary": {"host": "canary-2"}}
    assert client.delete(override).status_code == 204
    assert client.delete(f"/api/v1/environments/{canary['id']}").status_code == 204
    assert client.get(f"{APPS}/{app['id']}/export", params={"seq": 3}).json() == before
    revisions = client.get(f"{override}/revisions")
    assert revisions.status_code == 200 and [r["version"] for r in revisions.json()["items"]] == [2, 1]
    assert client.get(f"{override}/diff", params={"from": 1, "to": 2}).json()["patch"] == [
        {"op": "replace", "path": "/host", "value": "canary-2"}]
    # It is gone for everything but the past: no override, no restore into it; its name is free again.
    assert assert_problem(client.get(override), 404)["detail"] == "No environment has this id."
    assert assert_problem(client.put(override, json={"patch": {"x": 1}}), 404)["detail"] == \
        "No environment has this id."
    assert assert_problem(client.post(f"{override}/revisions/1/restore"), 404)["detail"] == \
        "No environment has this id."
    assert assert_problem(client.get(f"/api/v1/environments/{canary['id']}"), 404)
    again = client.post("/api/v1/environments", json={"name": "canary"})
    assert again.status_code == 201 and again.json()["id"] != canary["id"]
    # Its name is another environment's now: the past export names it with its id, and an import of that export
    # does not put its override on the new one (it names no environment: 422 at it).
    past = client.get(f"{APPS}/{app['id']}/export", params={"seq": 3}).json()
    renamed = f"canary (deleted {canary['id']})"
    assert past["configurations"][0]["overrides"] == {renamed: {"host": "canary-2"}}
    assert past["environments"] == [renamed]
    plan = client.post(f"{APPS}/{app['id']}/import/plan", json={"mode": "merge", "document": past})
    assert assert_problem(plan, 422)["errors"][0]["pointer"] == \
        f"/document/configurations/0/overrides/{renamed}"
    # Once no revision names it (its application deleted), `make prune` forgets it.
    assert client.delete(f"{APPS}/{app['id']}").status_code == 204
    result = subprocess.run([sys.executable, "-m", "db.prune", "--before", datetime.now(UTC).isoformat()],
                            cwd=harness.SVC, text=True, capture_output=True,
                            env=harness.child_env(DATABASE_URL=database_url), timeout=120)
    assert result.returncode == 0 and "1 deleted environment no revision names forgotten" in result.stdout, \
        result.stdout + result.stderr


def test_a_past_export_loses_no_override_when_a_deleted_environment_s_name_is_taken_again(
        client, application, configuration, sql):
    """A deleted environment is exported under the name it had; once another environment is renamed to that name,
    the two overrides of one configuration had one name in the past export, and one was lost, which one by the
    order rows came in (a review). Deleted by any build, or by psql: kept the same (a trigger)."""
    app = application("billing")
    config = configuration(app["id"], "db", {"host": "db"})
    canary = client.post("/api/v1/environments", json={"name": "canary"}).json()
    staging = client.post("/api/v1/environments", json={"name": "staging"}).json()
    for env, host in ((canary, "c"), (staging, "s")):
        client.put(f"{CONFIGS}/{config['id']}/overrides/{env['id']}", json={"patch": {"host": host}})
    seq = client.get(f"{APPS}/{app['id']}/snapshot").json()["seq"]
    client.delete(f"{CONFIGS}/{config['id']}/overrides/{canary['id']}")
    sql.execute("DELETE FROM environments WHERE id = %s", (canary["id"],))  # (as a worker of the build before would)
    renamed = client.put(f"/api/v1/environments/{staging['id']}", json={"name": "canary"})
    assert renamed.status_code == 200, renamed.text
    past = client.get(f"{APPS}/{app['id']}/export", params={"seq": seq}).json()
    assert past["configurations"][0]["overrides"] == {"canary": {"host": "s"},
                                                      f"canary (deleted {canary['id']})": {"host": "c"}}
    assert client.get(f"{CONFIGS}/{config['id']}/overrides/{canary['id']}/revisions").status_code == 200
