"""What the log says while connections to the database fail: each host's own reason, said once in a while, and
when connections open again.

libpq tries the hosts of DATABASE_URL in turn and its message has a line per host; the first line alone named
only the first host, so during a failover the log blamed the healthy standby listed first ("session is
read-only") and never the primary that was gone. And while no host takes a connection, every request that needs
one fails alike: the same line for each (698 in 24 s in an on-call trial, 1,326 in 48 s of an etcd outage).
`Outage` says each distinct reason at once, then at most once every `every` seconds with how many times it came
again meanwhile, and one line when a connection opens again: to which host, after how long.
"""

import logging
import re
import threading
import time
from collections.abc import Callable

# One host's line of a libpq message (`at "host" (address), port N` or `on socket "path"`).
HOST_FAILED = re.compile(r'connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
                         r'|on socket "(?P<socket>[^"]*)") failed: (?P<why>.*)')
EVERY = 10.0


def per_host(error: BaseException) -> str:
    """A connection's failure in one line, each host's reason after its name (`127.0.0.1:6410: session is
    read-only; 127.0.0.1:6411: Connection refused`); a message of another form, its first line."""
    text = str(error).strip()
    found = []
    for line in text.splitlines():
        if matched := HOST_FAILED.match(line.strip()):
            where = matched["socket"] or f"{matched['host']}:{matched['port']}"
            found.append(f"{where}: {matched['why'].strip()}")
    return "; ".join(found) if found else (text.splitlines() or [type(error).__name__])[0]


class Seldom:
    """Warnings said each at once, then at most once every `every` seconds with how many times it came again
    meanwhile. Thread-safe."""

    def __init__(self, log: logging.Logger, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.every, self.clock = log, every, clock
        self._lock = threading.Lock()
        self._said: dict[str, tuple[float, int]] = {}  # each line: when it was last said, and its repeats since

    def warn(self, line: str) -> None:
        now = self.clock()
        with self._lock:
            said = self._said.get(line)
            if said is not None and now - said[0] < self.every:
                self._said[line] = (said[0], said[1] + 1)
                return
            self._said[line] = (now, 0)
        repeats = said[1] if said is not None else 0
        self.log.warning("%s%s", line, f" (and {repeats} more times since it was last said, {now - said[0]:.0f} s ago)"
                         if said is not None and repeats else "")

    def clear(self) -> None:
        with self._lock:
            self._said.clear()


class Outage:
    """The failures to connect to `what` (`the database`, for a pool), said as above. Thread-safe."""

    def __init__(self, log: logging.Logger, what: str, every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.what, self.clock = log, what, clock
        self._lock = threading.Lock()
        self._since: float | None = None  # the first failure since connections last opened
        self._failures = 0
        self._said = Seldom(log, every, clock)

    def failed(self, error: BaseException | str) -> None:
        reason = error if isinstance(error, str) else per_host(error)
        now = self.clock()
        with self._lock:
            if self._since is None:
                self._since = now
            self._failures += 1
        self._said.warn(f"cannot connect to {self.what}: {reason}")

    def connected(self, where: str) -> None:
        """A connection opened, to `where` (host:port): said once, when it ends failures."""
        now = self.clock()
        with self._lock:
            if self._since is None:
                return
            since, failures = self._since, self._failures
            self._since, self._failures = None, 0
        self._said.clear()
        self.log.warning("connected to %s again, at %s, after %.1f s and %d failed attempts", self.what, where,
                         now - since, failures)
