ENVS = "/api/v1/environments"


def test_create_environment_answers_201_with_location_and_etag(client):
    response = client.post(ENVS, json={"name": "prod", "comments": "x"})
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{ENVS}/{body['id']}"
    assert response.headers["etag"] == f'"{body["id"]}.1"'
    assert body["parent_id"] is None and body["comments"] == "x" and body["version"] == 1


def test_a_child_names_its_parent_and_an_absent_parent_on_update_makes_a_root(client):
    prod = client.post(ENVS, json={"name": "prod"}).json()
    eu = client.post(ENVS, json={"name": "prod-eu", "parent_id": prod["id"]}).json()
    assert eu["parent_id"] == prod["id"]
    moved = client.put(f"{ENVS}/{eu['id']}", json={"name": "eu"}).json()
    assert moved["parent_id"] is None and moved["name"] == "eu" and moved["version"] == 2


def test_list_get_and_delete_environment(client):
    env_id = client.post(ENVS, json={"name": "dev"}).json()["id"]
    page = client.get(ENVS, params={"name": "dev"}).json()
    assert [item["id"] for item in page["items"]] == [env_id] and page["next_cursor"] is None
    assert client.get(f"{ENVS}/{env_id}").json()["name"] == "dev"
    assert client.delete(f"{ENVS}/{env_id}").status_code == 204
    assert client.get(f"{ENVS}/{env_id}").status_code == 404


def test_update_environment_refuses_read_only_fields(client):
    env_id = client.post(ENVS, json={"name": "dev"}).json()["id"]
    assert client.put(f"{ENVS}/{env_id}", json={"name": "dev", "version": 7}).status_code == 422
