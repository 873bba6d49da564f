import pytest

from tools.harness import APPS, CONFIGS, assert_problem

ENVS = "/api/v1/environments"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def billing(client):
    app_id = client.post(APPS, json={"name": "billing"}).json()["id"]
    config = client.post(CONFIGS, content='{"application_id": "' + app_id + '", "name": "db", "config": {"r": 1.10}}',
                         headers=JSON).json()
    client.put(f"{CONFIGS}/{config['id']}", content='{"name": "db", "config": {"r": 3.14159265358979323846}}',
               headers=JSON)
    return app_id, config["id"]


def test_diffs_write_their_numbers_exactly(client, billing):
    app_id, id = billing
    response = client.get(f"{CONFIGS}/{id}/diff", params={"from": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json()["to_version"] == 2
    assert '"patch":[{"op":"replace","path":"/r","value":3.14159265358979323846}]' in response.text
    back = client.get(f"{CONFIGS}/{id}/diff", params={"from": 2, "to": 1})
    assert '"value":1.10' in back.text
    assert_problem(client.get(f"{CONFIGS}/{id}/diff", params={"from": 3}), 404)
    assert_problem(client.get(f"{CONFIGS}/{id}/diff"), 422)
    assert_problem(client.get(f"{CONFIGS}/{id}/diff", params={"from": "01"}), 422)


def test_override_diff_of_an_override_that_never_was_is_404(client, billing):
    app_id, id = billing
    env_id = client.post(ENVS, json={"name": "prod"}).json()["id"]
    never = assert_problem(client.get(f"{CONFIGS}/{id}/overrides/{env_id}/diff", params={"from": 1}), 404)
    assert never["detail"] == "This configuration has never had an override in this environment."
    # What is missing is named, as the override's other routes name it
    unknown = "0" * 26
    assert assert_problem(client.get(f"{CONFIGS}/{id}/overrides/{unknown}/diff", params={"from": 1}), 404)[
        "detail"] == "No environment has this id."
    assert assert_problem(client.get(f"{CONFIGS}/{unknown}/overrides/{env_id}/diff", params={"from": 1}), 404)[
        "detail"] == "No configuration has this id."
    client.put(f"{CONFIGS}/{id}/overrides/{env_id}", json={"patch": {"r": 2}})
    client.put(f"{CONFIGS}/{id}/overrides/{env_id}", json={"patch": {"r": 2, "s": [1]}})
    answer = client.get(f"{CONFIGS}/{id}/overrides/{env_id}/diff", params={"from": 1}).json()
    assert answer["patch"] == [{"op": "add", "path": "/s", "value": [1]}]


def test_snapshots_by_position_answer_the_contracts_shapes(client, billing):
    app_id, id = billing
    one = client.get(f"{CONFIGS}/{id}/snapshot", params={"seq": 1})
    assert one.status_code == 200
    assert one.json()["configuration"]["version"] == 1 and '"config":{"r": 1.10}' in one.text  # as stored
    whole = client.get(f"{APPS}/{app_id}/snapshot", params={"seq": 2}).json()
    assert whole["seq"] == 2 and [c["version"] for c in whole["configurations"]] == [2]
    assert whole["recorded_at"].endswith("Z")
    env_id = client.post(ENVS, json={"name": "prod"}).json()["id"]
    view = client.get(f"{CONFIGS}/{id}/effective/snapshot", params={"seq": 1, "environment_id": env_id})
    assert view.status_code == 200 and '"config":{"r":1.10}' in view.text
    assert view.json()["recorded_at"].endswith("Z")
    assert_problem(client.get(f"{APPS}/{app_id}/snapshot", params={"seq": 3}), 404)
    assert client.get(f"{APPS}/{app_id}/snapshot").json()["seq"] == 2  # no point: now
    assert_problem(client.get(f"{APPS}/{app_id}/snapshot", params={"at": "2026-11-23T14:02:00"}), 422)


def test_export_plan_and_apply_answer_exact_numbers(client, billing):
    app_id, id = billing
    exported = client.get(f"{APPS}/{app_id}/export")
    assert exported.status_code == 200 and '"config":{"r":3.14159265358979323846}' in exported.text
    assert '"config":{"r":1.10}' in client.get(f"{APPS}/{app_id}/export", params={"seq": 1}).text
    document = '{"configurations": [{"name": "db", "config": {"r": 2.50}}]}'
    plan = client.post(f"{APPS}/{app_id}/import/plan", content='{"document": ' + document + '}', headers=JSON)
    assert plan.status_code == 200 and '"value":2.50' in plan.text
    token = plan.json()["token"]
    applied = client.post(f"{APPS}/{app_id}/import/apply", headers=JSON,
                          content='{"token": "' + token + '", "document": ' + document + '}')
    assert applied.status_code == 200 and '"value":2.50' in applied.text
    assert '"r": 2.50' in client.get(f"{CONFIGS}/{id}").text


def test_documents_and_change_sets_are_held_to_the_limits_with_pointers(client, settings, billing):
    app_id, id = billing
    settings.max_config_keys = 2  # the app reads its settings object
    big = {"a": 1, "b": 2, "c": 3}
    plan = client.post(f"{APPS}/{app_id}/import/plan",
                       json={"document": {"configurations": [{"name": "x", "config": {}, "overrides": {"p": big}}]}})
    assert assert_problem(plan, 422)["errors"][0]["pointer"] == "/document/configurations/0/overrides/p"
    changes = client.post(f"{APPS}/{app_id}/changesets", json={"changes": [
        {"action": "create", "name": "x", "config": {}}, {"action": "create", "name": "y", "config": big}]})
    assert assert_problem(changes, 422)["errors"][0]["pointer"] == "/changes/1/config"
    assert_problem(client.post(f"{APPS}/{app_id}/changesets", json={"changes": []}), 422)
    assert_problem(client.post(f"{APPS}/{app_id}/import/apply", json={"document": {"configurations": []},
                                                                       "token": "xyz"}), 422)


@pytest.mark.parametrize("body, pointer", [
    ({"mode": None, "document": {"configurations": []}}, "/mode"),
    ({"document": {"configurations": [{"name": "a", "config": {}, "overrides": None}]}},
     "/document/configurations/0/overrides"),
    ({"document": {"seq": None, "configurations": []}}, "/document/seq"),
])
def test_a_null_where_the_contract_allows_none_is_422_at_the_member(client, billing, body, pointer):
    app_id, id = billing
    problem = assert_problem(client.post(f"{APPS}/{app_id}/import/plan", json=body), 422)
    assert problem["errors"][0]["pointer"] == pointer


def test_a_change_sets_members_may_be_omitted_but_not_null_and_comments_may_be_null(client, billing):
    app_id, id = billing
    nulled = client.post(f"{APPS}/{app_id}/changesets",
                         json={"changes": [{"action": "delete", "configuration_id": id, "if_match": None}]})
    assert assert_problem(nulled, 422)["errors"][0]["pointer"] == "/changes/0/if_match"
    written = client.post(f"{APPS}/{app_id}/changesets",
                          json={"changes": [{"action": "create", "name": "x", "comments": None, "config": {}}]})
    assert written.status_code == 200, written.text


def test_a_documents_seq_and_epoch_are_integers_never_a_boolean_a_string_or_a_fraction(client, billing):
    app_id = client.get("/api/v1/applications").json()["items"][0]["id"]
    for path in ("plan", "apply"):
        for member, value in (("seq", False), ("seq", "0"), ("seq", 0.0), ("epoch", True), ("epoch", "1"),
                              ("epoch", 1.0)):
            body = {"document": {member: value, "configurations": []}, "token": "0" * 64}
            answer = client.post(f"/api/v1/applications/{app_id}/import/{path}", json=body)
            assert answer.status_code == 422, (member, value, answer.text)
            assert answer.json()["errors"][0]["pointer"] == f"/document/{member}"
    planned = client.post(f"/api/v1/applications/{app_id}/import/plan",
                          json={"document": {"seq": 0, "epoch": 1, "configurations": []}})
    assert planned.status_code == 200, planned.text


def test_two_overrides_naming_one_environment_in_two_normal_forms_are_422_not_one_lost(client, billing):
    """`café` in NFC and in NFD name one environment: the second override was taken for it, the first dropped."""
    app_id, _ = billing
    overrides = '{"caf\\u00e9-n": {"first": 1}, "cafe\\u0301-n": {"second": 2}}'
    document = '{"configurations": [{"name": "db", "config": {}, "overrides": ' + overrides + '}]}'
    plan = client.post(f"{APPS}/{app_id}/import/plan", content='{"document": ' + document + '}', headers=JSON)
    assert assert_problem(plan, 422)["errors"][0]["pointer"] == "/document/configurations/0/overrides/cafe\u0301-n"


def test_a_configuration_as_deep_as_a_put_writes_it_round_trips_through_an_export_an_import_and_a_change_set(
        client, settings, billing):
    """The depth limit is a body's, and an import holds a `config` three levels deeper than a PUT does (an
    override's patch four, a change set's two): a configuration 29 levels deep, written by a PUT, exported, could
    not be planned back (422 "JSON may nest at most 32 levels deep"). Each document is held to a PUT's depth."""
    app_id, id = billing
    deepest = {}
    for _ in range(settings.max_json_depth - 2):  # the PUT body is depth 1, its config 2: 30 more levels
        deepest = {"k": deepest}
    current = client.get(f"{CONFIGS}/{id}")
    assert client.put(f"{CONFIGS}/{id}", json={"name": "db", "config": deepest},
                      headers={"If-Match": current.headers["ETag"]}).status_code == 200
    too_deep = {"k": deepest}
    assert assert_problem(client.put(f"{CONFIGS}/{id}", json={"name": "db", "config": too_deep}), 422)
    document = client.get(f"{APPS}/{app_id}/export").json()
    document["configurations"][0]["overrides"] = {}
    plan = client.post(f"{APPS}/{app_id}/import/plan", json={"document": document})
    assert plan.status_code == 200 and [i["action"] for i in plan.json()["items"]] == ["unchanged"]
    message = f"JSON may nest at most {settings.max_json_depth} levels deep."
    for deeper in (too_deep, {"k": {"k": too_deep}}):  # one level too deep, and more (the body's own check)
        document["configurations"][0]["config"] = deeper
        refused = assert_problem(client.post(f"{APPS}/{app_id}/import/plan", json={"document": document}), 422)
        assert refused["errors"][0]["pointer"].startswith("/document/configurations/0/config/k/k")
        assert refused["errors"][0]["message"] == message, refused
    changes = client.post(f"{APPS}/{app_id}/changesets", json={"changes": [
        {"action": "create", "name": "deep", "config": deepest}]})
    assert changes.status_code == 200, changes.text
    changes = client.post(f"{APPS}/{app_id}/changesets", json={"changes": [
        {"action": "create", "name": "deeper", "config": too_deep}]})
    assert assert_problem(changes, 422)["errors"][0]["pointer"].startswith("/changes/0/config/k")


def test_a_change_sets_if_none_match_is_a_requests_if_none_match(client, billing):
    """`if_none_match: "*"` makes a `set_override` create-only (412 once the override exists, nothing of the set
    written); tags refuse the versions they name, as the header does on a write."""
    app_id, id = billing
    env_id = client.post(ENVS, json={"name": "prod"}).json()["id"]
    sets = f"{APPS}/{app_id}/changesets"
    create_only = {"action": "set_override", "configuration_id": id, "environment_id": env_id, "patch": {"r": 2},
                   "if_none_match": "*"}
    first = client.post(sets, json={"changes": [create_only]})
    assert first.status_code == 200 and first.json()["results"][0]["version"] == 1
    again = assert_problem(client.post(sets, json={"changes": [
        {"action": "update", "configuration_id": id, "name": "db", "config": {"r": 9}}, create_only]}), 412)
    assert again["detail"].startswith("Change 1 (set_override): ")
    assert client.get(f"{CONFIGS}/{id}").json()["config"] == {"r": 3.14159265358979323846}  # nothing written
    refused = {"action": "update", "configuration_id": id, "name": "db", "config": {"r": 4},
               "if_none_match": f'W/"{id}.2"'}
    assert_problem(client.post(sets, json={"changes": [refused]}), 412)  # version 2 is current: refused
    assert client.post(sets, json={"changes": [{**refused, "if_none_match": f'"{id}.1"'}]}).status_code == 200
    nul = assert_problem(client.post(sets, json={"changes": [{**refused, "if_none_match": "\u0000"}]}), 422)
    assert nul["errors"][0]["pointer"] == "/changes/0/if_none_match"

