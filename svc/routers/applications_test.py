APPS = "/api/v1/applications"


def test_create_application_answers_201_with_location(client):
    response = client.post(APPS, json={"name": "billing", "comments": "x"})
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{APPS}/{body['id']}"
    assert body["name"] == "billing" and body["comments"] == "x" and body["configuration_ids"] == []


def test_list_applications_answers_a_page(client):
    client.post(APPS, json={"name": "a"})
    page = client.get(APPS, params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is None


def test_get_update_delete_application(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    assert client.get(f"{APPS}/{app_id}").json()["name"] == "a"
    assert client.put(f"{APPS}/{app_id}", json={"name": "b", "comments": "c"}).json()["comments"] == "c"
    assert client.delete(f"{APPS}/{app_id}").status_code == 204
    assert client.get(f"{APPS}/{app_id}").status_code == 404


def test_update_application_refuses_read_only_fields(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    response = client.put(f"{APPS}/{app_id}", json={"name": "a", "updated_at": "2026-01-01T00:00:00Z"})
    assert response.status_code == 422
