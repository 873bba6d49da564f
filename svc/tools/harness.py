"""What the tests and the tools share: free ports, child processes and their environment, the service started and
stopped by PID, and databases of their own on the development server."""

import asyncio
import collections
import gc
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from db import dbprobe
from wire.problems import MEDIA_TYPE as PROBLEM

SVC = Path(__file__).resolve().parent.parent


# The deadline of every wait in the tests: reached only by a hang, never by a slow or busy machine. Tests count
# work and wait for what they can observe; how fast anything is, is for `make bench`.
HANG = 120.0

# A service's own timeouts for tests about outcomes, not about timeouts: a wait for a connection, a lock or a
# statement that no busy machine reaches (writes to one application queue on its row, a commit each; a stall of a
# second or two there must not turn the queue into 503s the test counts as wrong).
PATIENT = {"POOL_ACQUIRE_TIMEOUT": "30", "LOCK_TIMEOUT_MS": "30000", "STATEMENT_TIMEOUT_MS": "30000"}


def until(check, what: str, within: float = HANG) -> None:
    """Return once `check()` is true, asked every 20 ms; fail if it is not within `within` seconds (a hang)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within:.0f} s"
        time.sleep(0.02)


async def until_async(check, what: str, within: float = HANG) -> None:
    """`until` on an event loop: `check()` may return a bool or an awaitable of one."""
    deadline = time.monotonic() + within
    while not ((await result) if inspect.isawaitable(result := check()) else result):
        assert time.monotonic() < deadline, f"{what}: not within {within:.0f} s"
        await asyncio.sleep(0.02)


def health(base: str) -> dict:
    """The body of the /health of the service at `base` (of the worker that answered); {} while it is not 200."""
    try:
        with urllib.request.urlopen(base + "/health", timeout=10) as response:
            return json.load(response)
    except (OSError, urllib.error.URLError, ValueError):
        return {}


def held(base: str) -> int:
    """How many requests the service at `base` holds (`wait`), as its /health says: of one worker, so a test that
    counts them starts a service of one worker. -1 while /health does not answer 200."""
    return health(base).get("waiters", -1)


async def until_held(base: str, count: int, within: float = HANG) -> None:
    """Return once the service at `base` holds at least `count` requests: what a test waits for before it changes
    what they wait on (a sleep would assume the machine's speed)."""
    loop = asyncio.get_running_loop()

    async def enough() -> bool:
        return await loop.run_in_executor(None, held, base) >= count
    await until_async(enough, f"{count} requests held", within)


class StartFailed(RuntimeError):
    """A process did not answer its health probe in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child, plus `extra`, without PYENV_VERSION: inherited from a pyenv shim, it
    would pin every `uv`, `make` or `python3.13` the child calls to another Python."""
    env = {k: v for k, v in os.environ.items() if k != "PYENV_VERSION"}
    env.update(extra)
    return env


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def with_server(url: str, *, password: str | None = None, port: int | None = None) -> str:
    """`url` with another password or port, the rest kept (wrong credentials and empty ports, for tests)."""
    parts = urlsplit(url)
    password = parts.password if password is None else password
    port = parts.port if port is None else port
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{port}"))


def admin_sql(url: str, *statements: str) -> None:
    """Run statements in autocommit on the server of `url`, connected to its `postgres` database."""
    conn = psycopg2.connect(with_database(url, "postgres"), connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def identifier(name: str) -> str:
    """`name` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def create_database(url: str) -> str:
    """A new, empty database named as `url` says (dropped first if it exists); returns `url`."""
    name = identifier(dbprobe.where(url).dbname)
    admin_sql(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    return url


# Every managed key that works, revoked: a service whose settings have no key refuses to start while the database
# holds one (`app.unguarded_keys`). For tests and the bench, on their own databases.
REVOKE_MANAGED_KEYS = "UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL"


def revoke_managed_keys(url: str) -> None:
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(REVOKE_MANAGED_KEYS)
    finally:
        conn.close()


def drop_database(url: str) -> None:
    admin_sql(url, f"DROP DATABASE IF EXISTS {identifier(dbprobe.where(url).dbname)} WITH (FORCE)")


def answers(url: str, timeout: float = 1, *, any_status: bool = False) -> bool:
    """True when `url` answers 200 (with `any_status`: answers at all, a 503 say)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return any_status
    except (OSError, urllib.error.URLError):
        return False


def start(command: list[str], *, env: dict[str, str], probe: str, log: Path, within: float = 60,
          any_status: bool = False, cwd: Path | str = SVC) -> subprocess.Popen:
    """Start `command` in `cwd` (`svc/`) in a process group of its own, its output to `log` (a pipe nobody reads
    would fill and block it), and wait until `probe` answers 200 (with `any_status`: answers at all)."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    process.log_path = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + within
    while not answers(probe, any_status=any_status):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise StartFailed(f"{' '.join(command)} did not start: " + log.read_text(errors="replace")[-5000:])
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen, within: float = 15) -> int:
    """SIGTERM, then SIGKILL to its whole process group if it has not exited within `within` seconds; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    return process.returncode


class Service:
    """The service as `make run` starts it (`python -m main`), on a free loopback port and the given database."""

    def __init__(self, database_url: str, workers: int = 1, *, database_up: bool = True, **settings: str) -> None:
        """Started once /health answers: 200, or anything when not `database_up` (a service started while its
        database is unreachable answers 503)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = child_env(**{"LOG_LEVEL": "WARNING", **settings}, DATABASE_URL=database_url, HOST="127.0.0.1",
                        PORT=str(self.port), WORKERS=str(workers))
        log = Path(tempfile.mkstemp(prefix="service-", suffix=".log")[1])
        self.process = start([sys.executable, "-m", "main"], env=env, probe=self.base + "/health", log=log,
                             within=HANG, any_status=not database_up)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")  # type: ignore[attr-defined]

    def stop(self, within: float = 15) -> int:
        """Stop it by PID and remove its log; its exit code."""
        code = stop(self.process, within)
        self.process.log_path.unlink(missing_ok=True)  # type: ignore[attr-defined]
        return code


def garbage_of(call):
    """What `call()` returns, and the kinds of objects it left that only the cyclic collector could free (the 20
    commonest, with their counts), the collector off while it runs: what a test of a path that must leave none
    asserts empty. The collector runs seldom in the service (`app.GC_YOUNG`), so what a request leaves in a cycle
    stays."""
    gc.collect()
    gc.garbage.clear()
    gc.disable()
    try:
        result = call()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = collections.Counter(type(o).__qualname__ for o in gc.garbage).most_common(20)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return result, left


def whole_lines(log: str) -> list[str]:
    """The lines of a log another process is still writing, but its last if that is not whole yet (no newline):
    read between two of the writer's writes, a line can be cut short, and would not parse."""
    return log.split("\n")[:-1]


# What the API tests share.
APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def assert_problem(response, status: int) -> dict:
    """`response` is an RFC 9457 problem with `status`; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    return body


class LaggingProxy:
    """A TCP proxy to PostgreSQL on 127.0.0.1 that delays what the server sends to connections whose startup
    message names `application_name`, by `delay` seconds, in order: a listener that is behind, as over a slow
    network. Other connections pass through at once. Runs its own event loop in a thread; `close()` stops it."""

    SPECIAL_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest: answered before the startup message

    def __init__(self, target_port: int, *, delay: float, application_name: str) -> None:
        import asyncio
        import threading

        self.target_port, self.delay, self.application_name = target_port, delay, application_name
        self.port = free_port()
        self.lagged = 0
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
            ready.set()

        self._thread = threading.Thread(target=self._loop.run_forever, name="lagging-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop)
        ready.wait(10)

    async def _client(self, reader, writer) -> None:
        import asyncio
        import struct

        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        lagged = False
        try:
            while True:  # the client's first packets: special requests, then the startup message
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                body = await reader.readexactly(length - 8)
                upstream_writer.write(head + body)
                if code in self.SPECIAL_REQUESTS:
                    # The server answers one byte ('N': no encryption here) before the startup message.
                    writer.write(await upstream_reader.readexactly(1))
                    continue
                fields = body.split(b"\x00")
                lagged = any(fields[i] == b"application_name" and fields[i + 1] == self.application_name.encode()
                             for i in range(len(fields) - 1))
                break
        except (asyncio.IncompleteReadError, OSError):
            writer.close()
            upstream_writer.close()
            return
        self.lagged += lagged

        async def pump(source, sink, delay: float) -> None:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue = asyncio.Queue()

            async def deliver() -> None:
                while (item := await queue.get()) is not None:
                    due, data = item
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    sink.write(data)
                sink.close()

            delivering = asyncio.create_task(deliver())
            try:
                while data := await source.read(65536):
                    queue.put_nowait((loop.time() + delay, data))
            except OSError:
                pass
            queue.put_nowait(None)
            await delivering

        await asyncio.gather(pump(reader, upstream_writer, 0.0),
                             pump(upstream_reader, writer, self.delay if lagged else 0.0), return_exceptions=True)

    def close(self) -> None:
        """Stop serving, end every connection's pumps, and stop the loop's thread."""
        import asyncio

        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
