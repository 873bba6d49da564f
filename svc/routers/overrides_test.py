from tools.harness import APPS, CONFIGS

ENVS = "/api/v1/environments"


def _target(client):
    app_id = client.post(APPS, json={"name": "billing"}).json()["id"]
    config_id = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {"a": 1}}).json()["id"]
    env_id = client.post(ENVS, json={"name": "prod"}).json()["id"]
    return config_id, env_id, f"{CONFIGS}/{config_id}/overrides/{env_id}"


def test_put_override_answers_201_with_location_when_new_and_200_without_when_replaced(client):
    config_id, env_id, url = _target(client)
    created = client.put(url, json={"patch": {"a": 2}})
    assert created.status_code == 201 and created.headers["location"] == url
    assert created.headers["etag"] == f'"{config_id}.{env_id}.1"'
    assert "created" not in created.json()  # the repository's flag is no field of the contract
    replaced = client.put(url, json={"patch": {"a": None}}, headers={"If-Match": created.headers["etag"]})
    assert replaced.status_code == 200 and "location" not in replaced.headers
    assert replaced.json()["patch"] == {"a": None} and replaced.json()["version"] == 2


def test_list_revisions_restore_and_delete(client):
    config_id, env_id, url = _target(client)
    client.put(url, json={"patch": {"a": 2}})
    client.put(url, json={"patch": {"a": 3}})
    assert [o["environment_id"] for o in client.get(f"{CONFIGS}/{config_id}/overrides").json()["items"]] == [env_id]
    assert client.get(f"{url}/revisions/1").json()["patch"] == {"a": 2}
    restored = client.post(f"{url}/revisions/1/restore")
    assert restored.status_code == 200 and restored.json()["version"] == 3 and "location" not in restored.headers
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_if_match_star_is_false_where_no_override_exists_so_nothing_is_created(client):
    """RFC 9110 §13.1.1: `If-Match: *` is false when the resource has no current representation. A PUT or a restore
    that would create the override answers 412 and creates nothing, through the write lane and through the route
    (a percent-encoded path goes past the lane); once it exists, `*` accepts any version."""
    config_id, env_id, url = _target(client)
    routed = url.replace(f"/overrides/{env_id}", f"/overrides/%3{env_id[0]}{env_id[1:]}")  # the same path, encoded
    for path in (url, routed):
        refused = client.put(path, json={"patch": {"a": 2}}, headers={"If-Match": "*"})
        assert refused.status_code == 412 and "etag" not in refused.headers, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/revisions").status_code == 404  # never made
    created = client.put(url, json={"patch": {"a": 2}})
    assert created.status_code == 201
    assert client.put(url, json={"patch": {"a": 3}}, headers={"If-Match": "*"}).status_code == 200
    assert client.delete(url).status_code == 204
    refused = client.post(f"{url}/revisions/1/restore", headers={"If-Match": "*"})
    assert refused.status_code == 412, refused.text
    assert client.get(url).status_code == 404
    assert client.post(f"{url}/revisions/1/restore").status_code == 200  # without it, made again
