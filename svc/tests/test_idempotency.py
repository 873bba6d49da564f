"""Idempotency-Key: a write sent again with its key answers what the first answered and writes nothing more."""

import asyncio
import uuid

import httpx
import pytest

from tools.harness import APPS, CONFIGS, PATIENT, assert_problem

pytestmark = pytest.mark.integration


def fresh() -> str:
    return str(uuid.uuid4())


def test_a_put_sent_again_with_its_key_answers_the_same_and_writes_once(client, application, configuration):
    config = configuration(application()["id"])
    key = {"Idempotency-Key": fresh()}
    body = {"name": "database", "config": {"pool": 10}}
    first = client.put(f"{CONFIGS}/{config['id']}", json=body, headers=key)
    again = client.put(f"{CONFIGS}/{config['id']}", json=body, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.headers["etag"] == first.headers["etag"] and again.content == first.content
    # The retry is told it wrote nothing (the write it is for happened before); the first answer is not marked.
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert client.get(f"{CONFIGS}/{config['id']}").json()["version"] == 2  # written once
    other = client.put(f"{CONFIGS}/{config['id']}", json=body, headers={"Idempotency-Key": fresh()})
    assert other.json()["version"] == 3  # another key is another write


def test_the_same_key_with_another_request_is_422_and_writes_nothing(client, application, configuration):
    config = configuration(application()["id"])
    key = {"Idempotency-Key": fresh()}
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {"a": 1}}, headers=key)
    refused = client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {"a": 2}}, headers=key)
    problem = assert_problem(refused, 422)
    assert [e["pointer"] for e in problem["errors"]] == ["#/header/Idempotency-Key"]
    assert client.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"a": 1}
    # Preconditions are part of the request: the same body with another If-Match is another request.
    tagged = client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {"a": 1}},
                        headers=key | {"If-Match": '"x"'})
    assert_problem(tagged, 422)


def test_create_delete_and_restore_sent_again_each_happen_once(client, application):
    key = {"Idempotency-Key": fresh()}
    made = client.post(APPS, json={"name": "billing"}, headers=key)
    again = client.post(APPS, json={"name": "billing"}, headers=key)
    assert made.status_code == again.status_code == 201 and made.json() == again.json()
    assert made.headers["location"] == again.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in made.headers
    assert len(client.get(APPS, params={"name": "billing"}).json()["items"]) == 1

    app_id = made.json()["id"]
    config = client.post(CONFIGS, json={"application_id": app_id, "name": "c", "config": {"v": 1}}).json()
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "c", "config": {"v": 2}})
    restore = {"Idempotency-Key": fresh()}
    first = client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore", headers=restore)
    second = client.post(f"{CONFIGS}/{config['id']}/revisions/1/restore", headers=restore)
    assert first.json()["version"] == second.json()["version"] == 3

    gone = {"Idempotency-Key": fresh()}
    deleted = client.delete(f"{CONFIGS}/{config['id']}", headers=gone)
    assert deleted.status_code == 204 and "idempotent-replayed" not in deleted.headers
    replayed = client.delete(f"{CONFIGS}/{config['id']}", headers=gone)
    assert replayed.status_code == 204 and replayed.headers["idempotent-replayed"] == "true"  # the first answer again
    assert client.delete(f"{CONFIGS}/{config['id']}").status_code == 404  # without its key: judged anew


def test_an_error_is_not_kept_and_a_key_is_per_path(client, application, configuration):
    config = configuration(application()["id"])
    key = {"Idempotency-Key": fresh()}
    stale = {"If-Match": f'"{config["id"]}.9"'}
    assert client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {}},
                      headers=key | stale).status_code == 412
    assert client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {}},
                      headers=key | stale).status_code == 412  # judged again: nothing was written or kept
    assert "idempotent-replayed" not in client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {}},
                                                   headers=key | stale).headers
    other = configuration(application(name="other")["id"])
    shared = {"Idempotency-Key": fresh()}
    assert client.put(f"{CONFIGS}/{config['id']}", json={"name": "database", "config": {}}, headers=shared).status_code == 200
    assert client.put(f"{CONFIGS}/{other['id']}", json={"name": "database", "config": {}}, headers=shared).status_code == 200


@pytest.mark.parametrize("value", ["", "\"\"", 'a"b', "a\\b", "k" * 256, "é"])
def test_a_key_that_is_not_one_is_422(client, application, value):
    response = client.post(APPS, json={"name": "x"}, headers={"Idempotency-Key": value.encode("utf-8")})
    problem = assert_problem(response, 422)
    assert [e["pointer"] for e in problem["errors"]] == ["#/header/Idempotency-Key"]


def test_a_key_in_quotes_as_the_draft_writes_it_is_the_same_key_and_two_keys_are_422(client):
    key = fresh()
    made = client.post(APPS, json={"name": "quoted"}, headers={"Idempotency-Key": f'"{key}"'})
    again = client.post(APPS, json={"name": "quoted"}, headers={"Idempotency-Key": key})
    assert made.status_code == again.status_code == 201 and made.json()["id"] == again.json()["id"]
    two = client.post(APPS, json={"name": "two"}, headers=[("Idempotency-Key", fresh()), ("Idempotency-Key", fresh())])
    assert_problem(two, 422)


def test_twenty_concurrent_requests_with_one_key_write_once_and_answer_alike(serve, clean):
    base = serve(**PATIENT)  # twenty at once queue on one key, and each must be answered alike

    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=20)) as http:
            app_id = (await http.post(APPS, json={"name": "race"})).json()["id"]
            config = (await http.post(CONFIGS, json={"application_id": app_id, "name": "c", "config": {}})).json()
            key = {"Idempotency-Key": fresh()}
            answers = await asyncio.gather(*(http.put(f"{CONFIGS}/{config['id']}", headers=key,
                                                      json={"name": "c", "config": {"v": 1}}) for _ in range(20)))
            return answers, (await http.get(f"{CONFIGS}/{config['id']}")).json()

    answers, current = asyncio.run(scenario())
    assert {(a.status_code, a.headers["etag"], a.content) for a in answers} == {
        (200, answers[0].headers["etag"], answers[0].content)}
    # One wrote; the nineteen that waited for it are its replays.
    assert sorted(a.headers.get("idempotent-replayed") or "" for a in answers) == [""] + ["true"] * 19
    assert current["version"] == 2
