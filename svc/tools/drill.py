"""`make drill`: a Patroni failover drill. Two PostgreSQL nodes under Patroni with `synchronous_mode: true`, etcd as
its store, the service (2 workers) on both through a multi-host DATABASE_URL; under load the leader's machine dies
(SIGKILL of its Patroni, its postmaster and every child at once), Patroni promotes the synchronous standby, and the
drill prints its figures: promotion time, the write window, the watchers' time to the next change, acknowledged
writes lost and stale reads (`tools/linearizability.py`). They are written to `tools/results/drill.json`.

Patroni is an operator's tool, not a dependency of the service: it is installed, pinned, from PyPI into a venv of
its own, `.tools/patroni` (git-ignored), built on the system's Python so that the `postgres` user, which runs it as
root, can execute it. etcd is Debian's (`apt-get install -y etcd-server`). Everything listens on 127.0.0.1 on free
ports and all traffic goes there; data lives in a temporary folder, deleted at the end; every process started is
stopped by its PID (try/finally), and every wait has a deadline that only a hang reaches.
"""

import argparse
import asyncio
import functools
import json
import os
import platform
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg2
import yaml

from tools import harness, localdb
from tools.linearizability import History, Op, stale_reads
from tools import replication
from tools.replication import _alive, _children

PATRONI = "patroni[etcd3]==4.1.5"
PSYCOPG2 = "psycopg2-binary==2.9.11"  # for Patroni itself, in its venv
VENV = harness.SVC.parent / ".tools" / "patroni"
RESULTS = Path(__file__).resolve().parent / "results"
WITHIN = 120.0  # seconds: the deadline of every wait, reached only by a hang
SCOPE = "drill"
TTL, LOOP_WAIT, RETRY_TIMEOUT = 20, 1, 5  # Patroni's minimum ttl; loop_wait + 2 * retry_timeout <= ttl
SUPERUSER, REPLICATOR = ("postgres", "drill-superuser"), ("replicator", "drill-replicator")
APP = ("config", "drill-config")  # the service's role
DATABASE = "config_service"
WATCHERS = 20
# What the drill checks against, in seconds after the promotion.
WRITE_WINDOW_TARGET, WATCH_TARGET = 1.0, 2.0


# -- the pure parts ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    name: str
    pg_port: int
    api_port: int
    folder: Path  # the node's own: its Patroni config, data directory, socket and pgpass

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def patroni_config(node: Node, etcd_port: int, bindir: Path) -> dict:
    """The Patroni configuration of `node`: the DCS settings (bootstrap.dcs, used by whichever node bootstraps the
    cluster), PostgreSQL on 127.0.0.1, authentication, pg_hba and tags."""
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"127.0.0.1:{node.api_port}", "connect_address": f"127.0.0.1:{node.api_port}"},
        "etcd3": {"hosts": [f"127.0.0.1:{etcd_port}"], "protocol": "http"},
        "bootstrap": {
            "dcs": {
                "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1048576,
                # Only the synchronous standby may be promoted, so no acknowledged commit is lost. Not strict: with
                # its one standby gone, the new primary takes writes alone (strict would stop them until a standby
                # is back; with three nodes, strict costs nothing).
                "synchronous_mode": True,
                "synchronous_mode_strict": False,
                # The leader keeps leading through a DCS outage while every member answers it (svc/README).
                "failsafe_mode": True,
                "postgresql": {
                    "use_pg_rewind": False,
                    "parameters": {"wal_level": "replica", "hot_standby": "on", "max_wal_senders": 5,
                                   "max_replication_slots": 5, "wal_keep_size": "128MB", "shared_buffers": "32MB",
                                   "fsync": "on", "synchronous_commit": "on",
                                   # A standby that lost its primary retries every this long, and PostgreSQL 15
                                   # can sleep one such interval after the promote request: 5 s by default.
                                   "wal_retrieve_retry_interval": "200ms"},
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, {"auth-host": "scram-sha-256"},
                       {"auth-local": "scram-sha-256"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node.pg_port}",
            "connect_address": f"127.0.0.1:{node.pg_port}",
            "data_dir": str(node.folder / "data"),
            "bin_dir": str(bindir),
            "pgpass": str(node.folder / "pgpass"),
            "authentication": {
                "superuser": {"username": SUPERUSER[0], "password": SUPERUSER[1]},
                "replication": {"username": REPLICATOR[0], "password": REPLICATOR[1]},
            },
            "parameters": {"unix_socket_directories": str(node.folder)},
            "pg_hba": ["host all all 127.0.0.1/32 scram-sha-256",
                       f"host replication {REPLICATOR[0]} 127.0.0.1/32 scram-sha-256"],
        },
        "watchdog": {"mode": "off"},  # no /dev/watchdog here; production runs with `required`
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def multi_host_url(nodes: list[Node]) -> str:
    hosts = ",".join(f"127.0.0.1:{node.pg_port}" for node in nodes)
    return f"postgresql://{APP[0]}:{APP[1]}@{hosts}/{DATABASE}?target_session_attrs=read-write"


def lost_writes(ops: list[Op], stored: dict[str, int]) -> list[tuple[str, int, int]]:
    """Each key whose newest acknowledged version the new primary does not have: (key, acknowledged, stored)."""
    newest: dict[str, int] = {}
    for op in ops:
        if op.kind == "write":
            newest[op.key] = max(newest.get(op.key, 0), op.version)
    return [(key, version, stored.get(key, 0)) for key, version in newest.items() if stored.get(key, 0) < version]


def figures(ops: list[Op], marks: dict[str, float], watched: list[float], lost: int, stale: int,
            failures: dict[str, int]) -> dict:
    """The drill's figures from its history and marks (monotonic times: `killed`, `promoted`); `watched` holds the
    time each watcher had the next change."""
    killed, promoted = marks["killed"], marks["promoted"]
    after = [op.end for op in ops if op.kind == "write" and op.start > killed]
    first_write = min(after, default=None)
    waits = sorted(t - promoted for t in watched)
    result = {
        "writes": sum(op.kind == "write" for op in ops), "reads": sum(op.kind == "read" for op in ops),
        "promotion_s": round(promoted - killed, 2),
        # From the promotion (the new leader's /primary answering 200) to the first acknowledged write begun after
        # the kill: negative when the service wrote to the promoted server before Patroni's REST API said so.
        "write_window_s": None if first_write is None else round(first_write - promoted, 2),
        # The promoted server out of recovery (pg_is_in_recovery() false), after Patroni's /primary said so.
        "writable_s": round(marks["writable"] - promoted, 2),
        # The write the watchers wait for, sent at the promotion and again every 20 ms until it answers 200.
        "watched_write_s": round(marks["watched_written"] - promoted, 2),
        "watchers": len(waits), "watchers_within_target": sum(w <= WATCH_TARGET for w in waits),
        "watchers_slowest_s": round(waits[-1], 2) if waits else None,
        "lost": lost, "stale": stale, "failures": dict(sorted(failures.items())),
    }
    window = result["write_window_s"]
    result["targets_met"] = (window is not None and window <= WRITE_WINDOW_TARGET and lost == 0 and stale == 0
                             and result["watchers_within_target"] == WATCHERS == len(waits))
    return result


def table(f: dict) -> str:
    window = "none" if f["write_window_s"] is None else f"{f['write_window_s']:.2f} s"
    watchers = f"{f['watchers_within_target']}/{f['watchers']}, {f['watchers_slowest_s']} s"
    rows = [("promotion: kill to the new leader's /primary 200", f"{f['promotion_s']:.2f} s", f"(ttl {TTL} s)"),
            ("write window: promotion to the first acknowledged write", window, f"<= {WRITE_WINDOW_TARGET:g} s"),
            ("its PostgreSQL out of recovery, after promotion", f"{f['writable_s']:.2f} s", ""),
            ("the watched configuration written, after promotion", f"{f['watched_write_s']:.2f} s", ""),
            ("watchers with the next change, slowest after promotion", watchers, f"all <= {WATCH_TARGET:g} s"),
            ("acknowledged writes lost (synchronous)", f"{f['lost']} of {f['writes']}", "0"),
            ("stale reads", f"{f['stale']} of {f['reads']}", "0"),
            ("failed requests, by status or error", json.dumps(f["failures"]), "503 only")]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'figure':<{width}}  {'measured':<18}  target", "-" * (width + 32)]
    lines += [f"{name:<{width}}  {value:<18}  {target}" for name, value, target in rows]
    lines.append("targets met" if f["targets_met"] else "TARGETS MISSED")
    return "\n".join(lines)


# -- processes -----------------------------------------------------------------------------------------------------

def run(command: list[str], what: str, timeout: float = WITHIN, **options) -> str:
    options.setdefault("env", harness.child_env())
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **options)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed: {(result.stdout + result.stderr).strip()[-2000:]}")
    return result.stdout


def install_patroni(venv: Path = VENV) -> Path:
    """The venv's patroni, installed first when it is not the pinned version. The system's Python when there is
    one: under /root, an interpreter is out of the `postgres` user's reach."""
    patroni = venv / "bin" / "patroni"
    version = PATRONI.split("==")[1]
    try:
        if run([str(patroni), "--version"], "patroni --version").split()[-1] == version:
            return patroni
    except (OSError, RuntimeError, IndexError):
        pass  # none yet, or a broken one: installed afresh
    print(f"installing {PATRONI} and {PSYCOPG2} from PyPI into {venv}", flush=True)
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3") or sys.executable
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", str(venv)], "python -m venv")
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", PATRONI, PSYCOPG2], "pip install", 600)
    return patroni


def get(url: str, timeout: float = 1) -> tuple[int, dict]:
    """Status and JSON body of a GET (0 and {} when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}
    except (OSError, ValueError):
        return 0, {}


# The harness's bounded poll, at the drill's finer step (its figures are measured with it).
wait_until = functools.partial(replication.wait_until, every=0.05)


def kill(pids: list[int]) -> None:
    """SIGKILL each of `pids` (one may have exited since it was listed)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Drill:
    def __init__(self) -> None:
        self.bindir = localdb.find_bindir()
        if self.bindir is None:
            raise RuntimeError("the PostgreSQL server binaries are needed (apt-get install postgresql)")
        self.tmp = Path(tempfile.mkdtemp(prefix="drill-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.nodes: list[Node] = []
        self.service: harness.Service | None = None
        self.user = pwd.getpwnam(localdb.SERVICE_USER) if os.geteuid() == 0 else None
        if self.user:
            os.chown(self.tmp, self.user.pw_uid, self.user.pw_gid)

    def _popen(self, key: str, command: list[str], as_postgres: bool = False) -> subprocess.Popen:
        log = (self.tmp / f"{key}.log").open("w")
        owner = {}
        if as_postgres and self.user:
            owner = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        process = subprocess.Popen(command, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=harness.child_env(), **owner)
        log.close()
        self.processes[key] = process
        return process

    def start_etcd(self) -> int:
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is needed: apt-get install -y etcd-server")
        port, peer = harness.free_port(), harness.free_port()
        self._popen("etcd", [binary, "--name", SCOPE, "--data-dir", str(self.tmp / "etcd"),
                             "--listen-client-urls", f"http://127.0.0.1:{port}",
                             "--advertise-client-urls", f"http://127.0.0.1:{port}",
                             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-cluster", f"{SCOPE}=http://127.0.0.1:{peer}", "--log-level", "error"])
        wait_until(lambda: self.running("etcd") and get(f"http://127.0.0.1:{port}/health")[0] == 200, "etcd answering")
        return port

    def running(self, key: str) -> bool:
        """True while the process started as `key` runs; RuntimeError with the end of its log once it has exited."""
        if self.processes[key].poll() is None:
            return True
        tail = (self.tmp / f"{key}.log").read_text(errors="replace").strip().splitlines()[-10:]
        raise RuntimeError(f"{key} exited with {self.processes[key].returncode}: " + " | ".join(tail))

    def start_nodes(self, patroni: Path, etcd_port: int) -> None:
        ports: set[int] = set()
        while len(ports) < 4:
            ports.add(harness.free_port())
        pg0, api0, pg1, api1 = sorted(ports)
        for name, pg, api in (("node0", pg0, api0), ("node1", pg1, api1)):
            node = Node(name, pg, api, self.tmp / name)
            node.folder.mkdir(mode=0o700)
            config = node.folder / "patroni.yml"
            config.write_text(yaml.safe_dump(patroni_config(node, etcd_port, self.bindir), sort_keys=False))
            if self.user:
                for path in (node.folder, config):
                    os.chown(path, self.user.pw_uid, self.user.pw_gid)
            self._popen(name, [str(patroni), str(config)], as_postgres=True)
            self.nodes.append(node)

    def roles(self) -> tuple[Node, Node] | None:
        """(leader, synchronous standby) once one node answers /primary and the other /sync, else None."""
        for node in self.nodes:
            self.running(node.name)
        for leader, standby in (self.nodes, self.nodes[::-1]):
            if get(leader.api + "/primary")[0] == 200 and get(standby.api + "/sync")[0] == 200:
                return leader, standby
        return None

    def postmaster(self, node: Node) -> int | None:
        try:
            pid = int((node.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def kill_node(self, node: Node) -> list[int]:
        """The machine dies: Patroni and the postmaster stopped (so nothing reacts or forks), then SIGKILL to them
        and every child at once. The PIDs killed, once all are gone."""
        patroni = self.processes[node.name].pid
        roots = [pid for pid in (patroni, self.postmaster(node)) if pid is not None]
        for pid in roots:
            os.kill(pid, signal.SIGSTOP)
        victims = roots + [child for pid in roots for child in _children(pid)]
        kill(victims)
        self.processes[node.name].wait(WITHIN)
        wait_until(lambda: not any(_alive(pid) for pid in victims), f"{node.name} killed")
        return victims

    def writable(self, node: Node) -> float:
        """The time `node`'s PostgreSQL is seen out of recovery, polled every 20 ms."""
        def primary() -> bool:
            try:
                return not self.sql(node, "SELECT pg_is_in_recovery()", connect_timeout=1)[0][0]
            except psycopg2.Error:
                return False
        wait_until(primary, f"{node.name} out of recovery", every=0.02)
        return time.monotonic()

    def sql(self, node: Node, query: str, params=None, user=SUPERUSER, database="postgres",
            connect_timeout: int = 10) -> list[tuple]:
        conn = psycopg2.connect(host="127.0.0.1", port=node.pg_port, user=user[0], password=user[1], dbname=database,
                                connect_timeout=connect_timeout)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the service, Patroni (which stops its PostgreSQL), etcd, each by PID; SIGKILL what outlives that."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        if self.service is not None:  # its warnings and failed requests, beside the figures
            lines = [line for line in self.service.log().splitlines()
                     if not re.search(r'"message": "request".*"status": [23]\d\d', line)]
            (RESULTS / "drill-service.log").write_text("\n".join(lines[-500:]) + "\n")
            self.service.stop()
        for process in reversed(self.processes.values()):  # Patroni first: it needs etcd to stop cleanly
            harness.stop(process, within=60)
        for node in self.nodes:
            if (pid := self.postmaster(node)) is not None:
                kill([pid, *_children(pid)])
                wait_until(lambda: not _alive(pid), f"{node.name}'s postmaster killed")
        for key in self.processes:
            if (log := self.tmp / f"{key}.log").exists():
                shutil.copy(log, RESULTS / f"drill-{key}.log")
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- the drill -----------------------------------------------------------------------------------------------------

def setup(base: str) -> tuple[dict[str, str], str, str]:
    """An application with 4 configurations for the writers (id -> name), and one that only the watchers read (its
    id and ETag)."""
    app = httpx.post(f"{base}/api/v1/applications", json={"name": "drill"}, timeout=WITHIN).json()["id"]
    names = {}
    for name in ("c0", "c1", "c2", "c3"):
        made = httpx.post(f"{base}/api/v1/configurations", json={"application_id": app, "name": name, "config": {}},
                          timeout=WITHIN)
        names[made.json()["id"]] = name
    watched = httpx.post(f"{base}/api/v1/configurations", json={"application_id": app, "name": "watched",
                                                                 "config": {}}, timeout=WITHIN)
    return names, watched.json()["id"], watched.headers["etag"]


async def watch(http: httpx.AsyncClient, config_id: str, etag: str) -> float:
    """A client holding `wait` on the configuration, asking again after a 304, and 0.2 s after a 503 or an error,
    as a client does; the time it has a new ETag."""
    while True:
        try:
            response = await http.get(f"/api/v1/configurations/{config_id}", params={"wait": 60},
                                      headers={"If-None-Match": etag})
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200 and response.headers["etag"] != etag:
            return time.monotonic()
        if response is None or response.status_code != 304:
            await asyncio.sleep(0.2)


async def write(http: httpx.AsyncClient, config_id: str, within: float = WITHIN) -> float:
    """PUT the configuration, again every 20 ms until it answers 200; the time it did."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            response = await http.put(f"/api/v1/configurations/{config_id}",
                                      json={"name": "watched", "config": {"after": "promotion"}})
            if response.status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.02)
    raise RuntimeError(f"no write answered 200 within {within:.0f} s of the promotion")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes-before", type=int, default=50, help="acknowledged writes before the kill")
    parser.add_argument("--writes-after", type=int, default=50, help="acknowledged writes after the promotion")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped from outside: still stop what it started
    started = time.monotonic()
    patroni = install_patroni()
    drill = Drill()
    try:
        etcd_port = drill.start_etcd()
        drill.start_nodes(patroni, etcd_port)
        leader, standby = wait_until(drill.roles, "a leader and a synchronous standby")
        print(f"Patroni: {leader.name} leads, {standby.name} is its synchronous standby "
              f"({time.monotonic() - started:.1f} s)", flush=True)
        drill.sql(leader, f"CREATE ROLE {APP[0]} LOGIN PASSWORD %s", (APP[1],))
        drill.sql(leader, f"CREATE DATABASE {DATABASE} OWNER {APP[0]}")
        url = multi_host_url(drill.nodes)
        run([sys.executable, "-m", "db.migrations"], "migrations", cwd=harness.SVC,
            env=harness.child_env(DATABASE_URL=url))
        drill.service = harness.Service(url, workers=2)
        base = drill.service.base
        names, watched_id, etag = setup(base)
        history = History(base, names)
        marks: dict[str, float] = {}
        watched: list[float] = []

        async def disturb() -> None:
            loop = asyncio.get_running_loop()
            limits = httpx.Limits(max_connections=WATCHERS + 1)
            async with httpx.AsyncClient(base_url=base, timeout=90, limits=limits) as http:
                watchers = [asyncio.create_task(watch(http, watched_id, etag)) for _ in range(WATCHERS)]
                await history.reached(writes=args.writes_before)
                # Marked once its processes are gone: a write begun while they were being killed could still be
                # acknowledged by the old leader (a figure of -20 s in one run, when the mark came before the kill).
                await loop.run_in_executor(None, drill.kill_node, leader)
                marks["killed"] = time.monotonic()
                await loop.run_in_executor(None, lambda: wait_until(
                    lambda: get(standby.api + "/primary", 0.5)[0] == 200, f"{standby.name} promoted", WITHIN, every=0.02))
                marks["promoted"] = time.monotonic()
                written = asyncio.create_task(write(http, watched_id))  # the change the watchers wait for
                marks["writable"] = await loop.run_in_executor(None, drill.writable, standby)
                marks["watched_written"] = await written
                watched.extend(await asyncio.wait_for(asyncio.gather(*watchers), WITHIN))
            after = args.writes_after
            await history.reached(writes=history.writes + after, reads=history.reads + 6 * after)

        print(f"load: 8 writers, 16 readers, {WATCHERS} watchers; killing {leader.name} after "
              f"{args.writes_before} writes", flush=True)
        asyncio.run(history.run(writes=0, reads=0, within=2 * WITHIN, writers=8, readers=16, disturb=disturb))
        if history.timed_out:
            raise RuntimeError("the load did not finish its work: a hang")
        rows = drill.sql(standby, "SELECT id, version FROM configurations WHERE id = ANY(%s)", (list(names),),
                         user=APP, database=DATABASE)
        lost = lost_writes(history.ops, dict(rows))
        result = figures(history.ops, marks, watched, len(lost), len(stale_reads(history.ops)), history.failures)
        result["postgresql"] = drill.sql(standby, "SHOW server_version")[0][0]
    finally:
        drill.close()
    result |= {"date": datetime.now(UTC).isoformat(timespec="seconds"), "patroni": PATRONI, "ttl_s": TTL,
               "loop_wait_s": LOOP_WAIT, "machine": f"{os.cpu_count()} cores, {platform.platform()}",
               "drill_s": round(time.monotonic() - started, 1)}
    print(table(result))
    print(f"whole drill {result['drill_s']} s; figures in {RESULTS / 'drill.json'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drill.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
