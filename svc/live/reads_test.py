import threading

from tools.harness import APPS, CONFIGS, HANG, until


def test_a_truncate_answers_the_requests_held_on_what_it_removed_at_once(client, sql):
    app_id = client.post(APPS, json={"name": "held"}).json()["id"]
    made = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}})
    answers = []
    held = threading.Thread(target=lambda: answers.append(client.get(
        f"{CONFIGS}/{made.json()['id']}", params={"wait": 300}, headers={"If-None-Match": made.headers["etag"]})))
    held.start()
    until(lambda: client.get("/health").json()["waiters"] == 1, "the request held")
    sql.execute("TRUNCATE applications, configurations CASCADE")  # no row trigger: the 'reset' notification
    held.join(HANG)  # not at the end of its wait (300 s)
    assert not held.is_alive() and answers[0].status_code == 404
