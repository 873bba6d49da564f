"""Environments, overrides and effective views through the HTTP API: the flows a team runs, and the problems of
bad input (each a problem with a pointer, nothing half-written)."""

import json

import pytest

from tools.harness import APPS, CONFIGS, assert_problem

ENVS = "/api/v1/environments"
MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture
def env(client):
    def make(name: str, parent: dict | None = None) -> dict:
        response = client.post(ENVS, json={"name": name, "parent_id": parent and parent["id"]})
        assert response.status_code == 201, response.text
        assert response.headers["Location"] == f"{ENVS}/{response.json()['id']}"
        return response.json()
    return make


@pytest.fixture
def billing(client, application, configuration, env):
    """billing/database {host, port, pool {min, max}}; prod overrides host; prod-eu (under prod) overrides pool.max
    and removes port."""
    app = application("billing")
    config = configuration(app["id"], "database", {"host": "db", "port": 5432, "pool": {"min": 1, "max": 10}})
    prod = env("prod")
    eu = env("prod-eu", prod)
    for environment, patch in ((prod, '{"host": "db.prod"}'), (eu, '{"pool": {"max": 20.50}, "port": null}')):
        response = client.put(f"{CONFIGS}/{config['id']}/overrides/{environment['id']}",
                              content=f'{{"patch": {patch}}}', headers={"Content-Type": "application/json"})
        assert response.status_code == 201, response.text
    return app, config, prod, eu


def test_the_effective_view_applies_the_chain_root_first_with_provenance_and_exact_numbers(client, billing):
    app, config, prod, eu = billing
    response = client.get(f"{CONFIGS}/{config['id']}/effective", params={"environment_id": eu["id"]})
    assert response.status_code == 200, response.text
    assert '"max":20.50' in response.text  # the number as written, not through a float
    view = response.json()
    assert view["config"] == {"host": "db.prod", "pool": {"min": 1, "max": 20.5}}
    assert view["provenance"] == [
        {"environment_id": None, "environment": None, "pointers": ["/pool/min"], "removed": []},
        {"environment_id": prod["id"], "environment": "prod", "pointers": ["/host"], "removed": []},
        {"environment_id": eu["id"], "environment": "prod-eu", "pointers": ["/pool/max"], "removed": ["/port"]}]
    etag = response.headers["ETag"]
    assert client.get(f"{CONFIGS}/{config['id']}/effective", params={"environment_id": eu["id"]},
                      headers={"If-None-Match": etag}).status_code == 304
    # reading the configuration without an environment answers what it always did
    assert client.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"host": "db", "port": 5432,
                                                                         "pool": {"min": 1, "max": 10}}


def test_the_views_etag_changes_exactly_when_the_view_does(client, billing):
    app, config, prod, eu = billing
    url, params = f"{CONFIGS}/{config['id']}/effective", {"environment_id": eu["id"]}
    before = client.get(url, params=params).headers["ETag"]
    # setting prod's override to what it is already: a new version, the same view
    current = client.get(f"{CONFIGS}/{config['id']}/overrides/{prod['id']}")
    response = client.put(f"{CONFIGS}/{config['id']}/overrides/{prod['id']}", json={"patch": {"host": "db.prod"}},
                          headers={"If-Match": current.headers["ETag"]})
    assert response.status_code == 200 and response.json()["version"] == 2
    assert client.get(url, params=params).headers["ETag"] == before
    # re-parenting prod-eu to the root changes the view (host is config's again), and so its ETag
    response = client.put(f"{ENVS}/{eu['id']}", json={"name": "prod-eu", "parent_id": None})
    assert response.status_code == 200
    after = client.get(url, params=params)
    assert after.headers["ETag"] != before and after.json()["config"]["host"] == "db"


def test_by_names_a_service_reads_all_its_views_or_one(client, billing, configuration):
    app, config, prod, eu = billing
    configuration(app["id"], "cache", {"ttl": 5})
    every = client.get("/api/v1/effective", params={"application": "billing", "environment": "prod-eu"})
    assert every.status_code == 200, every.text
    assert [view["name"] for view in every.json()["configurations"]] == ["database", "cache"]
    one = client.get("/api/v1/effective", params={"application": "billing", "environment": "prod-eu",
                                                  "configuration": "cache"})
    assert [view["config"] for view in one.json()["configurations"]] == [{"ttl": 5}]
    by_id = client.get(f"{APPS}/{app['id']}/effective", params={"environment_id": eu["id"]})
    assert by_id.json() == every.json() and by_id.headers["ETag"] == every.headers["ETag"]
    for params in ({"application": "nope", "environment": "prod"}, {"application": "billing", "environment": "no"},
                   {"application": "billing", "environment": "prod", "configuration": "nope"}):
        assert_problem(client.get("/api/v1/effective", params=params), 404)


def test_compare_two_environments_as_a_json_patch_with_provenance(client, billing):
    app, config, prod, eu = billing
    response = client.get(f"{CONFIGS}/{config['id']}/compare", params={"from": prod["id"], "to": eu["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["patch"] == [{"op": "replace", "path": "/pool/max", "value": 20.5},
                                        {"op": "remove", "path": "/port"}]
    assert '"value":20.50' in response.text
    # Each side names the layers of what differs: prod-eu's says it removed the port that config set.
    assert response.json()["to_provenance"] == [
        {"environment_id": eu["id"], "environment": "prod-eu", "pointers": ["/pool/max"], "removed": ["/port"]}]
    whole = client.get(f"{APPS}/{app['id']}/compare", params={"to": prod["id"]}).json()
    assert whole["from_environment_id"] is None
    assert whole["configurations"][0]["patch"] == [{"op": "replace", "path": "/host", "value": "db.prod"}]


def test_override_changes_are_in_the_feed_naming_the_environment(client, billing):
    app, config, prod, eu = billing
    feed = client.get(f"{APPS}/{app['id']}/changes").json()["items"]
    assert [(c["kind"], c["environment"]) for c in feed] == [("created", None), ("created", "prod"),
                                                              ("created", "prod-eu")]
    assert client.delete(f"{CONFIGS}/{config['id']}").status_code == 204
    feed = client.get(f"{APPS}/{app['id']}/changes", params={"after": 3}).json()["items"]
    assert sorted(c["environment"] or "" for c in feed) == ["", "prod", "prod-eu"] and feed[-1]["environment"] is None
    assert client.delete(f"{ENVS}/{eu['id']}").status_code == 204  # its overrides went with the configuration


@pytest.mark.parametrize("body, pointer", [
    ({"patch": []}, "/patch"),
    ({"patch": "x"}, "/patch"),
    ({"patch": {"a": float("nan")}}, None),
    ({}, "/patch"),
])
def test_an_override_that_is_not_an_object_is_refused_with_a_pointer(client, billing, body, pointer):
    app, config, prod, eu = billing
    response = client.put(f"{CONFIGS}/{config['id']}/overrides/{prod['id']}",
                          content=json.dumps(body, allow_nan=True), headers={"Content-Type": "application/json"})
    problem = assert_problem(response, 422)
    if pointer:
        assert problem["errors"][0]["pointer"] == pointer
    assert client.get(f"{CONFIGS}/{config['id']}/overrides/{prod['id']}").json()["version"] == 1


def test_tree_rules_and_holders_answer_problems(client, billing, env):
    app, config, prod, eu = billing
    cycle = client.put(f"{ENVS}/{prod['id']}", json={"name": "prod", "parent_id": eu["id"]})
    assert assert_problem(cycle, 422)["errors"][0]["pointer"] == "/parent_id"
    unknown = client.post(ENVS, json={"name": "x", "parent_id": MISSING})
    assert assert_problem(unknown, 422)["errors"][0]["pointer"] == "/parent_id"
    assert_problem(client.post(ENVS, json={"name": "prod"}), 409)
    held = assert_problem(client.delete(f"{ENVS}/{prod['id']}"), 409)
    assert "prod-eu" in held["detail"]
    assert "1 override(s) of configurations in it (billing/database)" in held["detail"]
    stale = client.put(f"{ENVS}/{prod['id']}", json={"name": "p"}, headers={"If-Match": f'"{prod["id"]}.9"'})
    assert_problem(stale, 412)
    assert client.get(f"{ENVS}/{prod['id']}").json()["name"] == "prod"


def test_an_override_has_revisions_restore_and_conditional_writes(client, billing):
    app, config, prod, eu = billing
    url = f"{CONFIGS}/{config['id']}/overrides/{prod['id']}"
    etag = client.get(url).headers["ETag"]
    assert etag == f'"{config["id"]}.{prod["id"]}.1"'
    assert client.put(url, json={"patch": {"host": "x"}}, headers={"If-Match": etag}).status_code == 200
    assert_problem(client.put(url, json={"patch": {}}, headers={"If-Match": etag}), 412)
    assert_problem(client.put(url, json={"patch": {}}, headers={"If-None-Match": "*"}), 412)
    revisions = client.get(f"{url}/revisions").json()["items"]
    assert [r["version"] for r in revisions] == [2, 1]
    restored = client.post(f"{url}/revisions/1/restore")
    assert restored.status_code == 200 and restored.json()["patch"] == {"host": "db.prod"}
    assert restored.json()["version"] == 3
    listed = client.get(f"{CONFIGS}/{config['id']}/overrides").json()
    assert sorted(o["environment_id"] for o in listed["items"]) == sorted([prod["id"], eu["id"]])
    assert client.delete(url, headers={"If-Match": restored.headers["ETag"]}).status_code == 204
    assert_problem(client.get(url), 404)
