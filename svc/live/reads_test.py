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


def kept(client, read) -> None:
    """`read()` until its answer is kept in the worker's read cache (once the listener is up)."""
    cache = client.app.state.read_cache

    def done() -> bool:
        before = len(cache.entries)
        read()
        return len(cache.entries) > before
    until(done, "an answer kept in the read cache")


def test_a_listing_filtered_by_the_name_None_is_not_the_unfiltered_listing(client, application, configuration):
    app_id = application("billing")["id"]
    configuration(app_id, "db")
    listing = f"{APPS}/{app_id}/configurations"
    kept(client, lambda: client.get(listing))
    kept(client, lambda: client.get(APPS))
    assert [c["name"] for c in client.get(listing).json()["items"]] == ["db"]
    assert client.get(listing, params={"name": "None"}).json()["items"] == []
    assert client.get(APPS, params={"name": "None"}).json()["items"] == []
