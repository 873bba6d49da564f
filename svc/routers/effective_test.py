from tools.harness import APPS, CONFIGS

ENVS = "/api/v1/environments"


def test_compare_writes_the_patchs_numbers_exactly(client):
    app_id = client.post(APPS, json={"name": "billing"}).json()["id"]
    config = client.post(CONFIGS, content='{"application_id": "' + app_id + '", "name": "db", "config": {"r": 1.10}}',
                         headers={"Content-Type": "application/json"}).json()
    env_id = client.post(ENVS, json={"name": "prod"}).json()["id"]
    client.put(f"{CONFIGS}/{config['id']}/overrides/{env_id}", content='{"patch": {"r": 3.14159265358979323846}}',
               headers={"Content-Type": "application/json"})
    response = client.get(f"{CONFIGS}/{config['id']}/compare", params={"to": env_id})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert '"value":3.14159265358979323846' in response.text  # not a float, not a string
    whole = client.get(f"{APPS}/{app_id}/compare", params={"to": env_id})
    assert '"value":3.14159265358979323846' in whole.text


def test_views_by_id_and_by_names_answer_the_same_application(client):
    app_id = client.post(APPS, json={"name": "billing"}).json()["id"]
    client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {"a": 1}})
    env_id = client.post(ENVS, json={"name": "prod"}).json()["id"]
    by_id = client.get(f"{APPS}/{app_id}/effective", params={"environment_id": env_id})
    by_names = client.get("/api/v1/effective", params={"application": "billing", "environment": "prod"})
    assert by_id.status_code == by_names.status_code == 200 and by_id.content == by_names.content
    assert client.get("/api/v1/effective", params={"application": "billing"}).status_code == 422
