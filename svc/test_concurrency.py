"""Races over real HTTP against uvicorn with 2 workers on a real database: the database decides, exactly once."""

import asyncio
from collections import Counter

import httpx
import pytest

pytestmark = pytest.mark.integration

ROUNDS = 10


@pytest.fixture
def base(serve, clean):
    # A generous acquire timeout: these tests are about who wins a race, not about queueing under load.
    return serve(workers=2, POOL_ACQUIRE_TIMEOUT="10")


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
