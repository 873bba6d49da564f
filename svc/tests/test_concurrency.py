"""Races over real HTTP against uvicorn with 2 workers on a real database: the database decides, exactly once."""

import asyncio
import itertools
from collections import Counter

import httpx
import pytest

from tools import harness
from tools.harness import APPS, CONFIGS

pytestmark = pytest.mark.integration

ROUNDS = 10


@pytest.fixture
def base(serve, clean):
    # Patient timeouts: these tests are about who wins a race, not about queueing under load.
    return serve(workers=2, **harness.PATIENT)


async def _put_race(base: str, n: int, name: str) -> tuple[Counter, dict, dict]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        app = (await client.post("/api/v1/applications", json={"name": name})).json()
        created = await client.post("/api/v1/configurations",
                                    json={"application_id": app["id"], "name": "db", "config": {"writer": -1}})
        etag = created.headers["etag"]
        config_id = created.json()["id"]

        async def put(i: int) -> httpx.Response:
            return await client.put(f"/api/v1/configurations/{config_id}", headers={"If-Match": etag},
                                    json={"name": "db", "config": {"writer": i}})

        responses = await asyncio.gather(*(put(i) for i in range(n)))
        statuses = Counter(r.status_code for r in responses)
        winners = [r.json() for r in responses if r.status_code == 200]
        stored = (await client.get(f"/api/v1/configurations/{config_id}")).json()
        return statuses, (winners[0] if winners else {}), stored


async def _post_race(base: str, n: int, name: str) -> Counter:
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=n), timeout=30) as client:
        responses = await asyncio.gather(*(client.post("/api/v1/applications", json={"name": name})
                                           for _ in range(n)))
        listed = (await client.get("/api/v1/applications", params={"name": name})).json()["items"]
        assert len(listed) == 1
        return Counter(r.status_code for r in responses)


def test_100_concurrent_puts_with_one_if_match_have_exactly_one_winner(base):
    for round in range(ROUNDS):
        statuses, winner, stored = asyncio.run(_put_race(base, 100, f"race-{round}"))
        assert statuses == {200: 1, 412: 99}, statuses
        assert stored["version"] == 2
        assert stored["config"] == winner["config"]


def test_50_concurrent_creates_of_one_name_have_exactly_one_winner(base):
    for round in range(ROUNDS):
        statuses = asyncio.run(_post_race(base, 50, f"same-name-{round}"))
        assert statuses == {201: 1, 409: 49}, statuses


DELETE_ROUNDS = 5
WRITERS = 12
OWNED = 6


async def _delete_under_writes(base: str, name: str) -> tuple[str, list[str], Counter, list, httpx.Response, int]:
    """WRITERS clients loop PUT and restore over an application's OWNED configurations; once they have all been
    writing (2 writes each, counted), the application is deleted. Each writer stops after a round it began once
    the deletion was acknowledged (both of that round's writes must be 404)."""
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=WRITERS + 1), timeout=60) as client:
        app_id = (await client.post(APPS, json={"name": name})).json()["id"]
        ids = []
        for i in range(OWNED):
            made = await client.post(CONFIGS, json={"application_id": app_id, "name": f"c{i}", "config": {"v": 0}})
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        statuses: Counter = Counter()
        written = 0
        busy, deleted = asyncio.Event(), asyncio.Event()

        async def writer(k: int) -> tuple[int, int]:
            nonlocal written
            for i in itertools.count(k):
                after_deletion = deleted.is_set()
                url = f"{CONFIGS}/{ids[i % OWNED]}"
                put = await client.put(url, json={"name": f"c{i % OWNED}", "config": {"writer": k, "i": i}})
                restore = await client.post(f"{url}/revisions/1/restore")
                statuses.update([("PUT", put.status_code), ("restore", restore.status_code)])
                written += 1
                if written >= 2 * WRITERS:
                    busy.set()
                if after_deletion:
                    return put.status_code, restore.status_code
            raise AssertionError("unreachable")

        async def delete() -> httpx.Response:
            await busy.wait()
            response = await client.delete(f"{APPS}/{app_id}")
            deleted.set()
            return response

        *last, deletion = await asyncio.gather(*(writer(k) for k in range(WRITERS)), delete())
        feed = await client.get(f"{APPS}/{app_id}/changes")
        return app_id, ids, statuses, last, deletion, feed.status_code


def test_deleting_an_application_while_its_configurations_are_written_is_204_and_the_writes_200_or_404(
        database_url, sql, clean):
    # Timeouts no machine reaches: a 503 here can only come from our own locking (a deadlock the retries did
    # not get past), and every deadlock, even one a retry got past, is in the log.
    service = harness.Service(database_url, 2, **harness.PATIENT)
    try:
        for round in range(DELETE_ROUNDS):
            app_id, ids, statuses, last, deletion, feed = asyncio.run(
                _delete_under_writes(service.base, f"doomed-{round}"))
            assert deletion.status_code == 204, deletion.text
            assert set(statuses) <= {("PUT", 200), ("PUT", 404), ("restore", 200), ("restore", 404)}, statuses
            assert statuses[("PUT", 200)] >= 2 * WRITERS and last == [(404, 404)] * WRITERS
            assert feed == 404
            sql.execute("SELECT (SELECT count(*) FROM applications WHERE id = %(app)s) AS applications,"
                        " (SELECT count(*) FROM configurations WHERE application_id = %(app)s) AS configurations,"
                        " (SELECT count(*) FROM changes WHERE application_id = %(app)s) AS changes,"
                        " (SELECT count(*) FROM configuration_revisions WHERE configuration_id = ANY(%(ids)s))"
                        " AS revisions", {"app": app_id, "ids": ids})
            assert sql.fetchone() == {"applications": 0, "configurations": 0, "changes": 0, "revisions": 0}
        assert "deadlock" not in service.log().lower()
    finally:
        service.stop()


async def _patch_race(base: str, n: int, name: str) -> tuple[Counter, list[int], dict, list[str]]:
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=n), timeout=30) as client:
        app = (await client.post("/api/v1/applications", json={"name": name})).json()
        created = (await client.post("/api/v1/configurations",
                                     json={"application_id": app["id"], "name": "db", "config": {"kept": True}})).json()
        path = f"/api/v1/configurations/{created['id']}"
        responses = await asyncio.gather(*(client.patch(path, json={"config": {f"writer-{i}": i}}) for i in range(n)))
        versions = sorted(r.json()["version"] for r in responses if r.status_code == 200)
        problems = [r.text for r in responses if r.status_code != 200]
        return Counter(r.status_code for r in responses), versions, (await client.get(path)).json(), problems


def test_50_concurrent_patches_of_different_keys_without_if_match_all_land_and_none_is_lost(base):
    for round in range(3):
        statuses, versions, stored, problems = asyncio.run(_patch_race(base, 50, f"patch-race-{round}"))
        assert statuses == {200: 50}, (statuses, problems)
        assert versions == list(range(2, 52))  # each merged into the version the one before it wrote
        assert stored["config"] == {"kept": True, **{f"writer-{i}": i for i in range(50)}}
        assert stored["version"] == 51
