APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def test_create_get_update_delete_configuration(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    created = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {"x": 1}})
    assert created.status_code == 201 and created.headers["location"] == f"{CONFIGS}/{created.json()['id']}"
    config_id = created.json()["id"]
    assert client.get(f"{CONFIGS}/{config_id}").json()["config"] == {"x": 1}
    updated = client.put(f"{CONFIGS}/{config_id}", json={"name": "db", "config": {"x": 2}, "comments": "c"})
    assert updated.json()["config"] == {"x": 2} and updated.json()["comments"] == "c"
    assert client.delete(f"{CONFIGS}/{config_id}").status_code == 204
    assert client.get(f"{CONFIGS}/{config_id}").status_code == 404


def test_create_configuration_requires_config(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    response = client.post(CONFIGS, json={"application_id": app_id, "name": "db"})
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/config"


def test_list_application_configurations_by_name(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    for name in ("db", "cache"):
        client.post(CONFIGS, json={"application_id": app_id, "name": name, "config": {}})
    page = client.get(f"{APPS}/{app_id}/configurations", params={"name": "cache"}).json()
    assert [c["name"] for c in page["items"]] == ["cache"] and page["next_cursor"] is None
