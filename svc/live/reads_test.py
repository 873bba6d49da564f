import threading
from collections.abc import Awaitable

import pytest

from live import reads
from tools.harness import APPS, CONFIGS, HANG, until
from wire.problems import NotFound


def test_each_read_gives_the_answer_its_route_gives(client, application, configuration):
    app_id = application("billing")["id"]
    config_id = configuration(app_id, "db", {"n": 1.50})["id"]
    state = client.app.state
    for read, args, path in ((reads.configuration, (config_id,), f"{CONFIGS}/{config_id}?route=1"),
                             (reads.application, (app_id,), f"{APPS}/{app_id}"),
                             (reads.configurations_page, (app_id, 10, None, "db"),
                              f"{APPS}/{app_id}/configurations?limit=10&name=db"),
                             (reads.applications_page, (10, None, None), f"{APPS}?limit=10")):
        for _ in range(2):  # from the database, then (once the listener is up) from the read cache
            entry = client.portal.call(read, state, *args)
            routed = client.get(path)
            assert (entry.etag, entry.body) == (routed.headers.get("etag", ""), routed.content), path
    with pytest.raises(NotFound):
        client.portal.call(reads.configuration, state, "01JD3B7M2W8Y6Q4T0V9X1Z3B5C")


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


def test_a_waiter_of_an_effective_view_rechecks_on_each_change_that_may_alter_it_and_holds_while_it_does_not(
        client, application, configuration, monkeypatch):
    """An override of its configuration (anywhere) and any environment's change wake the view's waiters; each
    re-check that finds the same ETag keeps holding, and the first change of the view answers them."""
    app_id = application("billing")["id"]
    config_id = configuration(app_id, "db", {"host": "db"})["id"]
    prod = client.post("/api/v1/environments", json={"name": "prod"}).json()["id"]
    staging = client.post("/api/v1/environments", json={"name": "staging"}).json()["id"]
    override = f"{CONFIGS}/{config_id}/overrides/{prod}"
    assert client.put(override, json={"patch": {"host": "db.prod"}}).status_code == 201
    view = f"{CONFIGS}/{config_id}/effective?environment_id={prod}"
    etag = client.get(view).headers["etag"]
    checks = []

    def counted(state, id, environment_id):
        checks.append(id)
        return effective_configuration(state, id, environment_id)
    effective_configuration = reads.effective_configuration
    monkeypatch.setattr(reads, "effective_configuration", counted)

    answers = []
    held = threading.Thread(target=lambda: answers.append(client.get(view + "&wait=300",
                                                                     headers={"If-None-Match": etag})))
    held.start()
    until(lambda: client.get("/health").json()["waiters"] == 1, "the request held")
    for unchanged in (lambda: client.put(override, json={"patch": {"host": "db.prod"}}),  # the same patch again
                      lambda: client.put(f"{CONFIGS}/{config_id}/overrides/{staging}", json={"patch": {"x": 1}}),
                      lambda: client.post("/api/v1/environments", json={"name": "qa"})):
        before = len(checks)
        assert unchanged().status_code in (200, 201)
        until(lambda: len(checks) > before, "the waiter re-checked")
    assert answers == []
    client.put(override, json={"patch": {"host": "marker"}})
    held.join(HANG)  # not at the end of its wait (300 s)
    assert not held.is_alive() and answers[0].status_code == 200
    assert answers[0].json()["config"] == {"host": "marker"}, "answered by a write that left the view as it was"


def test_a_held_request_woken_by_a_change_reads_past_it_not_a_fetch_that_began_before_it():
    """A held request's every check is a read that begins then: woken by a write's notification, it must not join a
    fetch another request began before that notification (after the held request itself began), whose answer is
    older than the write."""
    import asyncio
    from types import SimpleNamespace

    from live.keys import Change
    from live.readcache import Entry, ReadCache, began
    from live.waiters import Waiters

    async def scenario():
        cache, waiters = ReadCache(max_bytes=10_000), Waiters(max_waiters=10)

        async def sync(tick: int) -> bool:
            await asyncio.sleep(0)
            return True

        cache.connected(sync)
        waiters.connected()
        table, gate = {"v": 1}, asyncio.Event()
        gate.set()

        fetched = []  # the versions the fetches read, as they read them

        async def fetch() -> Entry:
            value = table["v"]
            fetched.append(value)
            await gate.wait()
            return Entry(f'"C.{value}"', str(value).encode())

        def read() -> Awaitable:
            return cache.read("c:C", fetch)

        change = Change(("c:C",), ())
        state = SimpleNamespace(read_cache=cache, waiters=waiters)
        request = SimpleNamespace(app=SimpleNamespace(state=state), receive=None,
                                  scope={"type": "http", "path": "/c/C", "query_string": b"wait=300",
                                         "headers": [(b"if-none-match", b'"C.1"')]})

        async def held():
            began.set(cache.tick())
            return await reads._conditional(request, "c:C", read, 300, None)

        async def other_request():
            began.set(cache.tick())
            return await read()

        await read()  # kept
        holding = asyncio.create_task(held())
        while not waiters.count:
            await asyncio.sleep(0)
        for _ in range(10):  # its check done: it waits
            await asyncio.sleep(0)
        cache.apply(change)  # something made it stale (no waiter woken): the next read fetches
        gate.clear()
        fetching = asyncio.create_task(other_request())  # a fetch that reads version 1, then waits
        while len(fetched) < 2:  # (the first read's, then this one's, which has read version 1)
            await asyncio.sleep(0)
        table["v"] = 2  # a write commits; its notification arrives while that fetch is out
        cache.apply(change)
        waiters.wake(change)
        for _ in range(10):
            await asyncio.sleep(0)
        gate.set()
        assert (await fetching).etag == '"C.1"'
        response = await asyncio.wait_for(holding, HANG)  # not at the end of its wait (300 s)
        return response.status_code, response.headers.get("etag")

    assert asyncio.run(scenario()) == (200, '"C.2"')


def test_an_effective_view_by_names_a_key_may_not_see_costs_the_trip_a_pair_never_asked_does(client, application,
                                                                                          monkeypatch):
    """A key limited to another application asks for a view by names. A pair another tenant polls is known to the
    read cache, so its 404 would come without the trip to the database a pair of names nothing has costs the first
    time it is asked: the clock would tell an application's name from none. Each answers after one look-up of the
    names, the first time and after."""
    from live import access
    from wire.principals import Principal

    application("billing")
    assert client.post("/api/v1/environments", json={"name": "prod"}).status_code == 201
    polled = {"application": "billing", "environment": "prod"}
    state = client.app.state
    run, looked_up = state.database.run, []

    async def counted(fn, *args, **kwargs):
        looked_up.append(fn.__name__)
        return await run(fn, *args, **kwargs)
    monkeypatch.setattr(state.database, "run", counted)

    def polled_from_the_cache() -> bool:  # another tenant's poll, answered from what the worker keeps
        looked_up.clear()
        assert client.get("/api/v1/effective", params=polled).status_code == 200
        return looked_up == []
    until(polled_from_the_cache, "the polled view answered from the read cache")
    monkeypatch.setattr(access, "of", lambda scope: Principal("other", frozenset({"read"}), frozenset({"X"})))
    trips = []
    for names, accepts in ((polled, None), ({"application": "nothing", "environment": "prod"}, None),
                           ({"application": "nothing", "environment": "prod"}, None),
                           (polled, "max-stale"), ({"application": "none", "environment": "prod"}, "max-stale")):
        looked_up.clear()
        answer = client.get("/api/v1/effective", params=names, headers={"Cache-Control": accepts} if accepts else {})
        assert answer.status_code == 404 and "No application has this name" in answer.json()["detail"], answer.text
        trips.append(list(looked_up))
    assert trips == [["named"]] * 5, trips  # (with max-stale, a stale copy of what is kept: a trip all the same)


def test_the_requests_held_on_a_feed_that_one_write_wakes_read_its_page_once(client, application, configuration,
                                                                               monkeypatch):
    """Ten requests held on an application's change feed are woken by one write: they read the page after their
    position once between them (`ReadCache.shared`), and each is answered with the write's change. Before, each
    read it for itself: 1,000 of them, 1,000 reads of the database for one write."""
    from repositories import changes

    app_id = application("billing")["id"]
    made = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {"n": 1}})
    pages = []

    def counted(cur, *args, **kwargs):
        pages.append(args)
        return page(cur, *args, **kwargs)
    page = changes.page
    monkeypatch.setattr(changes, "page", counted)
    answers = []
    held = [threading.Thread(target=lambda: answers.append(client.get(
        f"{APPS}/{app_id}/changes", params={"after": 1, "wait": 300}))) for _ in range(10)]
    for thread in held:
        thread.start()
    until(lambda: client.get("/health").json()["waiters"] == 10, "the requests held")
    before = len(pages)
    assert client.put(f"{CONFIGS}/{made.json()['id']}", json={"name": "db", "config": {"n": 2}},
                      headers={"If-Match": made.headers["etag"]}).status_code == 200
    for thread in held:
        thread.join(HANG)  # not at the end of their wait (300 s)
    assert len(answers) == 10 and {response.status_code for response in answers} == {200}
    assert {tuple((item["seq"], item["version"]) for item in response.json()["items"]) for response in answers} \
        == {((2, 2),)}
    assert pages[before:] == [(app_id, 1)]
