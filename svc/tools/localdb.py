"""The development database: docker compose where a Docker engine answers, else a local PostgreSQL cluster.

`python -m tools.localdb up|down|reset`. The local cluster lives in `svc/.pgdata` (git-ignored), listens on
127.0.0.1 with the port and credentials of `DATABASE_URL`, and runs as the `postgres` user when started as root
(PostgreSQL refuses to run as root).
"""

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
import psycopg2

from db import dbprobe
import settings as settings_module
from tools import harness

HERE = Path(__file__).resolve().parent.parent  # svc/: docker-compose.yml and the cluster's data live there
DATA = HERE / ".pgdata"
LOG = HERE / ".pgdata.log"
SERVICE_USER = "postgres"


class LocalDbError(Exception):
    """The database cannot be started or stopped; the message says why and what to do."""


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        ok = subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
        return ok and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_bindir() -> Path | None:
    """The folder of the PostgreSQL server binaries: PATH, then `pg_config --bindir`, then Debian's layout."""
    found = shutil.which("pg_ctl")
    if found and Path(found).resolve().with_name("initdb").exists():
        return Path(found).resolve().parent
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out and (Path(out) / "pg_ctl").exists():
            return Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for folder in candidates:
        if (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _as_service_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", SERVICE_USER, "--", *cmd]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(_as_service_user(cmd), capture_output=True, text=True, **kwargs)


def _prepare_owner(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def accepts(url: str, timeout: int = 1) -> bool:
    """True when the database of `url` takes a connection."""
    try:
        psycopg2.connect(url, connect_timeout=timeout).close()
        return True
    except psycopg2.Error:
        return False


def wait_until_accepting(url: str, seconds: float = 60) -> None:
    """Wait while the server is starting; stop at once, with the cause, on anything waiting will not mend."""
    deadline = time.monotonic() + seconds
    cause = dbprobe.probe(url)
    while cause is not None:
        if cause.kind not in dbprobe.TRANSIENT:
            raise LocalDbError(explained(url, cause))
        if time.monotonic() > deadline:
            raise LocalDbError(f"the database did not accept connections within {seconds:.0f} s: {cause.line}")
        time.sleep(0.2)
        cause = dbprobe.probe(url)


def our_port(data: Path | None = None) -> int | None:
    """The port of the cluster in `data` (svc/.pgdata) while it runs, from its postmaster.pid; else None."""
    pidfile = (data or DATA) / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        os.kill(int(lines[0]), 0)
        return int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def explained(url: str, cause: dbprobe.Cause) -> str:
    """The cause, with what only this tool knows: whether the server on that port is svc/.pgdata's."""
    port = dbprobe.where(url).port
    if cause.kind in ("auth", "role", "hba"):
        if our_port() == port:
            return (f"{cause.line}; the cluster of {DATA} was created with other credentials: put them back in "
                    f"DATABASE_URL, or `make db-down`, remove {DATA} and run `make db-up` to start afresh (its data "
                    "is lost)")
        return (f"{cause.line}; that server is not the cluster of {DATA} (another PostgreSQL, perhaps the "
                "system's own): use its credentials, or set another port in DATABASE_URL for ours")
    return cause.line


def running(bindir: Path, data: Path | None = None) -> bool:
    data = data or DATA
    return data.exists() and _run([str(bindir / "pg_ctl"), "status", "-D", str(data)]).returncode == 0


def init_cluster(bindir: Path, user: str, password: str, data: Path | None = None) -> None:
    data = data or DATA
    data.mkdir(mode=0o700)
    _prepare_owner(data)
    with tempfile.NamedTemporaryFile("w", delete=False, prefix="pwfile") as pwfile:
        pwfile.write(password + "\n")
    os.chmod(pwfile.name, 0o644)
    try:
        result = _run([str(bindir / "initdb"), "-D", str(data), "-U", user, f"--pwfile={pwfile.name}",
                       "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
    finally:
        os.unlink(pwfile.name)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise LocalDbError("initdb failed: " + (result.stderr.strip().splitlines() or ["no output"])[-1])


def start(bindir: Path, port: int, data: Path | None = None, log: Path | None = None) -> None:
    data, log = data or DATA, log or LOG
    if not log.exists():
        log.touch()
    _prepare_owner(log)
    # No unix socket: the server is reached over TCP on loopback only, the same as in a container.
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories=''"
    result = _run([str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options])
    if result.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise LocalDbError("pg_ctl start failed: " + " | ".join(tail or [result.stderr.strip()]))


def stop(bindir: Path, data: Path | None = None) -> None:
    """Stop the cluster in `data` ("fast": sessions are ended, nothing committed is lost)."""
    result = _run([str(bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(data or DATA)])
    if result.returncode != 0:
        raise LocalDbError("pg_ctl stop failed: " + result.stderr.strip())


def ensure_database(url: str) -> bool:
    """Create the database of `url` when the server lacks it; True when it did. A role that may not create one is
    told in one line what to do (on a server of its own, an operator's role often may not)."""
    t = dbprobe.where(url)
    conn = psycopg2.connect(harness.with_database(url, "postgres"), connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (t.dbname,))
            if cur.fetchone() is not None:
                return False
            try:
                cur.execute(f"CREATE DATABASE {harness.identifier(t.dbname)}")
            except psycopg2.errors.InsufficientPrivilege:
                raise LocalDbError(
                    f"database {t.dbname} does not exist on {t.host}:{t.port}, and user {t.user} may not create one: "
                    f"create it as a superuser (CREATE DATABASE {harness.identifier(t.dbname)} OWNER "
                    f"{harness.identifier(t.user)}), or ALTER ROLE {harness.identifier(t.user)} CREATEDB (which "
                    "the tests need: they make databases of their own)") from None
            return True
    finally:
        conn.close()


def ours(url: str) -> bool:
    """Whether the one server `url` names is this tool's: the cluster of svc/.pgdata running on its port, or, with
    a Docker engine, compose's (as `up` takes it)."""
    if len(dbprobe.hosts(url)) > 1:
        return False
    return our_port() == dbprobe.where(url).port or docker_available()


def ensured(url: str, message: str) -> str:
    """`message`, after making sure the database of `url` exists, saying so when it had to be created."""
    if ensure_database(url):
        name = dbprobe.where(url).dbname
        message += (f"; created database {name}, which did not exist (new and empty: if you expected your data, "
                    "check the database name in DATABASE_URL)")
    return message


def up(url: str) -> str:
    """Start the database (idempotent) and wait until it accepts connections; or say in one line why not."""
    t = dbprobe.where(url)
    admin = harness.with_database(url, "postgres")
    servers = dbprobe.hosts(url)
    if len(servers) > 1:  # replicated servers of the operator's: nothing here starts or stops them
        cause = dbprobe.probe(admin)
        if cause is not None:
            raise LocalDbError(cause.line)
        listed = ", ".join(f"{host}:{port}" for host, port in servers)
        return ensured(url, f"PostgreSQL answers at {listed} (several hosts: the operator's servers, which "
                                  "`make db-down` leaves alone)")
    running_on = our_port()
    if running_on is not None and running_on != t.port:
        raise LocalDbError(f"the cluster of {DATA} already runs on port {running_on}, but DATABASE_URL says "
                           f"{t.port}: set port {running_on} in DATABASE_URL, or stop it with `make db-down` and "
                           "run `make db-up` again")
    cause = dbprobe.probe(admin)
    if cause is None:
        whose = "" if ours(url) else (f" (not the cluster of {DATA}: another PostgreSQL, which `make db-down` "
                                      "leaves alone)")
        return ensured(url, f"PostgreSQL is already up on {t.host}:{t.port}{whose}")
    if cause.kind != "refused":
        raise LocalDbError(explained(admin, cause))
    if docker_available():
        env = harness.child_env(POSTGRES_USER=t.user, POSTGRES_PASSWORD=t.password,
                                POSTGRES_DB=t.dbname, POSTGRES_PORT=str(t.port))
        result = subprocess.run(["docker", "compose", "up", "-d", "--wait"], cwd=HERE, env=env)
        if result.returncode != 0:
            raise LocalDbError("docker compose up failed")
        wait_until_accepting(admin)
        return ensured(url, "docker compose: postgres is up")
    bindir = find_bindir()
    if bindir is None:
        raise LocalDbError("no Docker engine and no PostgreSQL server binaries: install Docker, or PostgreSQL "
                           "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16)")
    if not DATA.exists():
        init_cluster(bindir, t.user, t.password)
    if not running(bindir):
        start(bindir, t.port)
    wait_until_accepting(admin)
    return ensured(url, f"local PostgreSQL ({bindir}) is up on {t.host}:{t.port}, data in {DATA}")


def down(url: str) -> str:
    """Stop the database; data is kept."""
    if docker_available():
        subprocess.run(["docker", "compose", "down"], cwd=HERE, check=False)
        return "docker compose: postgres is down"
    bindir = find_bindir()
    if bindir is None or not running(bindir):
        return f"local PostgreSQL is not running (the cluster of {DATA}; another server is left alone)"
    stop(bindir)
    return "local PostgreSQL stopped"


def reset(url: str) -> str:
    """Drop and recreate the database of `url` (empty; `make db-reset` migrates it next): on this tool's server only.
    On another (the operator's, the system's) it drops nothing: that is for a person to do, knowingly (a trial's
    `make db-reset` dropped the database of a server `make db-down` calls another's, and its role could not create
    it again)."""
    message = up(url)
    t = dbprobe.where(url)
    if not ours(url):
        raise LocalDbError(f"not resetting database {t.dbname} on {t.host}:{t.port}: that server is not the cluster "
                           f"of {DATA} (another PostgreSQL, whose databases this tool does not drop); drop it "
                           "yourself if you mean to, then `make db-up` and `make migrate`")
    harness.drop_database(url)
    ensure_database(url)
    return message + f"; database {t.dbname} recreated"


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "reset": reset}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: python -m tools.localdb up|down|reset", file=sys.stderr)
        return 2
    url = str(settings_module.load().database_url)
    try:
        print(commands[argv[0]](url))
    except LocalDbError as error:
        print(f"localdb: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
