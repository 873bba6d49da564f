"""Fault tests F12-F17 and F21: the service on a real PostgreSQL primary with a synchronous standby
(tools/replication.py), through a multi-host DATABASE_URL with target_session_attrs=read-write, as its users run it
past one machine; F17 with an asynchronous standby, which loses acknowledged writes in a failover, and nothing said
before may lie after; F21 a planned switchover, which loses nothing, and renames nothing.

Each kills, freezes, promotes or restarts servers under load and asserts what users rely on: no acknowledged write
lost, only 200/304/404/412/503 (never a hang), every watcher gets the next change, 0 stale reads (the
linearizability checker), and a stop within its bound. Traffic goes only to 127.0.0.1; everything started is
stopped by PID; every wait is counted work under a deadline only a hang reaches. Each prints its figures.
"""

import asyncio
import signal
import time

import httpx
import pytest

from db import migrations
from tools import harness
from tools.harness import APPS, CONFIGS, HANG, until_held
from tools.harness import until_async as until
from tools.linearizability import History, stale_reads, version_of
from tools.replication import Pair, wait_until

pytestmark = pytest.mark.faults

# The bound on a request's wait for the database with these settings (database.py): a connection within
# POOL_ACQUIRE_TIMEOUT, CONNECT_TIMEOUT per host to open one, the work within STATEMENT_TIMEOUT_MS + 2 s.
SETTINGS = dict(POOL_ACQUIRE_TIMEOUT="2", CONNECT_TIMEOUT="2", STATEMENT_TIMEOUT_MS="3000", SHUTDOWN_GRACE_SECONDS="5")
BOUND = 2 + 2 * 2 + 3 + 2


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}", flush=True)


@pytest.fixture
def pair():
    with Pair("failover") as made:
        migrations.migrate(made.multi_host_url)
        yield made


@pytest.fixture
def service():
    started: list[harness.Service] = []

    def start(url: str, workers: int = 2, database_up: bool = True, **settings: str) -> harness.Service:
        started.append(harness.Service(url, workers, database_up=database_up, **(SETTINGS | settings)))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def setup(base: str, name: str, keys: int = 4) -> tuple[dict[str, str], str, str]:
    """An application with `keys` configurations for the writers, and one watched configuration: names by id, the
    watched one's id and ETag."""
    app_id = httpx.post(f"{base}/api/v1/applications", json={"name": name}, timeout=HANG).json()["id"]
    names = {}
    for i in range(keys):
        made = httpx.post(f"{base}/api/v1/configurations", json={"application_id": app_id, "name": f"c{i}", "config": {}},
                          timeout=HANG)
        names[made.json()["id"]] = f"c{i}"
    watched = httpx.post(f"{base}/api/v1/configurations", json={"application_id": app_id, "name": "watched",
                                                                  "config": {}}, timeout=HANG)
    return names, watched.json()["id"], watched.headers["etag"]


def lost_writes(history: History, pair: Pair) -> list[tuple[str, int, int]]:
    """Each key whose newest acknowledged version the primary does not have: (key, acknowledged, stored)."""
    newest: dict[str, int] = {}
    for op in history.ops:
        if op.kind == "write":
            newest[op.key] = max(newest.get(op.key, 0), op.version)
    stored = dict(pair.sql(pair.primary, "SELECT id, version FROM configurations WHERE id = ANY(%s)", (list(newest),)))
    return [(key, version, stored.get(key, 0)) for key, version in newest.items() if stored.get(key, 0) < version]


async def watchers(base: str, config_id: str, etag: str, count: int, renamed: list[str]) -> list[asyncio.Task]:
    """`count` clients holding `wait` on a configuration nobody else writes, each asking again after a 304 or a 503
    as a client does; each task ends with the ETag of the first new version it sees. An answer of the same version
    under another ETag (its version as written lost, and the same number written again) is put in `renamed`, and
    the client holds that one, as a client does."""
    async def watch(http: httpx.AsyncClient) -> str:
        held = etag
        while True:
            try:
                response = await http.get(f"/api/v1/configurations/{config_id}", params={"wait": 60},
                                          headers={"If-None-Match": held})
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 200:
                if version_of(response.headers["etag"]) == version_of(held):
                    renamed.append(response.headers["etag"])
                    held = response.headers["etag"]
                    continue
                return response.headers["etag"]
            if response.status_code == 503:
                await asyncio.sleep(0.2)
            else:
                assert response.status_code == 304, response.status_code

    http = httpx.AsyncClient(base_url=base, timeout=90, limits=httpx.Limits(max_connections=count))
    tasks = [asyncio.create_task(watch(http)) for _ in range(count)]
    asyncio.get_running_loop().create_task(_close_when_done(http, tasks))
    return tasks


async def _close_when_done(http: httpx.AsyncClient, tasks: list[asyncio.Task]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    await http.aclose()


async def write_watched(base: str, config_id: str) -> str:
    """Write the watched configuration (again after each 503: the failover may not be over); its new ETag."""
    async with httpx.AsyncClient(base_url=base, timeout=HANG) as http:
        result: list[str] = []

        async def written() -> bool:
            try:
                response = await http.put(f"/api/v1/configurations/{config_id}",
                                          json={"name": "watched", "config": {"after": "failover"}})
            except httpx.HTTPError:
                return False
            if response.status_code == 200:
                result.append(response.headers["etag"])
            return bool(result)
        await until(written, "a write to the watched configuration after the failover")
        return result[0]


def failover(pair: Pair, service, name: str, fail, capsys, label: str, after=None) -> History:
    """Writers and readers on 2 workers and 20 watchers; `fail(pair)` (in a thread) once 50 writes are done, then
    as much work again; `after(pair)` last. Checks no acknowledged write lost, no stale read, only 503 among the
    failures, and every watcher given the change written after the failover; and, the standby being synchronous, that
    the promotion lost nothing handed out before the load: the watchers' ETag and the feed position after the setup
    name what they named (no watcher answered the same version again, no follower of that position sent back)."""
    server = service(pair.multi_host_url)
    names, watched, etag = setup(server.base, name)
    app_id = httpx.get(f"{server.base}{CONFIGS}/{watched}", timeout=HANG).json()["application_id"]
    position = httpx.get(f"{server.base}{APPS}/{app_id}/changes", params={"after": 0}, timeout=HANG).json()
    assert position["next_after"] == len(names) + 1 and position["epoch"] == 1, position
    history = History(server.base, names)
    marks: dict[str, float] = {}
    seen: list = []
    renamed: list[str] = []

    async def disturb() -> None:
        loop = asyncio.get_running_loop()
        tasks = await watchers(server.base, watched, etag, 20, renamed)
        await history.reached(writes=50)
        marks["fail"] = time.monotonic()
        await loop.run_in_executor(None, fail, pair)
        marks["promoted"] = time.monotonic()
        await history.reached(writes=history.writes + 50, reads=history.reads + 300)
        marks["written"] = time.monotonic()
        new = await write_watched(server.base, watched)
        marks["acknowledged"] = time.monotonic()
        seen.extend(await asyncio.wait_for(asyncio.gather(*tasks), HANG))
        marks["watchers"] = time.monotonic()
        seen.append(new)
        if after is not None:
            await loop.run_in_executor(None, after, pair)

    asyncio.run(history.run(writes=0, reads=0, within=3 * HANG, writers=8, readers=16, disturb=disturb))
    new = seen.pop()
    followed = httpx.get(f"{server.base}{APPS}/{app_id}/changes", timeout=HANG,
                         params={"after": position["next_after"], "epoch": position["epoch"], "limit": 1})
    stale, lost = stale_reads(history.ops), lost_writes(history, pair)
    first_write_after = min((op.end for op in history.ops if op.kind == "write" and op.start > marks["promoted"]),
                            default=float("inf"))
    report(capsys, f"{label}: {history.writes} writes, {history.reads} reads, {len(lost)} acknowledged writes lost, "
                   f"{len(stale)} stale reads, failures {history.failures}; writes answered again "
                   f"{first_write_after - marks['promoted']:.2f} s after the promotion; "
                   f"{sum(tag == new for tag in seen)}/20 watchers got the next change, the last "
                   f"{marks['watchers'] - marks['acknowledged']:.2f} s after its write was acknowledged; "
                   f"{len(renamed)} ETags renamed by the promotion, the feed position of before answered "
                   f"{followed.status_code}")
    assert not history.timed_out, "the run hung"
    assert not renamed, renamed[:5]  # a promotion that lost nothing changes no ETag
    assert followed.status_code == 200 and followed.json()["items"], followed.text
    assert not lost, lost
    assert not stale, stale[:5]
    assert set(history.failures) <= {"503"}, history.failures
    assert seen == [new] * 20
    return history


def test_f12_kill_9_of_the_primary_and_promotion_lose_no_acknowledged_write(pair, service, capsys):
    def fail(pair: Pair) -> None:
        pair.kill9(pair.primary)
        pair.promote(pair.standby)

    failover(pair, service, "f12", fail, capsys, "F12 kill -9 of the primary, standby promoted")


def test_f13_a_frozen_primary_holds_no_request_past_the_bound(pair, service, capsys):
    frozen: list[int] = []

    def fail(pair: Pair) -> None:
        frozen.append(pair.primary)
        pair.freeze(pair.primary)  # every process of it stopped: its kernel still completes handshakes
        pair.promote(pair.standby)

    # The frozen server stays frozen to the end: nothing but the service's own bounds can free its connections.
    # httpx's timeout (30 s) is far above BOUND: a request held by the frozen server fails the run as ReadTimeout.
    failover(pair, service, "f13", fail, capsys, "F13 primary frozen (SIGSTOP), standby promoted")
    assert frozen


def test_f14_the_old_primary_back_read_write_beside_the_new_one_is_not_used(pair, service, capsys):
    old: list = []

    def fail(pair: Pair) -> None:
        old.append(pair.primary)
        pair.kill9(pair.primary)
        pair.promote(pair.standby)
        pair.restart_read_write(old[0])  # no fencing: two primaries, the old one first in DATABASE_URL
        old.append(pair.sql(old[0], "SELECT now()")[0][0])
        # The pool's connections end (as they do: a restart, a network blip), so new ones are made while both
        # accept writes: libpq alone would take the old primary, first in the list, and keep the listener on the new.
        pair.sql(pair.primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'config-service'")

    failover(pair, service, "f14", fail, capsys, "F14 the old primary restarted read-write beside the new")
    node, restarted = old
    written_to_old = pair.sql(node, "SELECT count(*) FROM changes WHERE changed_at >= %s", (restarted,))[0][0]
    report(capsys, f"F14 timelines {[pair.timeline(n) for n in (0, 1)]}; changes the old primary took after it came "
                   f"back: {written_to_old}")
    assert pair.in_recovery(0) is False and pair.in_recovery(1) is False  # really two primaries
    assert written_to_old == 0


def test_f15_the_synchronous_standby_lost_bounds_every_write_and_a_retry_with_its_key_applies_it_once(
        pair, service, capsys):
    server = service(pair.multi_host_url, workers=1)
    names, _, _ = setup(server.base, "f15", keys=1)
    config_id = next(iter(names))
    pair.lose_standby()  # no orchestrator: commits now wait for a standby that is gone
    keys = [f"f15-{i}" for i in range(8)]

    async def put_all(base: str) -> list[tuple[int | str, float, str]]:
        async with httpx.AsyncClient(base_url=base, timeout=HANG) as http:
            async def put(i: int) -> tuple[int | str, float, str]:
                started = time.monotonic()
                try:
                    response = await http.put(f"/api/v1/configurations/{config_id}", headers={"Idempotency-Key": keys[i]},
                                              json={"name": "c0", "config": {"i": i}})
                    return response.status_code, time.monotonic() - started, response.text
                except httpx.HTTPError as error:
                    return type(error).__name__, time.monotonic() - started, ""
            return await asyncio.gather(*(put(i) for i in range(8)))

    results = asyncio.run(put_all(server.base))
    statuses = [status for status, _, _ in results]
    longest = max(took for _, took, _ in results)
    unknown = sum("unknown" in text for _, _, text in results)
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = server.process.wait(timeout=HANG)
    stopped = time.monotonic() - signalled
    pair.start(pair.standby)  # the standby back: the write that waited for it commits
    pair.wait_streaming()
    # Every client sends its write again with its key, to a new instance: each write is applied exactly once,
    # the one whose outcome was unknown included (it had committed: its retry answers what it did).
    again = asyncio.run(put_all(service(pair.multi_host_url, workers=1).base))
    version = pair.sql(pair.primary, "SELECT version FROM configurations WHERE id = %s", (config_id,))[0][0]
    report(capsys, f"F15 synchronous standby lost: 8 writes answered {statuses} (longest {longest:.1f} s, bound "
                   f"{BOUND} s; {unknown} said their outcome is unknown); SIGTERM exit {code} after {stopped:.1f} s; "
                   f"sent again with their keys: {[status for status, _, _ in again]}, version {version} (1 + 8)")
    assert set(statuses) == {503}, statuses
    assert unknown >= 1
    assert code == 0
    assert [status for status, _, _ in again] == [200] * 8
    assert version == 1 + 8, "a write was applied twice, or not at all"


def test_f16_a_host_list_whose_first_host_refuses_and_no_primary_at_start_up(pair, service, capsys):
    refusing = harness.free_port()
    url = pair.multi_host_url.replace("@127.0.0.1:", f"@127.0.0.1:{refusing},127.0.0.1:", 1)
    server = service(url, workers=1)
    names, watched, etag = setup(server.base, "f16", keys=1)
    assert httpx.get(f"{server.base}/api/v1/configurations/{watched}").status_code == 200
    pair.stop(pair.standby)
    pair.stop(pair.primary)
    # Started while no host takes a connection: it starts, answers 503, and recovers by itself.
    down = service(url, workers=1, database_up=False)
    answered = httpx.get(f"{down.base}/api/v1/configurations/{watched}", timeout=HANG)
    health = httpx.get(f"{down.base}/health", timeout=HANG)
    pair.start(pair.primary)
    pair.start(pair.standby)

    def recovered() -> bool:
        return httpx.get(f"{down.base}/api/v1/configurations/{watched}", timeout=HANG).status_code == 200
    harness.until(recovered, "the service started without a database answers once it is back")
    report(capsys, f"F16 first host refusing: served; started with no host up: {answered.status_code} "
                   f"(Retry-After {answered.headers.get('retry-after')}), /health {health.status_code}, then 200")
    assert answered.status_code == 503 and answered.headers.get("retry-after")
    assert health.status_code == 503
    assert {k: v for k, v in health.json().items() if k in ("database", "listener")} == {
        "database": "unavailable", "listener": "reconnecting"}  # what the worker knows, in the problem



def test_f21_a_switchover_renames_nothing_handed_out_before_it(pair, service, capsys):
    """A planned switchover (the primary stopped cleanly, so its standby has every byte it wrote, then promoted)
    loses nothing, and after it every ETag of the current versions and every feed position handed out before still
    holds (migration 0020): If-None-Match answers 304 (held with `wait`), If-Match writes, a follower sending its
    epoch reads on. Clients see the switchover's 503s and nothing else."""
    server = service(pair.multi_host_url)
    names, watched, etag = setup(server.base, "f21")
    http = httpx.Client(base_url=server.base, timeout=HANG)
    app_id = http.get(f"{CONFIGS}/{watched}").json()["application_id"]
    feed, listing = f"{APPS}/{app_id}/changes", f"{APPS}/{app_id}/configurations"
    latest = {watched: etag}  # the ETag each configuration's last answer gave
    for round in range(5):
        for id in names:
            response = http.put(f"{CONFIGS}/{id}", json={"name": names[id], "config": {"round": round}})
            assert response.status_code == 200, response.text
            latest[id] = response.headers["etag"]
    page = http.get(feed, params={"after": 0, "limit": 500}).json()
    position, epoch = page["next_after"], page["epoch"]
    page_tag, app_tag = http.get(listing).headers["etag"], http.get(f"{APPS}/{app_id}").headers["etag"]
    before = pair.timeline(pair.primary)

    pair.stop(pair.primary)  # pg_ctl stop -m fast: the standby receives everything, the shutdown checkpoint too
    pair.promote(pair.standby)
    harness.until(lambda: http.get(f"{CONFIGS}/{watched}").status_code == 200,
                  "the service answers from the promoted standby")

    kept = {id: http.get(f"{CONFIGS}/{id}", headers={"If-None-Match": tag}).status_code for id, tag in latest.items()}
    held = http.get(f"{CONFIGS}/{watched}", params={"wait": 1}, headers={"If-None-Match": etag}).status_code
    pages = [http.get(listing, headers={"If-None-Match": page_tag}).status_code,
             http.get(f"{APPS}/{app_id}", headers={"If-None-Match": app_tag}).status_code]
    followed = http.get(feed, params={"after": position, "epoch": epoch})
    first = next(iter(names))
    written = http.put(f"{CONFIGS}/{first}", json={"name": names[first], "config": {"after": "switchover"}},
                       headers={"If-Match": latest[first]})
    read_on = http.get(feed, params={"after": position, "epoch": epoch}).json()
    report(capsys, f"F21 switchover from timeline {before} to {pair.timeline(pair.primary)}: "
                   f"{sum(code == 304 for code in kept.values())}/{len(kept)} ETags of before answered 304, a held "
                   f"request {held}, page and application ETags {pages}; the feed position {position} of epoch "
                   f"{epoch} answered {followed.status_code}; an If-Match of before wrote {written.status_code} "
                   f"({written.headers.get('etag')}), read on by the follower in epoch {read_on['epoch']}")
    http.close()
    assert pair.timeline(pair.primary) == before + 1
    assert set(kept.values()) == {304}, kept
    assert held == 304 and pages == [304, 304]
    assert followed.status_code == 200 and followed.json() == {"items": [], "next_after": position, "epoch": epoch}
    assert written.status_code == 200 and written.headers["etag"].endswith(f'~{before + 1}"'), written.text
    assert [c["seq"] for c in read_on["items"]] == [position + 1] and read_on["epoch"] == before + 1


def test_f17_asynchronous_replication_loses_acknowledged_writes_and_nothing_handed_out_before_matches(service,
                                                                                                      capsys):
    """Issue 21's failover: with an asynchronous standby, writes the primary acknowledged but the standby had not
    received are lost when it is promoted, as they must be, and the new primary gives their versions and feed
    positions to other content. No ETag handed out before may match that content (no 304 for a document the
    client never saw, no write through a stale If-Match), and a feed follower that sends its epoch is told to
    resynchronise (410) instead of skipping the renumbered changes; one whose position the new primary has (written
    before the standby stopped) reads on."""
    with Pair("f17", synchronous=False) as pair:
        migrations.migrate(pair.multi_host_url)
        server = service(pair.multi_host_url)
        http = httpx.Client(base_url=server.base, timeout=HANG)
        names, untouched, untouched_tag = setup(server.base, "f17")  # (`untouched`: written once, replayed)
        app_id = http.get(f"{CONFIGS}/{next(iter(names))}").json()["application_id"]
        feed, listing = f"{APPS}/{app_id}/changes", f"{APPS}/{app_id}/configurations"
        handed_out: list[tuple[str, str]] = []  # (id, ETag) of every answer before the failover

        def put(id: str, config: dict, **headers: str) -> httpx.Response:
            response = http.put(f"{CONFIGS}/{id}", json={"name": names[id], "config": config}, headers=headers)
            assert response.status_code == 200, response.text
            handed_out.append((id, response.headers["etag"]))
            return response

        def read_all() -> None:
            for id in names:  # twice: the second answer comes from a worker's copy when it holds the first
                for _ in range(2):
                    handed_out.append((id, http.get(f"{CONFIGS}/{id}").headers["etag"]))

        def follow(after: int, epoch: int | None = None) -> tuple[int, int]:
            """A follower reading the feed to its end, sending its epoch when it has one: its position and epoch."""
            while True:
                page = http.get(feed, params={"after": after} | ({"epoch": epoch} if epoch else {}))
                assert page.status_code == 200, page.text
                after, epoch = page.json()["next_after"], page.json()["epoch"]
                if not page.json()["items"]:
                    return after, epoch

        # 1. Writes the standby has replayed: they survive the failover.
        for id in names:
            put(id, {"kept": id})
        read_all()
        kept_at, epoch = follow(0)
        page_tag, app_tag = http.get(listing).headers["etag"], http.get(f"{APPS}/{app_id}").headers["etag"]
        sent = pair.sql(pair.primary, "SELECT pg_current_wal_lsn()::text")[0][0]
        wait_until(lambda: pair.sql(pair.standby, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s) >= 0",
                                    (sent,))[0][0], "the standby replays the first writes")

        # 2. The standby stops receiving (its walreceiver stops with it); the asynchronous primary acknowledges on.
        pair.stop(pair.standby)
        lost = []  # (id, version, ETag, config) of each write acknowledged now
        for round in range(4):
            for id in names:
                config = {"lost": round, "of": id}
                response = put(id, config)
                lost.append((id, response.json()["version"], response.headers["etag"], config))
        read_all()
        lost_at, _ = follow(kept_at, epoch)

        # 3. The primary dies before the standby had them; the standby is started and promoted: timeline 2.
        pair.kill9(pair.primary)
        pair.start(pair.standby)
        pair.promote(pair.standby)
        harness.until(lambda: http.get(f"{CONFIGS}/{next(iter(names))}").status_code == 200,
                      "the service answers from the promoted standby")
        stored = dict(pair.sql(pair.primary, "SELECT id, version FROM configurations WHERE id = ANY(%s)",
                               (list(names),)))
        gone = [(id, version) for id, version, _, _ in lost if stored[id] < version]

        # 4. New writes take the lost versions and feed positions again, with other content.
        for round in range(4):
            for id in names:
                response = http.put(f"{CONFIGS}/{id}", json={"name": names[id], "config": {"after": round}})
                assert response.status_code == 200, response.text
        reused = [(id, version) for id, version, _, config in lost
                  if http.get(f"{CONFIGS}/{id}/revisions/{version}").json()["config"] != config]

        # No ETag handed out before matches now: reads answer 200 (with wait too, at once), writes 412.
        matched, held = [], []
        for id, tag in handed_out:
            answer = http.get(f"{CONFIGS}/{id}", headers={"If-None-Match": tag})
            if answer.status_code != 200 or answer.headers["etag"] == tag:
                matched.append((id, tag, answer.status_code))
            started = time.monotonic()
            waited = http.get(f"{CONFIGS}/{id}", params={"wait": 5}, headers={"If-None-Match": tag})
            if waited.status_code != 200:
                held.append((id, tag, waited.status_code, time.monotonic() - started))
        refused = 0
        for id, version, tag, _ in lost:
            before = http.get(f"{CONFIGS}/{id}").json()["version"]
            stale = http.put(f"{CONFIGS}/{id}", json={"name": names[id], "config": {}}, headers={"If-Match": tag})
            refused += stale.status_code == 412 and http.get(f"{CONFIGS}/{id}").json()["version"] == before
        pages = [http.get(listing, headers={"If-None-Match": page_tag}).status_code,
                 http.get(f"{APPS}/{app_id}", headers={"If-None-Match": app_tag}).status_code]
        kept = http.get(f"{CONFIGS}/{untouched}", headers={"If-None-Match": untouched_tag}).status_code

        # The feed: a follower without its epoch, at lost_at, skips the renumbered changes; with it, it is told.
        skipped = [change for change in http.get(feed, params={"after": kept_at, "limit": 500}).json()["items"]
                   if change["seq"] <= lost_at]
        told = [http.get(feed, params={"after": after, "epoch": epoch}).status_code for after in (lost_at, kept_at)]
        resynced_at, new_epoch = follow(0)
        report(capsys, f"F17 asynchronous standby, kill -9 of the primary before the standby had {len(lost)} "
                       f"acknowledged writes, promoted to timeline {pair.timeline(pair.primary)}: {len(gone)} lost (as "
                       f"they must be), {len(reused)} of their versions now other content; {len(handed_out)} ETags "
                       f"handed out before, {len(matched)} matched after, {len(held)} held by wait; "
                       f"{refused}/{len(lost)} stale If-Match refused; page and application ETags answered {pages}, "
                       f"the ETag of a version the new primary has {kept}; "
                       f"feed positions {kept_at + 1}-{lost_at} renumbered ({len(skipped)} changes a follower without "
                       f"its epoch skips), followers of epoch {epoch} at {lost_at} and {kept_at} answered {told}, "
                       f"resynchronised from 0 to "
                       f"{resynced_at} in epoch {new_epoch}")
        http.close()
        assert epoch == 1 and len(gone) == len(lost) == 16, gone  # every write made without the standby is lost
        assert len(reused) == len(lost), reused  # and each lost version names other content now
        assert not matched, matched[:5]
        assert not held, held[:5]
        assert refused == len(lost)
        # The listing's items are other versions now; the application itself was written before the fork and is
        # the same (its configurations are), as is the configuration nobody wrote since its creation.
        assert pages == [200, 304] and kept == 304
        assert len(skipped) == len(lost) and told == [410, 200]
        assert new_epoch == 2 and resynced_at == lost_at
