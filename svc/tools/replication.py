"""A PostgreSQL primary with a streaming standby (synchronous by default), from the local server binaries, for
fault tests of failover: kill -9 a node, freeze and thaw it, promote the standby, start the old primary again as a
second primary.

    with Pair("failover") as pair:            # node 0 is the primary, node 1 its standby (pg_basebackup -R)
        pair.sql(pair.primary, "CREATE TABLE t (x int)")
        pair.kill9(0)
        pair.promote(1)                       # timeline 1 -> 2, same system identifier

Both clusters listen on 127.0.0.1 only, on free ports, and all traffic goes there. Everything it starts it stops by
the PID in the node's postmaster.pid (frozen processes are thawed first); the data directories are
`svc/.pgdata-repl-*` (git-ignored) and are deleted by `remove()`. Every wait polls something observable under a
deadline that only a hang reaches. As root, the servers run as the `postgres` user (`tools.localdb`).
"""

import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import psycopg2

from tools import harness, localdb

HERE = Path(__file__).resolve().parent.parent  # svc/
WITHIN = 120.0  # seconds: the deadline of every wait, reached only by a hang
USER, PASSWORD, DATABASE = "repl", "repl-secret", "repl"


class ReplicationError(RuntimeError):
    """A node did not reach the state asked for in time; the message ends with the end of its log."""


def wait_until(condition, what: str, within: float = WITHIN, every: float = 0.1):
    """Poll `condition` until it returns something true, which is returned; ReplicationError after `within` s."""
    deadline = time.monotonic() + within
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise ReplicationError(f"{what}: not within {within:.0f} s")
        time.sleep(every)
    return result


def _state(pid: int) -> str | None:
    """The state letter of process `pid` (R, S, D, T, Z, ...), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`: a postmaster's backends and auxiliary processes. Each is the leader of
    a process group of its own (PostgreSQL calls setsid() in every child), so killpg() would miss them."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


class Pair:
    """Two nodes, 0 and 1: node 0 starts as the primary, node 1 as its standby, named `<name>_<node>` (the
    standby's application_name, which the primary's synchronous_standby_names names when `synchronous`)."""

    def __init__(self, name: str, synchronous: bool = True) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"name must be lower-case letters, digits and _: {name!r}")
        bindir = localdb.find_bindir()
        if bindir is None:
            raise ReplicationError("the PostgreSQL server binaries are needed (apt-get install postgresql)")
        self.bindir, self.name, self.synchronous = bindir, name, synchronous
        self.ports = [harness.free_port(), harness.free_port()]
        while self.ports[1] == self.ports[0]:
            self.ports[1] = harness.free_port()
        self.names = [f"{name}_0", f"{name}_1"]
        self.data = [HERE / f".pgdata-repl-{n}-{os.getpid()}" for n in self.names]
        self.logs = [d.with_name(d.name + ".log") for d in self.data]
        self.primary = 0
        self._frozen: dict[int, list[int]] = {}
        for data in self.data:
            shutil.rmtree(data, ignore_errors=True)
        try:
            self._create()
        except BaseException:
            self.remove()
            raise

    def _create(self) -> None:
        primary, standby = self.data
        localdb.init_cluster(self.bindir, USER, PASSWORD, primary)
        # Host connections from 127.0.0.1 only, replication ones included; there is no unix socket.
        (primary / "pg_hba.conf").write_text("host all         all 127.0.0.1/32 scram-sha-256\n"
                                             f"host replication {USER} 127.0.0.1/32 scram-sha-256\n")
        self._configure(0, wal_level="replica", max_wal_senders="4", hot_standby="on",
                        wal_keep_size="'256MB'",  # a standby stopped for a while catches up without an archive
                        shared_buffers="'32MB'", synchronous_standby_names="''")
        self.start(0)
        # Synchronous only once the standby exists: before, every commit (CREATE DATABASE too) would wait forever.
        localdb.ensure_database(self.urls[0])
        # pg_basebackup -R writes standby.signal and a primary_conninfo made of the connection string given here,
        # application_name and password included. -c fast: do not wait for a spread checkpoint; -N: no fsync
        # (throwaway data; a kill -9 of a node loses nothing the kernel holds anyway).
        standby.mkdir(mode=0o700)
        localdb._prepare_owner(standby)
        conninfo = (f"host=127.0.0.1 port={self.ports[0]} user={USER} password={PASSWORD} "
                    f"application_name={self.names[1]}")
        result = localdb._run([str(self.bindir / "pg_basebackup"), "-D", str(standby), "-R", "-X", "stream",
                               "-c", "fast", "-N", "-w", "-d", conninfo], timeout=WITHIN)
        if result.returncode != 0:
            raise ReplicationError("pg_basebackup failed: " + result.stderr.strip())
        # Promoted, this node has no standby of its own to wait for: it commits alone.
        self._configure(1, synchronous_standby_names="''")
        self.start(1)
        if self.synchronous:
            self._configure(0, synchronous_standby_names=f"'\"{self.names[1]}\"'")
            self.sql(0, "SELECT pg_reload_conf()")
        self.wait_streaming()

    # What tests read.

    @property
    def standby(self) -> int:
        """The node that is not the current primary."""
        return 1 - self.primary

    @property
    def urls(self) -> list[str]:
        """Each node's URL, by node."""
        return [f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}" for port in self.ports]

    @property
    def multi_host_url(self) -> str:
        """Both nodes in one libpq URL that connects to the first one that accepts writes."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"postgresql://{USER}:{PASSWORD}@{hosts}/{DATABASE}?target_session_attrs=read-write"

    def sql(self, node: int, query: str, params=None, timeout: float = 60) -> list[tuple]:
        """Run `query` in autocommit on `node`; its rows. Bounded: connect_timeout 10 s, then the statement is
        cancelled from here after `timeout` s (statement_timeout would not do: PostgreSQL disables it before the
        commit, so a commit waiting for its synchronous standby outlives it). So cancelled, such a commit ends
        with a WARNING and is kept locally: that raises TimeoutError here rather than pass for replicated."""
        conn = psycopg2.connect(self.urls[node], connect_timeout=10)
        timer = threading.Timer(timeout, conn.cancel)
        timer.daemon = True
        try:
            conn.autocommit = True
            timer.start()
            with conn.cursor() as cur:
                cur.execute(query, params)
                rows = cur.fetchall() if cur.description else []
            if any("synchronous replication" in notice for notice in conn.notices):
                raise TimeoutError(f"node {node} committed without its synchronous standby: {conn.notices[-1]}")
            return rows
        finally:
            timer.cancel()
            conn.close()

    def in_recovery(self, node: int) -> bool:
        return self.sql(node, "SELECT pg_is_in_recovery()")[0][0]

    def system_identifier(self, node: int) -> int:
        return int(self.sql(node, "SELECT system_identifier FROM pg_control_system()")[0][0])

    def timeline(self, node: int) -> int:
        """The timeline `node` is on: of the WAL it writes when it is a primary (its control file's checkpoint
        still names the old one until the checkpoint after a promotion ends), else of its last restartpoint."""
        if self.in_recovery(node):
            return self.sql(node, "SELECT timeline_id FROM pg_control_checkpoint()")[0][0]
        return int(self.sql(node, "SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0][:8], 16)

    def replication(self, node: int | None = None) -> list[tuple[str, str, str]]:
        """(application_name, state, sync_state) of each standby connected to `node` (the primary by default)."""
        node = self.primary if node is None else node
        return self.sql(node, "SELECT application_name, state, sync_state FROM pg_stat_replication")

    def wait_streaming(self, within: float = WITHIN) -> None:
        """Wait until the standby streams from the primary, with sync_state 'sync' when synchronous."""
        wanted = (self.names[self.standby], "streaming", "sync" if self.synchronous else "async")
        try:
            wait_until(lambda: wanted in self.replication(), f"{wanted[0]} streaming", within, every=0.2)
        except ReplicationError as error:
            raise ReplicationError(f"{error}; {self.log_tail(self.standby)}") from None

    def log_tail(self, node: int, lines: int = 5) -> str:
        text = self.logs[node].read_text(errors="replace") if self.logs[node].exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def pid(self, node: int) -> int | None:
        """The postmaster of `node` from its postmaster.pid, when that process lives and is this node's."""
        try:
            pid = int((self.data[node] / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) and str(self.data[node]).encode() in cmdline else None

    def processes(self, node: int) -> list[int]:
        """The postmaster of `node` and its children; empty when it does not run."""
        pid = self.pid(node)
        return [] if pid is None else [pid, *_children(pid)]

    # What tests do.

    def _configure(self, node: int, **settings: str) -> None:
        """Append settings to the node's postgresql.conf (the last one of a name wins); read at its next start."""
        with (self.data[node] / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))

    def start(self, node: int, within: float = WITHIN) -> None:
        """Start `node` as its data directory says (a standby while it holds standby.signal); wait until it
        accepts connections."""
        deadline = time.monotonic() + within
        while True:
            try:
                localdb.start(self.bindir, self.ports[node], self.data[node], self.logs[node])
                return
            except localdb.LocalDbError:
                # After kill -9 the killed processes may still hold shared memory for a moment.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self, node: int) -> None:
        """Stop `node` (pg_ctl stop -m fast, which signals the PID of its postmaster.pid and waits, up to 60 s)."""
        self.thaw(node)
        if self.pid(node) is not None:
            localdb.stop(self.bindir, self.data[node])

    def kill9(self, node: int, within: float = WITHIN) -> list[int]:
        """SIGKILL the postmaster of `node` and all its children at once, as when its machine dies (stopped first,
        the postmaster forks nothing new while they are gathered); the PIDs killed, once all are gone."""
        pid = self.pid(node)
        if pid is None:
            raise ReplicationError(f"node {node} does not run")
        os.kill(pid, signal.SIGSTOP)
        victims = [pid, *_children(pid)]
        for victim in victims:
            os.kill(victim, signal.SIGKILL)
        self._frozen.pop(node, None)
        wait_until(lambda: not any(_alive(v) for v in victims), f"node {node} killed", within)
        return victims

    def freeze(self, node: int, within: float = WITHIN) -> list[int]:
        """SIGSTOP the postmaster of `node`, then each of its children: the node hangs without closing anything
        (its port still completes TCP handshakes, and nothing answers on them). The PIDs stopped, once all are."""
        pid = self.pid(node)
        if pid is None:
            raise ReplicationError(f"node {node} does not run")
        os.kill(pid, signal.SIGSTOP)
        stopped = [pid, *_children(pid)]
        for child in stopped[1:]:
            os.kill(child, signal.SIGSTOP)
        self._frozen[node] = stopped
        wait_until(lambda: all(_state(p) in ("T", "Z", None) for p in stopped), f"node {node} frozen", within)
        return stopped

    def thaw(self, node: int) -> None:
        """SIGCONT what `freeze` stopped, the children first, the postmaster last."""
        for pid in reversed(self._frozen.pop(node, [])):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def promote(self, node: int, within: float = WITHIN) -> None:
        """Promote the standby `node` (pg_ctl promote -w: until it leaves recovery); it becomes the primary."""
        result = localdb._run([str(self.bindir / "pg_ctl"), "promote", "-w", "-t", str(int(within)),
                               "-D", str(self.data[node])], timeout=within + 10)
        if result.returncode != 0:
            raise ReplicationError(f"pg_ctl promote failed: {result.stderr.strip()}; {self.log_tail(node)}")
        self.primary = node

    def restart_read_write(self, node: int, synchronous: bool = False) -> None:
        """Start `node` (stopped first if it runs) as a primary, without standby.signal, whatever the other node
        is: two primaries at once, as without fencing. Unless `synchronous`, with synchronous_standby_names
        cleared, so that it acknowledges commits alone; with it, its commits wait for a standby that is gone."""
        self.stop(node)
        (self.data[node] / "standby.signal").unlink(missing_ok=True)
        if not synchronous:
            self._configure(node, synchronous_standby_names="''")
        self.start(node)

    def lose_standby(self) -> None:
        """Stop the standby: a synchronous primary's commits then wait (wait_event SyncRep) until it is back."""
        self.stop(self.standby)

    def remove(self) -> None:
        """Stop both nodes (thawed first; SIGKILL if a stop fails) and delete their data and logs."""
        for node in (0, 1):
            self.thaw(node)
            if self.pid(node) is not None:
                try:
                    localdb.stop(self.bindir, self.data[node])
                except localdb.LocalDbError:
                    self.kill9(node)
        for data, log in zip(self.data, self.logs):
            shutil.rmtree(data, ignore_errors=True)
            log.unlink(missing_ok=True)

    def __enter__(self) -> "Pair":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
