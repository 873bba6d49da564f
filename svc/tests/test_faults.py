"""Fault tests F1-F11, F18-F20 and F22: a PostgreSQL cluster of their own that they kill, stop and start, and a running
service (F19 and F20 behind PgBouncer).

Traffic goes only to 127.0.0.1; everything started is stopped by PID. No test depends on the machine's speed: each
does a counted amount of work, steps its disturbance on what was done (so many writes, so many held requests),
and is bounded by a deadline that only a hang reaches (`HANG`). Run alone with `make test-faults`; `make test` runs
them too. Each prints its figures; how fast things are is for `make bench`.
"""

import asyncio
import concurrent.futures
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2
import pytest

from db import migrations
from tools import harness, localdb, replication
from tools.harness import HANG, until_held
from tools.harness import until_async as until
from tools.linearizability import PARENT, EffectiveHistory, History, stale_reads

pytestmark = pytest.mark.faults
HERE = Path(__file__).resolve().parent.parent  # svc/


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}", flush=True)


class Cluster:
    """A throwaway local PostgreSQL cluster on a free port."""

    def __init__(self) -> None:
        self.bindir = localdb.find_bindir()
        assert self.bindir is not None, "PostgreSQL server binaries are needed"
        self.port = harness.free_port()
        self.data = HERE / f".pgdata-faults-{os.getpid()}"
        self.log = HERE / f".pgdata-faults-{os.getpid()}.log"
        self.url = f"postgresql://faults:faults-secret@127.0.0.1:{self.port}/faults"
        shutil.rmtree(self.data, ignore_errors=True)
        localdb.init_cluster(self.bindir, "faults", "faults-secret", self.data)
        self.start()
        localdb.ensure_database(self.url)

    def start(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                localdb.start(self.bindir, self.port, self.data, self.log)
                return
            except localdb.LocalDbError:
                # After kill -9 the orphaned backends hold shared memory for a moment.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        localdb.stop(self.bindir, self.data)

    def kill9(self) -> None:
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster, then each of its children: the server hangs without closing anything. The PIDs
        stopped, for `thaw`, once all are."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGSTOP)
        stopped = [pid, *replication._children(pid)]
        for child in stopped[1:]:
            os.kill(child, signal.SIGSTOP)
        harness.until(lambda: all(replication._state(p) in ("T", "Z", None) for p in stopped), "frozen")
        return stopped

    @staticmethod
    def thaw(stopped: list[int]) -> None:
        for pid in reversed(stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def remove(self) -> None:
        if localdb.running(self.bindir, self.data):
            localdb.stop(self.bindir, self.data)
        shutil.rmtree(self.data, ignore_errors=True)
        self.log.unlink(missing_ok=True)

    def sql(self, query: str, params=None) -> list[tuple]:
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster()
    migrations.migrate(cluster.url)
    yield cluster
    cluster.remove()


@pytest.fixture
def service(cluster):
    started = []

    def start(workers: int = 1, url: str | None = None, **settings: str) -> harness.Service:
        started.append(harness.Service(url or cluster.url, workers, **settings))
        return started[-1]

    start.started = started  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


def make_app(base: str, name: str) -> str:
    return httpx.post(f"{base}/api/v1/applications", json={"name": name}).json()["id"]


def locked_configuration(cluster: Cluster, base: str, name: str) -> tuple[str, psycopg2.extensions.connection]:
    """A new configuration, and a connection whose open transaction holds its row lock (rollback releases it)."""
    app_id = make_app(base, name)
    config_id = httpx.post(f"{base}/api/v1/configurations",
                           json={"application_id": app_id, "name": "c", "config": {}}).json()["id"]
    holder = psycopg2.connect(cluster.url)
    holder.cursor().execute("SELECT 1 FROM configurations WHERE id = %s FOR UPDATE", (config_id,))
    return config_id, holder


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def put_config(client: httpx.AsyncClient, config_id: str, i: int) -> int | str:
    """PUT one configuration; the status, or the transport error's name."""
    try:
        return (await client.put(f"/api/v1/configurations/{config_id}", json={"name": "c", "config": {"i": i}})).status_code
    except httpx.HTTPError as error:
        return type(error).__name__


def test_f1_kill_9_mid_write_load_loses_no_acknowledged_write(cluster, service, capsys):
    base = service().base
    app_id = make_app(base, "f1")
    acknowledged: list[dict] = []
    statuses: dict[int | str, int] = {}
    killed_at = restarted_at = 0.0
    after_restart = 0
    done = asyncio.Event()

    async def writer(client: httpx.AsyncClient, task: int) -> None:
        nonlocal after_restart
        n = 0
        while not done.is_set():
            n += 1
            body = {"application_id": app_id, "name": f"w{task}-{n}", "comments": f"writer {task}",
                    "config": {"task": task, "n": n, "text": "żółw ✓ " * 8, "list": [n, None, True]}}
            try:
                response = await client.post("/api/v1/configurations", json=body)
                key: int | str = response.status_code
            except httpx.HTTPError as error:
                response, key = None, type(error).__name__
            statuses[key] = statuses.get(key, 0) + 1
            if response is not None and response.status_code == 201:
                acknowledged.append({"id": response.json()["id"], "name": body["name"], "config": body["config"]})
                if restarted_at:
                    after_restart += 1
            elif response is not None and response.status_code == 503:
                await asyncio.sleep(0.05)

    async def load() -> None:
        nonlocal killed_at, restarted_at
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=50)) as client:
            writers = [asyncio.create_task(writer(client, t)) for t in range(50)]
            try:
                await until(lambda: len(acknowledged) >= 100, "100 writes acknowledged before the kill")
                cluster.kill9()
                killed_at = time.monotonic()
                await asyncio.sleep(1)
                await asyncio.get_running_loop().run_in_executor(None, cluster.start)
                restarted_at = time.monotonic()
                await until(lambda: after_restart >= 50, "50 writes acknowledged after the restart")
            finally:
                done.set()
                await asyncio.gather(*writers)

    asyncio.run(load())
    stored = {row[0]: (row[1], row[2]) for row in
              cluster.sql("SELECT id, name, config::json FROM configurations WHERE application_id = %s", (app_id,))}
    lost = [a for a in acknowledged if stored.get(a["id"]) != (a["name"], a["config"])]
    failed = sum(count for key, count in statuses.items() if key != 201)
    report(capsys, f"F1 kill -9 under 50 writers: acknowledged={len(acknowledged)} lost={len(lost)} "
                   f"failed-during-outage={failed} acknowledged-after-restart={after_restart} statuses={statuses} "
                   f"restart took {restarted_at - killed_at:.1f}s")
    assert not lost
    assert set(statuses) <= {201, 503}, statuses


def test_f2_reads_during_an_outage_answer_503_and_recover(cluster, service, capsys):
    server = service()
    base = server.base
    app_id = make_app(base, "f2")
    config_id = httpx.post(f"{base}/api/v1/configurations",
                           json={"application_id": app_id, "name": "c", "config": {"k": 1}}).json()["id"]
    samples: list[tuple[float, float, int | str]] = []  # (start, duration, status)
    marks: dict[str, float] = {}
    done = asyncio.Event()
    # What the service promises while its database is down: a 503 once a connection cannot be had (refused at
    # once, else within CONNECT_TIMEOUT) or no pooled one frees (POOL_ACQUIRE_TIMEOUT): 2 + 1 s by default.
    # Asserted with a margin that only a hang uses up; the figure itself is printed (make bench measures speed).
    bound = 2 + 1 + 10

    async def reader(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            start = time.monotonic()
            try:
                status: int | str = (await client.get(f"/api/v1/configurations/{config_id}")).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            samples.append((start, time.monotonic() - start, status))
            await asyncio.sleep(0.02)

    def answered(status, after: str) -> int:
        return sum(1 for start, d, s in samples if s == status and after in marks and start >= marks[after])

    async def load() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            readers = [asyncio.create_task(reader(client)) for _ in range(20)]
            try:
                marks["begin"] = time.monotonic()
                await until(lambda: answered(200, "begin") >= 100, "100 reads before the outage")
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, cluster.stop)
                marks["down"] = time.monotonic()
                await until(lambda: answered(503, "down") >= 100, "100 answers during the outage")
                marks["starting"] = time.monotonic()
                await loop.run_in_executor(None, cluster.start)
                marks["up"] = time.monotonic()
                await until(lambda: answered(200, "up") >= 100, "100 reads after the outage")
            finally:
                done.set()
                await asyncio.gather(*readers)

    asyncio.run(load())
    # Answered while the database was down: begun after it stopped, finished before it was being started again.
    outage = [(d, s) for start, d, s in samples if marks["down"] <= start and start + d < marks["starting"]]
    first_ok = min(start + d for start, d, s in samples if start >= marks["up"] and s == 200)
    others = {s for _, _, s in samples} - {200, 503}
    report(capsys, f"F2 PostgreSQL stopped under 20 readers: during outage {len(outage)} answers, "
                   f"p99={p99([d for d, _ in outage]) * 1000:.0f} ms, statuses={sorted({str(s) for _, s in outage})}; "
                   f"first success {first_ok - marks['up']:.2f} s after the database accepted again; "
                   f"other statuses: {others or 0}")
    assert outage and all(s == 503 for _, s in outage)
    assert max(d for d, _ in outage) <= bound, "a read hung on the database that was down"
    assert not others


def test_f3_five_times_the_pool_in_slow_requests_only_200_or_503_and_the_pool_recovers(cluster, service, capsys):
    n = 4
    server = service(POOL_MIN=str(n), POOL_MAX=str(n), POOL_ACQUIRE_TIMEOUT="0.5",
                     LOCK_TIMEOUT_MS="1500")
    base = server.base
    config_id, holder = locked_configuration(cluster, base, "f3")

    async def burst() -> list[int | str]:
        async with httpx.AsyncClient(base_url=base, timeout=10, limits=httpx.Limits(max_connections=5 * n)) as c:
            release = asyncio.get_running_loop().call_later(1.0, holder.rollback)
            results = await asyncio.gather(*(put_config(c, config_id, i) for i in range(5 * n)))
            release.cancel()
            return results

    started = time.monotonic()
    results = asyncio.run(burst())
    took = time.monotonic() - started
    holder.close()
    assert httpx.get(f"{base}/health").status_code == 200
    connections = cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'config-service'")[0][0]
    threads = int(next(line.split()[1] for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                       if line.startswith("Threads:")))
    counts = {s: results.count(s) for s in set(results)}
    report(capsys, f"F3 pool of {n}, {5 * n} slow concurrent writes: statuses={counts} in {took:.2f} s; "
                   f"after: {connections} connections, {threads} threads")
    assert set(results) <= {200, 503}
    assert connections == n
    assert threads <= n + 8  # one executor thread per connection


def test_f4_sigterm_lets_50_in_flight_requests_finish(cluster, service, capsys):
    server = service(POOL_MIN="0", POOL_MAX="60", POOL_ACQUIRE_TIMEOUT="10",
                     LOCK_TIMEOUT_MS="20000", SHUTDOWN_GRACE_SECONDS="15")
    base = server.base
    config_id, holder = locked_configuration(cluster, base, "f4")
    waiting_query = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'config-service' "
                     "AND wait_event_type = 'Lock'")

    async def scenario() -> tuple[list[int | str], float, int | None]:
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=50)) as c:
            tasks = [asyncio.create_task(put_config(c, config_id, i)) for i in range(50)]
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + 20
            while (await loop.run_in_executor(None, cluster.sql, waiting_query))[0][0] < 50:
                assert time.monotonic() < deadline, "the 50 requests did not all reach the database"
                await asyncio.sleep(0.1)
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.5)
            holder.rollback()
            results = await asyncio.gather(*tasks)
            code = await loop.run_in_executor(None, lambda: server.process.wait(timeout=30))
            return results, time.monotonic() - signalled, code

    results, took, code = asyncio.run(scenario())
    holder.close()
    counts = {s: results.count(s) for s in set(results)}
    report(capsys, f"F4 SIGTERM with 50 requests in flight: statuses={counts}, exit code {code} "
                   f"{took:.2f} s after the signal (grace 15 s)")
    assert counts == {200: 50}
    assert code == 0 and took < 15


def test_f4_requests_still_running_when_the_grace_runs_out_answer_503_problems(cluster, service, capsys):
    """Past SHUTDOWN_GRACE_SECONDS the server cancels what still runs: a PUT (the write lane's) and a DELETE (the
    layers') waiting on a row lock each answer a 503 problem saying the change's outcome is unknown, not a
    plain-text 500, and the log holds a warning for each, no traceback. The process still exits 0."""
    server = service(LOCK_TIMEOUT_MS="20000", SHUTDOWN_GRACE_SECONDS="1", LOG_LEVEL="INFO")
    config_id, holder = locked_configuration(cluster, server.base, "f4-grace")
    waiting_query = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'config-service' "
                     "AND wait_event_type = 'Lock'")

    async def scenario() -> tuple[list[httpx.Response], float, int | None]:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as c:
            tasks = [asyncio.create_task(c.put(f"/api/v1/configurations/{config_id}",
                                               json={"name": "c", "config": {"i": 1}})),
                     asyncio.create_task(c.delete(f"/api/v1/configurations/{config_id}"))]
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + HANG
            while (await loop.run_in_executor(None, cluster.sql, waiting_query))[0][0] < 2:
                assert time.monotonic() < deadline, "the two requests did not both reach the database"
                await asyncio.sleep(0.05)
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            answers = await asyncio.gather(*tasks)
            code = await loop.run_in_executor(None, lambda: server.process.wait(timeout=HANG))
            return answers, time.monotonic() - signalled, code

    try:
        answers, took, code = asyncio.run(scenario())
    finally:
        holder.rollback()
        holder.close()
    log = server.log()
    report(capsys, f"F4 grace of 1 s run out: {[a.status_code for a in answers]}, exit code {code} {took:.2f} s "
                   "after the signal")
    unknown = ("The service stopped before it answered: if it was a change, whether it was applied is unknown. "
               "Read the resource before you try the change again.")
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json" and answer.headers["retry-after"]
        assert answer.json()["detail"] == unknown and answer.headers["x-request-id"]
    assert code == 0
    assert log.count("SHUTDOWN_GRACE_SECONDS ran out, answered 503") == 2, log
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
    assert '"status": 503' in log and '"status": 500' not in log  # the access lines say what was answered


def test_f5_five_migration_runners_at_once_apply_each_file_once(cluster, capsys):
    url = harness.create_database(harness.with_database(cluster.url, "f5"))
    env = harness.child_env(DATABASE_URL=url)
    started = time.monotonic()
    runners = [subprocess.Popen([sys.executable, "-m", "db.migrations"], cwd=HERE, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(5)]
    outputs = [r.communicate(timeout=60) for r in runners]
    codes = [r.returncode for r in runners]
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT version, count(*) FROM migrations GROUP BY version ORDER BY version")
        applied = cur.fetchall()
    conn.close()
    appliers = sum(1 for out, _ in outputs if not out.startswith("migrations: 0 applied"))  # not "10 applied"
    report(capsys, f"F5 five migration runners at once: exit codes {codes}, migrations {applied}, "
                   f"{appliers} runner(s) applied them, {time.monotonic() - started:.2f} s")
    assert codes == [0] * 5
    assert applied == [(m.version, 1) for m in migrations.discover()]
    assert appliers == 1


def test_f6_postgresql_restarted_while_100_clients_wait_then_a_change_reaches_every_client(cluster, service, capsys):
    base = service(POOL_ACQUIRE_TIMEOUT="2").base
    app_id = make_app(base, "f6")
    created = httpx.post(f"{base}/api/v1/configurations", json={"application_id": app_id, "name": "c", "config": {}})
    config_id, etag = created.json()["id"], created.headers["etag"]
    statuses: dict[int | str, int] = {}
    marks: dict[str, float] = {}

    async def client(http: httpx.AsyncClient, deadline: float) -> str | None:
        """Wait for a change the way a client does: hold, and after a 304 or a 503 ask again. The new ETag, or None."""
        while time.monotonic() < deadline:
            try:
                response = await http.get(f"/api/v1/configurations/{config_id}", params={"wait": 20},
                                          headers={"If-None-Match": etag})
                key: int | str = response.status_code
            except httpx.HTTPError as error:
                response, key = None, type(error).__name__
            statuses[key] = statuses.get(key, 0) + 1
            if response is not None and response.status_code == 200:
                return response.headers["etag"]
            if response is None or response.status_code == 503:
                await asyncio.sleep(0.2)
        return None

    async def scenario() -> list[str | None]:
        # Idle connections are dropped after 2 s, before uvicorn closes them (5 s): with both at 5 s, a request sent
        # on a connection as the server closes it fails as "disconnected without a response", a client-side race of
        # keep-alive (seen once in 100 clients on a busy machine, as in tools/linearizability.py).
        limits = httpx.Limits(max_connections=100, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            clients = [asyncio.create_task(client(http, time.monotonic() + HANG)) for _ in range(100)]
            await until_held(base, 100)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, cluster.stop)
            await asyncio.sleep(3)
            await loop.run_in_executor(None, cluster.start)
            marks["up"] = time.monotonic()
            put = None

            async def written() -> bool:
                nonlocal put
                try:
                    put = await http.put(f"/api/v1/configurations/{config_id}",
                                         json={"name": "c", "config": {"after": "restart"}})
                except httpx.HTTPError:
                    return False
                return put.status_code == 200
            await until(written, "a write after the restart")
            marks["put"] = time.monotonic()
            marks["etag"] = put.headers["etag"]  # type: ignore[assignment]
            seen = await asyncio.gather(*clients)
            marks["all"] = time.monotonic()
            return seen

    seen = asyncio.run(scenario())
    reached = sum(1 for tag in seen if tag == marks["etag"])
    report(capsys, f"F6 PostgreSQL restarted under 100 waiting clients: statuses={statuses}; the change made after "
                   f"the restart reached {reached}/100 clients within {marks['all'] - marks['put']:.2f} s of its write")
    assert reached == 100
    assert set(statuses) <= {200, 304, 503}, statuses


def test_f7_sigterm_answers_every_waiter_at_once_and_exits_0(cluster, service, capsys):
    """Every held request is answered at once, with `Connection: close`: a client that asked again on the same
    connection was answered at once again, and again (a trial: 40 times a watcher in 85 ms)."""
    server = service(SHUTDOWN_GRACE_SECONDS="15")
    base = server.base
    app_id = make_app(base, "f7")
    created = httpx.post(f"{base}/api/v1/configurations", json={"application_id": app_id, "name": "c", "config": {}})
    config_id, etag = created.json()["id"], created.headers["etag"]

    async def scenario() -> tuple[list[int | str], float, int | None]:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=60)) as http:
            async def wait(i: int) -> int | str:
                try:
                    if i % 2:
                        path, params, headers = f"/api/v1/configurations/{config_id}", {"wait": 60}, {"If-None-Match": etag}
                    else:
                        path, params, headers = f"/api/v1/applications/{app_id}/changes", {"after": 1, "wait": 60}, {}
                    response = await http.get(path, params=params, headers=headers)
                    if response.headers.get("connection") != "close":  # asked again on it, answered at once again
                        return "kept alive"
                    return response.status_code if i % 2 or response.json()["items"] else "empty"
                except httpx.HTTPError as error:
                    return type(error).__name__

            waiters = [asyncio.create_task(wait(i)) for i in range(50)]
            await until_held(base, 50)
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            results = await asyncio.gather(*waiters)
            took = time.monotonic() - signalled
            code = await asyncio.get_running_loop().run_in_executor(None, lambda: server.process.wait(timeout=30))
            return results, took, code

    results, took, code = asyncio.run(scenario())
    counts = {s: results.count(s) for s in set(results)}
    report(capsys, f"F7 SIGTERM with 50 waiters (wait=60): answers={counts} within {took:.2f} s, exit code {code}")
    assert counts == {304: 25, "empty": 25}
    assert took < 15 and code == 0  # before the grace (15 s) ran out: answered, not cut off when it did


# Each linearizability run does at least this much work, however long it takes (only a hang reaches HANG): 200
# writes, each followed at once by a read through another client, and 1,500 reads in all, on 4 keys.
WRITES, READS = 200, 1500


def linearizability(cluster: Cluster, service, name: str, disturb=None, url: str | None = None,
                    patient: bool = True) -> History:
    """Writers and readers on 2 workers over 4 configurations until WRITES and READS are done and
    `disturb(history)` has returned. `patient`: the service's timeouts are ones no busy machine reaches
    (`harness.PATIENT`: 10 writers queue on one application's row), for a run that must have no failed request;
    else a 2 s acquire timeout, for a run through a fault that requests may fail in but not hang."""
    timeouts = harness.PATIENT if patient else {"POOL_ACQUIRE_TIMEOUT": "2"}
    base = service(workers=2, url=url, **timeouts).base
    app_id = make_app(base, name)
    names = {httpx.post(f"{base}/api/v1/configurations", json={"application_id": app_id, "name": f"c{i}",
                                                                "config": {}}).json()["id"]: f"c{i}" for i in range(4)}
    history = History(base, names)
    # Writers are what a stale read needs; reads from the copy are cheap enough that 24 readers starve 6 writers
    # on a busy 2-core machine: 10 writers and 20 readers.
    asyncio.run(history.run(writes=WRITES, reads=READS, within=HANG + 60, writers=10, readers=20,
                            disturb=(lambda: disturb(history)) if disturb else None))
    return history


def check(history: History, capsys, label: str, expected_failures: set[str]) -> None:
    stale = stale_reads(history.ops)
    counts = history.counts()
    # A read of several keys (an effective view's layers) that is stale in several is one stale read.
    report(capsys, f"{label}: {counts['writes']} writes, {counts['reads']} reads on 2 workers, "
                   f"{len({(op.start, op.end) for op, _ in stale})} stale reads, failed requests {history.failures}")
    assert not stale, f"stale reads (read, newest acknowledged before it): {stale[:5]}"
    assert not history.timed_out, f"the run hung: {counts} of {history.goal} after {HANG + 60:.0f} s"
    assert set(history.failures) <= expected_failures, history.failures


def test_f8_reads_on_two_workers_are_linearizable(cluster, service, capsys):
    history = linearizability(cluster, service, "f8")
    check(history, capsys, "F8 linearizable reads", set())


def test_f9_reads_stay_linearizable_across_a_postgresql_restart(cluster, service, capsys):
    marks: dict[str, int] = {}

    async def restart(history: History) -> None:
        loop = asyncio.get_running_loop()
        await history.reached(writes=50)
        await loop.run_in_executor(None, cluster.stop)
        await asyncio.sleep(1.5)
        await loop.run_in_executor(None, cluster.start)
        marks["writes"], marks["reads"] = history.writes, history.reads
        # As much work again after the restart as before it.
        await history.reached(writes=history.writes + 50, reads=history.reads + 200)

    history = linearizability(cluster, service, "f9", restart, patient=False)
    assert history.writes - marks["writes"] >= 50 and history.reads - marks["reads"] >= 200 or history.timed_out
    check(history, capsys, "F9 linearizable reads across a PostgreSQL restart", {"503", "ReadTimeout"})


def test_f10_reads_stay_linearizable_when_the_listeners_are_killed_from_the_database(cluster, service, capsys):
    killed: list[int] = []
    gone: set[int] = set()

    def listeners() -> list[int]:
        rows = cluster.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'config-service-listener'")
        return [pid for (pid,) in rows if pid not in gone]

    async def terminate(history: History) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(4):
            # Both workers listen again, and some work has been done with their copies since.
            await until(lambda: loop.run_in_executor(None, lambda: len(listeners()) == 2), "both listeners connected")
            await history.reached(writes=history.writes + 25, reads=history.reads + 150)
            pids = await loop.run_in_executor(None, listeners)
            rows = await loop.run_in_executor(None, cluster.sql, "SELECT pg_terminate_backend(pid) FROM unnest(%s) "
                                              "AS pid", (pids,))
            gone.update(pids)
            killed.append(sum(1 for (ok,) in rows if ok))
        await history.reached(writes=history.writes + 25, reads=history.reads + 150)

    history = linearizability(cluster, service, "f10", terminate)
    assert killed == [2, 2, 2, 2], f"listeners terminated each time: {killed}"
    check(history, capsys, f"F10 linearizable reads while listeners are terminated {len(killed)} times", set())


def test_f11_reads_stay_linearizable_when_the_listeners_lag_50_ms_behind(cluster, service, capsys):
    # Everything PostgreSQL sends the listeners (notifications, and the answers of sync rounds) arrives 50 ms late,
    # as over a slow network; the other connections are not delayed. A copy trusted without a sync round would
    # answer a read that follows a write on the other worker from before that write.
    proxy = harness.LaggingProxy(cluster.port, delay=0.05, application_name="config-service-listener")
    try:
        history = linearizability(cluster, service, "f11",
                                  url=cluster.url.replace(f":{cluster.port}/", f":{proxy.port}/"))
    finally:
        proxy.close()
    assert proxy.lagged >= 2, "the listeners did not connect through the lagging proxy"
    check(history, capsys, "F11 linearizable reads with listeners 50 ms behind", set())


def test_f18_effective_reads_stay_linearizable_while_layers_and_parents_change_with_listeners_50_ms_behind(
        cluster, service, capsys):
    # The effective view of two configurations in a leaf environment (root > left or right > leaf) read on both
    # workers, while writers change through both the configurations' config, their overrides in every environment
    # of the chain and the leaf's parent (between left and right). Each layer of a view is a key of its own: a view
    # older than a write to any layer acknowledged before the read began is a stale read. With the listeners 50 ms
    # behind, as in F11, a copy trusted without a sync round is found out.
    proxy = harness.LaggingProxy(cluster.port, delay=0.05, application_name="config-service-listener")
    try:
        base = service(workers=2, url=cluster.url.replace(f":{cluster.port}/", f":{proxy.port}/"),
                       **harness.PATIENT).base
        history = EffectiveHistory.laid_out(base, "f18-")
        asyncio.run(history.run(writes=WRITES, reads=READS, within=HANG + 60, writers=10, readers=20))
    finally:
        proxy.close()
    assert proxy.lagged >= 2, "the listeners did not connect through the lagging proxy"
    writes = [op.key.rpartition(":")[2] for op in history.ops if op.kind == "write"]
    kinds = {kind: sum(1 for key in writes if key == kind) for kind in ("config", "root", "left", "right", "leaf",
                                                                        PARENT)}
    assert all(kinds.values()), f"every layer and the parent were written: {kinds}"
    check(history, capsys, f"F18 linearizable effective reads with listeners 50 ms behind, writes by layer {kinds}",
          set())


class PgBouncer:
    """PgBouncer (Debian's) in front of `cluster`, on a free port, as the `postgres` user when run as root (it refuses
    root). In transaction mode: few server connections for the service's many, each closed a second after it opened
    or once idle a second, so every transaction goes to whichever server connection is free, and new server
    connections come all the time, on which no client prepared anything. In session mode: a server connection for
    each client's session, as the service's README has it run. `ignore`: the startup parameters it ignores (one it
    neither ignores nor knows, it refuses)."""

    def __init__(self, cluster: Cluster, mode: str = "transaction", ignore: str = "extra_float_digits,options") -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        assert Path(binary).exists(), "PgBouncer is needed (apt-get install -y pgbouncer; .ci/run installs it)"
        self.port = harness.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        user, _, rest = cluster.url.removeprefix("postgresql://").partition("@")
        name, _, password = user.partition(":")
        (self.dir / "users.txt").write_text(f'"{name}" "{password}"\n')
        # `options` (the service's statement and lock timeouts) is a startup parameter PgBouncer 1.18 refuses unless
        # told to ignore it; ignored, it never reaches the server (each transaction sets them: Database.timeouts_of).
        transaction = mode == "transaction"
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
* = host=127.0.0.1 port={cluster.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = plain
auth_file = {self.dir}/users.txt
pool_mode = {mode}
default_pool_size = {4 if transaction else 100}
max_client_conn = 200
server_lifetime = {1 if transaction else 3600}
server_idle_timeout = {1 if transaction else 600}
ignore_startup_parameters = {ignore}
""")
        root = os.geteuid() == 0
        if root:
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, localdb.SERVICE_USER)
        self.log = self.dir / "pgbouncer.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen([binary, str(self.dir / "pgbouncer.ini")], stdout=out,
                                            stderr=subprocess.STDOUT, user=localdb.SERVICE_USER if root else None,
                                            start_new_session=True)
        self.url = cluster.url.replace(f":{cluster.port}/", f":{self.port}/")
        deadline = time.monotonic() + HANG
        while not localdb.accepts(self.url):
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.1)

    def close(self) -> None:
        harness.stop(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_f19_behind_pgbouncer_in_transaction_mode_writes_answer_and_reads_stay_linearizable(cluster, service,
                                                                                          capsys):
    # A pool in transaction mode is not the way to run the service (its README: session mode); behind one it must
    # still answer every write once and read nothing stale. Its statements prepared on one server connection run
    # on others that never prepared them, and its listener's sync rounds run on other server connections than its
    # LISTEN: each worker gives its prepared statements up and runs them as plain SQL, and gives its listener up
    # and reads from the database, and no request fails.
    bouncer = PgBouncer(cluster)
    try:
        history = linearizability(cluster, service, "f19", url=bouncer.url)
        # Each new connection to /health goes to either worker: both have given their listener up.
        listeners = {httpx.get(f"{history.base}/health", timeout=HANG).json()["listener"] for _ in range(20)}
        log = service.started[-1].log()
    finally:
        bouncer.close()
    check(history, capsys, f"F19 behind PgBouncer in transaction mode (listeners {sorted(listeners)})", set())
    assert listeners == {"disabled"}
    assert "prepared statements given up" in log


def test_f20_behind_pgbouncer_in_session_mode_refusing_options_the_service_connects_and_its_lock_timeout_holds(
        cluster, service, capsys):
    # The README's way through a pool: PgBouncer in session mode. As it comes, it refuses the startup parameter that
    # carried the service's statement and lock timeouts (`options`: "unsupported startup parameter"), so the service
    # could not connect; told to ignore it, it dropped them, and a write behind a lock waited until the service's
    # bound shut its connection (503, its outcome unknown). The service now connects without it and each
    # transaction sets them: a write behind a row lock answers the lock timeout's 503, and nothing is given up.
    bouncer = PgBouncer(cluster, mode="session", ignore="extra_float_digits")
    try:
        # (a connection waited for as long as a busy machine may take: only the lock's wait times out)
        server = service(workers=1, url=bouncer.url, **{**harness.PATIENT, "LOCK_TIMEOUT_MS": "1000"})
        base = server.base
        harness.until(lambda: httpx.get(f"{base}/health", timeout=HANG).json()["listener"] == "listening",
                      "the listener listening")
        config_id, holder = locked_configuration(cluster, base, "f20")
        try:
            held = httpx.put(f"{base}/api/v1/configurations/{config_id}", json={"name": "c", "config": {"x": 1}},
                             timeout=HANG)
        finally:
            holder.rollback()
            holder.close()
        after = httpx.put(f"{base}/api/v1/configurations/{config_id}", json={"name": "c", "config": {"x": 2}},
                          timeout=HANG)
        read = httpx.get(f"{base}/api/v1/configurations/{config_id}", timeout=HANG)
        health = httpx.get(f"{base}/health", timeout=HANG).json()
        log = server.log()
    finally:
        bouncer.close()
    report(capsys, f"F20 behind PgBouncer in session mode refusing `options`: a write behind a row lock answered "
                   f"{held.status_code} ({held.json().get('detail')}); then {after.status_code}, read version "
                   f"{read.json().get('version')}, listener {health['listener']}")
    assert held.status_code == 503 and held.json()["detail"] == "The database did not answer in time."
    assert after.status_code == 200 and read.json()["version"] == 2 and read.json()["config"] == {"x": 2}
    assert health["listener"] == "listening"
    assert "refuses the startup parameter `options`" in log and "prepared statements given up" not in log


def test_f22_reads_that_accept_stale_answers_read_on_while_the_database_is_stopped_or_frozen(cluster, service,
                                                                                              capsys):
    """A read's `Cache-Control: stale-if-error` (or `max-stale`): while PostgreSQL is stopped, and while it is
    frozen, such a GET is answered from what the worker kept (the configuration, its effective view, its
    application, a page, and the request's managed key), with the ETag and body it had and an `Age` no older than
    its last read; a 304 for its ETag says `Age` too, and a request held on it rides the outage out, answered by
    the next change after it (one held without the header: 503 when the worker loses its listener). Without it, with `max-stale=0`, with `no-cache`, or for what
    the worker never read: 503. A token that is no key's is still 401. Once the database is back, the same reads
    are current again (no `Age`)."""
    root = "f22-admin-" + "r" * 24
    server = service(API_KEYS=f"root:admin:{root}")
    client = httpx.Client(base_url=server.base, timeout=HANG, headers={"Authorization": f"Bearer {root}"})
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        app_id = client.post("/api/v1/applications", json={"name": "f22"}).json()["id"]
        config_id = client.post("/api/v1/configurations",
                                json={"application_id": app_id, "name": "c", "config": {"k": 1}}).json()["id"]
        unread = client.post("/api/v1/configurations",
                             json={"application_id": app_id, "name": "u", "config": {"k": 2}}).json()["id"]
        environment_id = client.post("/api/v1/environments", json={"name": "f22-env"}).json()["id"]
        created = client.post("/api/v1/keys", json={"name": "f22-reader", "actions": ["read"],
                                                    "applications": [app_id], "environments": None})
        assert created.status_code == 201, created.text
        reader = {"Authorization": f"Bearer {created.json()['secret']}"}
        kept = [f"/api/v1/configurations/{config_id}",
                f"/api/v1/configurations/{config_id}/effective?environment_id={environment_id}",
                f"/api/v1/applications/{app_id}",
                f"/api/v1/applications/{app_id}/configurations?limit=10"]
        tolerant = {"Cache-Control": "stale-if-error=600"}
        if_error = {**reader, **tolerant}
        figures = []
        for how in ("stopped", "frozen"):
            # Kept once the listener listens (the first reads fill the copy), and confirmed current by the second:
            # each waits for a sync round sent after it began, so what is kept was current at `last_read` or later.
            harness.until(lambda: harness.health(server.base).get("listener") == "listening", "listening")
            seen = {path: client.get(path, headers=if_error) for path in kept}
            last_read = time.monotonic()
            assert all(client.get(path, headers=reader).content == seen[path].content for path in kept)
            assert all(r.status_code == 200 and "age" not in r.headers for r in seen.values()), seen
            frozen, watchers = None, []
            if how == "stopped":
                # Two requests held on the configuration's current ETag: the one that accepts a stale answer
                # rides the outage out and is answered by the next change after it, the other is answered 503 when
                # the worker loses its listener.
                unchanged = {**reader, "If-None-Match": seen[kept[0]].headers["etag"]}
                watchers = [pool.submit(httpx.get, f"{server.base}{kept[0]}?wait=300", timeout=HANG,
                                        headers={**unchanged, **accepts}) for accepts in (tolerant, {})]
                harness.until(lambda: harness.held(server.base) >= 2, "2 requests held")
                cluster.stop()
            else:
                frozen = cluster.freeze()
            try:
                harness.assert_problem(client.get(kept[0], headers=reader), 503)
                for path in kept:
                    # Frozen, a read that accepts a stale answer only if the current one fails waits for the
                    # database as any does (its bound): one such read is enough there.
                    for accepts in ("stale-if-error=600", "max-stale=600")[how == "frozen" and path != kept[0]:]:
                        answer = client.get(path, headers={**reader, "Cache-Control": accepts})
                        assert answer.status_code == 200, (how, path, accepts, answer.status_code, answer.text)
                        assert answer.content == seen[path].content
                        assert answer.headers.get("etag") == seen[path].headers.get("etag")
                        age = int(answer.headers["age"])
                        assert 1 <= age <= math.ceil(time.monotonic() - last_read) + 1, (how, path, age)
                        figures.append(age)
                etag = seen[kept[0]].headers["etag"]
                unchanged = client.get(kept[0], headers={**reader, "Cache-Control": "max-stale", "If-None-Match": etag})
                assert unchanged.status_code == 304 and int(unchanged.headers["age"]) >= 1
                for refusing in ("max-stale=0", "max-stale, no-cache", "max-stale=600, max-age=0"):
                    harness.assert_problem(client.get(kept[0], headers={**reader, "Cache-Control": refusing}), 503)
                harness.assert_problem(client.get(f"/api/v1/configurations/{unread}",
                                                  headers={**reader, "Cache-Control": "max-stale"}), 503)
                assert client.get(kept[0], headers={"Authorization": "Bearer no-such-key-" + "x" * 20,
                                                    "Cache-Control": "max-stale=600"}).status_code == 401
                if watchers:
                    harness.assert_problem(watchers[1].result(), 503)
                    assert not watchers[0].done()  # still held, its checks answered from the copy
            finally:
                if frozen is not None:
                    cluster.thaw(frozen)
                else:
                    cluster.start()
            for path in kept:
                harness.until(lambda: (r := client.get(path, headers=if_error)).status_code == 200
                              and "age" not in r.headers, f"{path} current once the database is back")
            if watchers:
                assert client.put(kept[0], json={"name": "c", "config": {"k": 2}}).status_code == 200
                rode = watchers[0].result()
                assert rode.status_code == 200 and rode.json()["config"] == {"k": 2} and "age" not in rode.headers
        report(capsys, f"F22 stale-if-error=600 and max-stale=600 while PostgreSQL was stopped, then frozen: "
                       f"{len(figures)} stale answers of what was kept, Age {min(figures)}-{max(figures)} s; without "
                       f"them, max-stale=0, no-cache, max-age=0, or what was never read: 503; a request held with "
                       f"stale-if-error rode the outage out to the next change, one without was answered 503")
    finally:
        pool.shutdown()
        client.close()
