"""Versions, ETags, conditional requests, revisions and restore, API → database → API."""

import pytest

from live import keys
from tools.harness import APPS, CONFIGS, assert_problem, until
from wire.problems import PreconditionFailed

pytestmark = pytest.mark.integration


@pytest.fixture
def config(client, application, configuration):
    app = application()
    return configuration(app["id"], "db", {"v": 1})


def test_create_answers_version_1_and_its_etag(client, config):
    assert config["version"] == 1
    response = client.get(f"{CONFIGS}/{config['id']}")
    assert response.headers["etag"] == f'"{config["id"]}.1"'


def test_matching_if_match_writes_and_bumps_the_version(client, config, sql):
    etag = client.get(f"{CONFIGS}/{config['id']}").headers["etag"]
    response = client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 2}},
                          headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.headers["etag"] == f'"{config["id"]}.2"'
    sql.execute("SELECT version, config::json AS config FROM configurations WHERE id = %s", (config["id"],))
    assert sql.fetchone() == {"version": 2, "config": {"v": 2}}


def test_stale_if_match_is_412_with_the_current_etag_and_changes_nothing(client, config, sql):
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 2}})
    stale = f'"{config["id"]}.1"'
    response = client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 3}},
                          headers={"If-Match": stale})
    assert_problem(response, 412)
    assert response.headers["etag"] == f'"{config["id"]}.2"'
    sql.execute("SELECT version, config::json AS config FROM configurations WHERE id = %s", (config["id"],))
    assert sql.fetchone() == {"version": 2, "config": {"v": 2}}
    assert_problem(client.delete(f"{CONFIGS}/{config['id']}", headers={"If-Match": stale}), 412)
    assert client.get(f"{CONFIGS}/{config['id']}").status_code == 200


def test_if_none_match_is_304_without_a_body_until_it_changes(client, config):
    etag = client.get(f"{CONFIGS}/{config['id']}").headers["etag"]
    response = client.get(f"{CONFIGS}/{config['id']}", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.content == b"" and response.headers["etag"] == etag
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 2}})
    assert client.get(f"{CONFIGS}/{config['id']}", headers={"If-None-Match": etag}).status_code == 200


def test_application_etag_follows_its_configurations(client, application, configuration):
    app = application()
    etag = client.get(f"{APPS}/{app['id']}").headers["etag"]
    assert client.get(f"{APPS}/{app['id']}", headers={"If-None-Match": etag}).status_code == 304
    configuration(app["id"])
    changed = client.get(f"{APPS}/{app['id']}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and len(changed.json()["configuration_ids"]) == 1


def test_application_writes_honour_if_match(client, application):
    app = application()
    stale = f'"{app["id"]}.9"'
    assert_problem(client.put(f"{APPS}/{app['id']}", json={"name": "x"}, headers={"If-Match": stale}), 412)
    assert_problem(client.delete(f"{APPS}/{app['id']}", headers={"If-Match": stale}), 412)
    ok = client.put(f"{APPS}/{app['id']}", json={"name": "x"}, headers={"If-Match": f'"{app["id"]}.1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    assert client.delete(f"{APPS}/{app['id']}", headers={"If-Match": "*"}).status_code == 204


def test_if_match_is_required_when_configured(settings, clean, application):
    from fastapi.testclient import TestClient

    from app import create_app as make

    with TestClient(make(settings.model_copy(update={"require_if_match": True}))) as strict:
        app = application(via=strict)
        assert_problem(strict.put(f"{APPS}/{app['id']}", json={"name": "x"}), 428)
        assert_problem(strict.delete(f"{APPS}/{app['id']}"), 428)
        assert strict.put(f"{APPS}/{app['id']}", json={"name": "x"},
                          headers={"If-Match": f'"{app["id"]}.1"'}).status_code == 200


def test_if_match_is_required_of_each_change_of_a_change_set_when_configured(settings, clean, application):
    """A change set's changes are writes too: with `REQUIRE_IF_MATCH` each but a creation needs its `if_match` (or
    `if_none_match: "*"`, create-only), else 428 naming it, and nothing of the set is written (a trial deleted a
    configuration with a change set and no `if_match` under the policy)."""
    from fastapi.testclient import TestClient

    from app import create_app as make

    with TestClient(make(settings.model_copy(update={"require_if_match": True}))) as strict:
        app_id = application(via=strict)["id"]
        sets = f"{APPS}/{app_id}/changesets"
        env_id = strict.post("/api/v1/environments", json={"name": "prod"}).json()["id"]
        created = strict.post(sets, json={"changes": [
            {"action": "create", "name": "db", "config": {"v": 1}},  # a creation needs none
            {"action": "set_override", "name": "db", "environment_id": env_id, "patch": {"v": 2},
             "if_none_match": "*"}]})
        assert created.status_code == 200, created.text
        id = created.json()["results"][0]["configuration_id"]
        for change in ({"action": "delete", "configuration_id": id},
                       {"action": "update", "configuration_id": id, "name": "db", "config": {"v": 3}},
                       {"action": "set_override", "configuration_id": id, "environment_id": env_id, "patch": {}},
                       {"action": "delete_override", "name": "db", "environment_id": env_id},
                       {"action": "delete", "configuration_id": id, "if_none_match": f'"{id}.1"'}):
            refused = assert_problem(strict.post(sets, json={"changes": [
                {"action": "create", "name": "other", "config": {}}, change]}), 428)
            assert refused["detail"].startswith(f"Change 1 ({change['action']}): ")
            assert refused["errors"][0]["pointer"] == "/changes/1/if_match"
        assert [c["name"] for c in strict.get(f"{APPS}/{app_id}/configurations").json()["items"]] == ["db"]
        assert strict.post(sets, json={"changes": [
            {"action": "delete", "configuration_id": id, "if_match": f'"{id}.1"'}]}).status_code == 200


def test_every_change_writes_a_revision_newest_first(client, config):
    for v in (2, 3):
        client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": v}})
    page = client.get(f"{CONFIGS}/{config['id']}/revisions").json()
    assert [(r["version"], r["config"]) for r in page["items"]] == [(3, {"v": 3}), (2, {"v": 2}), (1, {"v": 1})]
    assert page["next_cursor"] is None
    one = client.get(f"{CONFIGS}/{config['id']}/revisions/2").json()
    assert one["config"] == {"v": 2} and one["configuration_id"] == config["id"]


def test_revisions_paginate(client, config):
    for v in range(2, 8):
        client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": v}})
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{CONFIGS}/{config['id']}/revisions", params=params).json()
        seen += [r["version"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]


def test_restore_makes_a_new_version_equal_to_the_restored_content(client, config):
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db-renamed", "config": {"v": 2}, "comments": "c"})
    response = client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore", headers={"If-Match": f'"{config["id"]}.2"'})
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["name"], body["config"], body["comments"]) == (3, "db", {"v": 1}, None)
    assert response.headers["etag"] == f'"{config["id"]}.3"'
    history = client.get(f"{CONFIGS}/{config['id']}/revisions").json()["items"]
    assert [r["version"] for r in history] == [3, 2, 1] and history[0]["config"] == history[2]["config"]


def test_restore_with_stale_if_match_is_412(client, config):
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 2}})
    response = client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore", headers={"If-Match": f'"{config["id"]}.1"'})
    assert_problem(response, 412)


def test_unknown_revision_or_configuration_is_404(client, config):
    assert_problem(client.get(f"{CONFIGS}/{config['id']}/revisions/9"), 404)
    assert_problem(client.post(f"{CONFIGS}/{config['id']}/revisions/9/restore"), 404)
    missing = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
    assert_problem(client.get(f"{CONFIGS}/{missing}/revisions"), 404)
    assert_problem(client.get(f"{CONFIGS}/{missing}/revisions/1"), 404)
    assert_problem(client.post(f"{CONFIGS}/{missing}/revisions/1/restore"), 404)


def test_restoring_a_name_taken_since_is_409(client, config, configuration):
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "renamed", "config": {}})
    configuration(config["application_id"], "db")
    assert_problem(client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore"), 409)


def test_deleting_a_configuration_keeps_its_revisions_until_its_application_is_deleted(client, config, sql):
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "db", "config": {"v": 2}})
    assert client.delete(f"{CONFIGS}/{config['id']}").status_code == 204
    sql.execute("SELECT application_id, version FROM configuration_revisions ORDER BY version")
    assert sql.fetchall() == [{"application_id": config["application_id"], "version": 1},
                              {"application_id": config["application_id"], "version": 2}]
    # Readable by its id: the list (every page), each revision, a diff.
    revisions = client.get(f"{CONFIGS}/{config['id']}/revisions", params={"limit": 1})
    assert revisions.status_code == 200 and [r["version"] for r in revisions.json()["items"]] == [2]
    rest = client.get(f"{CONFIGS}/{config['id']}/revisions", params={"cursor": revisions.json()["next_cursor"]})
    assert rest.status_code == 200 and [r["version"] for r in rest.json()["items"]] == [1]
    assert rest.json()["next_cursor"] is None
    assert client.get(f"{CONFIGS}/{config['id']}/revisions/1").json()["version"] == 1
    assert client.get(f"{CONFIGS}/{config['id']}/diff", params={"from": 1, "to": 2}).status_code == 200
    assert client.delete(f"{APPS}/{config['application_id']}").status_code == 204
    assert_problem(client.get(f"{CONFIGS}/{config['id']}/revisions"), 404)  # gone with its application
    sql.execute("SELECT count(*) AS n FROM configuration_revisions")
    assert sql.fetchone()["n"] == 0


OTHER = '"01JD3B5ZQ6V2K9X4N8M7P1R0ST.1"'  # another resource's tag


def test_if_none_match_split_over_several_lines_is_one_list(client, config):
    """RFC 9110 §5.3: the lines of a list-based field are one list. The stale tag on the first line and the current
    one on the second is a match: 304, and with `wait` the request is held (then 304)."""
    app_id = config["application_id"]
    for path in (f"{CONFIGS}/{config['id']}", f"{APPS}/{app_id}", f"{APPS}/{app_id}/configurations"):
        current = client.get(path).headers["etag"]
        lines = [("If-None-Match", OTHER), ("If-None-Match", current)]
        assert client.get(path, headers=lines).status_code == 304, path
        assert client.head(path, headers=lines).status_code == 304, path
        assert client.get(path, params={"wait": 1}, headers=lines).status_code == 304, path


def test_an_if_match_naming_no_version_of_the_resource_says_so(client, config):
    """A stale tag is 'changed since'; one that names no version of this resource (malformed, weak, another's) says
    that instead. Both 412 with the current ETag."""
    url = f"{CONFIGS}/{config['id']}"
    current = f'"{config["id"]}.1"'
    for tag in ("garbage", OTHER, f"W/{current}", '"01JD3B5ZQ6V2K9X4N8M7P1R0ST"'):
        for write in (lambda: client.put(url, json={"name": "db", "config": {}}, headers={"If-Match": tag}),
                      lambda: client.delete(url, headers={"If-Match": tag}),
                      lambda: client.put(f"{APPS}/{config['application_id']}", json={"name": "billing"},
                                         headers={"If-Match": tag.replace(config["id"], config["application_id"])})):
            response = write()
            assert assert_problem(response, 412)["detail"] == PreconditionFailed.NO_TAG, (tag, response.request.url)
            assert "etag" in response.headers  # the current one
    stale = client.put(url, json={"name": "db", "config": {}}, headers={"If-Match": f'"{config["id"]}.7"'})
    assert assert_problem(stale, 412)["detail"] == PreconditionFailed.IF_MATCH


def test_if_match_split_over_several_lines_is_one_list(client, config, application):
    url = f"{CONFIGS}/{config['id']}"

    def lines(version: int) -> list[tuple[str, str]]:
        return [("If-Match", OTHER), ("If-Match", f'"{config["id"]}.{version}"')]

    assert client.put(url, json={"name": "db", "config": {"v": 2}}, headers=lines(1)).status_code == 200
    assert client.post(f"{url}/revisions/1/restore", headers=lines(2)).status_code == 200
    assert client.delete(url, headers=lines(3)).status_code == 204
    app = application("split")
    tags = [("If-Match", OTHER), ("If-Match", f'"{app["id"]}.1"')]
    assert client.put(f"{APPS}/{app['id']}", json={"name": "split"}, headers=tags).status_code == 200
    tags[1] = ("If-Match", f'"{app["id"]}.2"')
    assert client.delete(f"{APPS}/{app['id']}", headers=tags).status_code == 204


def writes_of(client, application, configuration, name: str) -> list[tuple[str, str, dict | None, str]]:
    """(method, path, body, id) of every conditional write, each on a fresh resource at version 1."""
    app = application(name)
    config = configuration(app["id"], name)
    other = application(name + "-other")
    url = f"{CONFIGS}/{config['id']}"
    return [("PUT", url, {"name": name, "config": {"v": 2}}, config["id"]),
            ("POST", f"{url}/revisions/1/restore", None, config["id"]),
            ("DELETE", url, None, config["id"]),
            ("PUT", f"{APPS}/{other['id']}", {"name": name + "-other"}, other["id"]),
            ("DELETE", f"{APPS}/{other['id']}", None, other["id"])]


def version_of(client, method: str, path: str) -> int:
    resource = path.removesuffix("/revisions/1/restore")
    return client.get(resource).json()["version"]


@pytest.mark.parametrize("if_none_match", ["*", "{etag}", "W/{etag}", '"x", {etag}', "{other}, *"])
def test_if_none_match_on_a_write_naming_the_current_etag_or_star_is_412_and_writes_nothing(
        client, application, configuration, if_none_match):
    """RFC 9110 §13.1.2: `If-None-Match: *` is how a client says "only if it does not exist"; a tag list fails when
    it names the current ETag (weak comparison). A state-changing request whose If-None-Match fails is 412."""
    for index in range(5):
        method, path, body, id = writes_of(client, application, configuration, f"n{index}")[index]
        value = if_none_match.format(etag=f'"{id}.1"', other=OTHER)
        response = client.request(method, path, json=body, headers={"If-None-Match": value})
        problem = assert_problem(response, 412)
        assert response.headers["etag"] == f'"{id}.1"' and "If-None-Match" in problem["detail"], (method, path)
        assert version_of(client, method, path) == 1, (method, path)  # nothing written, nothing deleted


def test_if_none_match_on_a_write_naming_other_tags_lets_it_happen(client, application, configuration):
    for index in range(5):
        method, path, body, id = writes_of(client, application, configuration, f"o{index}")[index]
        lines = [("If-None-Match", f'"{id}.2"'), ("If-None-Match", f'{OTHER}, W/"{id}.3"')]
        response = client.request(method, path, json=body, headers=lines)
        assert response.status_code in (200, 204), (method, path, response.text)


def test_if_match_is_evaluated_before_if_none_match(client, application, configuration):
    """RFC 9110 §13.2.2: If-Match first (412 when it fails), then If-None-Match (412 when it fails)."""
    for index in range(5):
        method, path, body, id = writes_of(client, application, configuration, f"m{index}")[index]
        current = f'"{id}.1"'
        stale = assert_problem(client.request(method, path, json=body,
                                              headers={"If-Match": f'"{id}.7"', "If-None-Match": current}), 412)
        assert "If-Match" in stale["detail"] and "If-None-Match" not in stale["detail"]
        both = assert_problem(client.request(method, path, json=body,
                                             headers={"If-Match": current, "If-None-Match": current}), 412)
        assert "If-None-Match" in both["detail"]
        assert version_of(client, method, path) == 1
        ok = client.request(method, path, json=body, headers={"If-Match": current, "If-None-Match": f'"{id}.7"'})
        assert ok.status_code in (200, 204), (method, path, ok.text)


def test_if_none_match_star_on_a_missing_resource_is_404(client):
    missing = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
    for method, path, body in (("PUT", f"{CONFIGS}/{missing}", {"name": "x", "config": {}}),
                               ("DELETE", f"{CONFIGS}/{missing}", None),
                               ("POST", f"{CONFIGS}/{missing}/revisions/1/restore", None),
                               ("PUT", f"{APPS}/{missing}", {"name": "x"}), ("DELETE", f"{APPS}/{missing}", None)):
        assert_problem(client.request(method, path, json=body, headers={"If-None-Match": "*"}), 404)


# Epochs (primary.py, etags.py, migration 0020): a failover or a restore to a point in time starts a new timeline,
# on which writes the old primary acknowledged may be lost and their versions and feed positions given to other
# content. A tag names a version as written (its number and the epoch it was written in), and a feed position the
# change at it as written: what the new primary has keeps its name, what it lost matches nothing. Here the
# promotion is simulated in-process: the service's new connections report the timeline `promote(n)` sets, and its
# primary moves there (its copy dropped), and the database writes in epoch n (its `config_service_epoch()`
# answers n, as a primary promoted to timeline n does). test_failover.py F12 and F17 do it for real.

@pytest.fixture
def promote(client, monkeypatch, timeline):
    from db import database
    from live import listener
    from db.primary import identity_of

    reported_timeline = [1]

    def reported(row):
        return identity_of(row)._replace(timeline=reported_timeline[0])

    monkeypatch.setattr(database, "identity_of", reported)
    monkeypatch.setattr(listener, "identity_of", reported)

    def to(number: int) -> None:
        reported_timeline[0] = number
        timeline(number)
        primary = client.app.state.database.primary
        primary.admit(primary.current._replace(timeline=number))

    return to


def test_a_promotion_that_lost_nothing_keeps_every_etag_and_feed_position(client, application, configuration,
                                                                         promote):
    app = application()
    config = configuration(app["id"], "db", {"v": 1})
    url, app_url, page_url = f"{CONFIGS}/{config['id']}", f"{APPS}/{app['id']}", f"{APPS}/{app['id']}/configurations"
    feed = f"{APPS}/{app['id']}/changes"
    old = client.get(url).headers["etag"]
    old_app, old_page = client.get(app_url).headers["etag"], client.get(page_url).headers["etag"]
    assert old == f'"{config["id"]}.1"'  # epoch 1: the form the service always sent
    position = client.get(feed, params={"after": 0}).json()
    assert position["epoch"] == 1 and position["next_after"] == 1

    def kept_in_the_read_cache() -> bool:
        assert client.get(url, headers={"If-None-Match": old}).status_code == 304
        return keys.configuration(config["id"]) in client.app.state.read_cache.entries
    until(kept_in_the_read_cache, "the answer kept in the worker's read cache")

    promote(2)
    # The same versions, as written in epoch 1: the fast path, the route, the read cache (dropped and read again),
    # the pages and the feed all keep what they handed out.
    assert client.get(url).headers["etag"] == old
    assert client.get(url, headers={"If-None-Match": old}).status_code == 304
    assert client.get(app_url, headers={"If-None-Match": old_app}).status_code == 304
    assert client.get(page_url, headers={"If-None-Match": old_page}).status_code == 304
    assert client.get(feed, params={"after": 1, "epoch": 1}).json() == {"items": [], "next_after": 1, "epoch": 1}

    # A write through the ETag of epoch 1 goes ahead, and its version is of epoch 2; a follower of epoch 1 reads it.
    written = client.put(url, json={"name": "db", "config": {"v": 2}}, headers={"If-Match": old})
    assert written.status_code == 200 and written.headers["etag"] == f'"{config["id"]}.2~2"'
    page = client.get(feed, params={"after": 1, "epoch": 1}).json()
    assert [c["seq"] for c in page["items"]] == [2] and page["next_after"] == 2 and page["epoch"] == 2
    assert client.get(url, headers={"If-None-Match": written.headers["etag"]}).status_code == 304
    again = client.put(url, json={"name": "db", "config": {"v": 3}}, headers={"If-Match": written.headers["etag"]})
    assert again.status_code == 200 and again.headers["etag"] == f'"{config["id"]}.3~2"'
    assert_problem(client.put(url, json={"name": "db", "config": {}}, headers={"If-Match": old}), 412)  # stale


def test_a_version_and_a_feed_position_lost_in_a_failover_match_nothing_after_it(client, application, configuration,
                                                                                 promote, sql):
    app = application()
    config, other = configuration(app["id"], "db", {"v": 1}), configuration(app["id"], "cache", {"v": 1})
    env = client.post("/api/v1/environments", json={"name": "prod"}).json()
    url, other_url, feed = f"{CONFIGS}/{config['id']}", f"{CONFIGS}/{other['id']}", f"{APPS}/{app['id']}/changes"
    override_url = f"{url}/overrides/{env['id']}"
    kept_override = client.put(override_url, json={"patch": {"o": 1}}).headers["etag"]
    kept = client.get(other_url).headers["etag"]
    kept_at = client.get(feed, params={"after": 0}).json()["next_after"]  # 3: two creations and the override

    # Acknowledged in epoch 1, and lost: the standby never had it.
    lost = client.put(url, json={"name": "db", "config": {"v": "lost"}})
    assert lost.status_code == 200 and lost.headers["etag"] == f'"{config["id"]}.2"'
    lost_at = client.get(feed, params={"after": kept_at, "epoch": 1}).json()
    assert lost_at["next_after"] == kept_at + 1 and lost_at["epoch"] == 1

    # The promoted standby's data: as before the write (its row, revision and feed entry undone by hand).
    sql.execute("UPDATE configurations SET version = 1, config = '{\"v\": 1}' WHERE id = %s", (config["id"],))
    sql.execute("DELETE FROM configuration_revisions WHERE configuration_id = %s AND version = 2", (config["id"],))
    sql.execute("DELETE FROM changes WHERE application_id = %s AND seq = %s", (app["id"], kept_at + 1))
    sql.execute("UPDATE applications SET last_change = %s WHERE id = %s", (kept_at, app["id"]))
    promote(2)
    assert_problem(client.get(feed, params={"after": kept_at + 1, "epoch": 1}), 410)  # lost, not yet renumbered

    # The new primary gives version 2 and the lost feed position to other content, in epoch 2.
    other_content = client.put(url, json={"name": "db", "config": {"v": "other"}})
    assert other_content.headers["etag"] == f'"{config["id"]}.2~2"'
    assert client.get(url, headers={"If-None-Match": lost.headers["etag"]}).status_code == 200
    assert client.get(url, params={"wait": 1}, headers={"If-None-Match": lost.headers["etag"]}).status_code == 200
    stale = assert_problem(client.put(url, json={"name": "db", "config": {}}, headers={"If-Match": lost.headers["etag"]}),
                           412)
    assert "written in epoch 1" in stale["detail"] and "lost in a failover" in stale["detail"]
    assert client.get(url).json()["config"] == {"v": "other"}
    gone = assert_problem(client.get(feed, params={"after": kept_at + 1, "epoch": 1}), 410)
    assert gone["type"].endswith("/epoch-changed") and "after=0" in gone["detail"]
    assert_problem(client.get(feed, params={"after": kept_at + 1, "epoch": 1, "wait": 1}), 410)
    # What the new primary has is named as before: the other configuration, the override, the position before.
    assert client.get(other_url, headers={"If-None-Match": kept}).status_code == 304
    assert client.put(other_url, json={"name": "cache", "config": {"v": 2}}, headers={"If-Match": kept}).status_code == 200
    assert client.get(override_url, headers={"If-None-Match": kept_override}).status_code == 304
    page = client.get(feed, params={"after": kept_at, "epoch": 1}).json()
    assert [c["seq"] for c in page["items"]] == [kept_at + 1, kept_at + 2] and page["epoch"] == 2
    assert [c["epoch"] for c in page["items"]] == [2, 2]  # each change names the epoch it was written in
    # Reads of the past by a position of the feed, with its epoch: the lost one is 410, the kept one reads.
    env_view = f"{url}/effective/snapshot"
    for path, extra in ((f"{url}/snapshot", {}), (f"{APPS}/{app['id']}/snapshot", {}),
                        (env_view, {"environment_id": env["id"]}), (f"{APPS}/{app['id']}/export", {})):
        assert_problem(client.get(path, params={"seq": kept_at + 1, "epoch": 1, **extra}), 410)
        assert client.get(path, params={"seq": kept_at, "epoch": 1, **extra}).status_code == 200, path
        assert client.get(path, params={"seq": kept_at + 1, "epoch": 2, **extra}).status_code == 200, path
        assert client.get(path, params={"seq": 0, "epoch": 5, **extra}).status_code in (200, 404), path  # the start
        assert_problem(client.get(path, params={"at": "2026-01-01T00:00:00Z", "epoch": 1, **extra}), 422)
    assert client.get(f"{url}/snapshot", params={"seq": kept_at, "epoch": 1}).json()["configuration"]["config"] == {
        "v": 1}
    assert client.get(feed, params={"after": kept_at + 2, "epoch": 2}).json()["items"] == []
    assert_problem(client.get(f"{APPS}/01JD3B5ZQ6V2K9X4N8M7P1R0ST/changes", params={"after": 1, "epoch": 2}), 404)
    assert_problem(client.get(feed, params={"epoch": 0}), 422)
    assert_problem(client.get(feed, params={"epoch": "02"}), 422)
