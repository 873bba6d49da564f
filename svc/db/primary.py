"""One primary: the pool's connections and the listener are on one server, on one timeline.

Under streaming replication a failover promotes a standby, which starts a new timeline (1, then 2, ...); the old
primary, if it comes back read-write without being fenced, stays on its old timeline. Every new connection (the
pool's and the listener's) reads its server's identity: the cluster's system identifier and the timeline it
writes on. The highest timeline seen for a system identifier is the primary; a connection to a lower one is not
used (it would read and write beside the primary, and the listener would miss its changes), and once a higher one
appears, connections to the lower one are dropped, the worker's copy is cleared and waiters re-check.

The timeline is also an *epoch* of the data. Under asynchronous replication a failover can lose acknowledged
writes, and the new primary then gives their versions and feed positions to other content; a restore to a point in
time does the same. Both start a new timeline, and every version and every change of the feed records the timeline
it was written on (migration 0020): an ETag names a version as written (etags.py), a feed position the change at
it as written (`repositories.changes.page`). A timeline is one line of history, so what the new primary has with
its epoch is what was written before the fork, and keeps its name; what it lost matches nothing, though its number
is written again, in the new epoch.
"""

import logging
import threading
from typing import Any, NamedTuple

log = logging.getLogger("config_service")

# The timeline a primary writes on is the first 8 hex digits of its current WAL file's name; a standby has none.
IDENTITY = ("SELECT system_identifier::text AS system, pg_is_in_recovery() AS recovery, "
            "CASE WHEN pg_is_in_recovery() THEN 0 "
            "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline "
            "FROM pg_control_system()")


class Identity(NamedTuple):
    system: str
    timeline: int
    recovery: bool = False

    def __str__(self) -> str:
        return f"system {self.system} timeline {self.timeline}" + (" (standby)" if self.recovery else "")


def identity_of(row: Any) -> Identity:
    """The identity in a row of IDENTITY (a dict or a tuple in its column order)."""
    if isinstance(row, dict):
        return Identity(row["system"], int(row["timeline"]), bool(row["recovery"]))
    system, recovery, timeline = row
    return Identity(system, int(timeline), bool(recovery))


class Primary:
    """The identity of the primary, as far as this worker has seen: shared by the pool's threads and the listener.
    `generation` grows each time it changes, so what was read before can be told from what was read after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Identity | None = None
        self.generation = 0

    def admit(self, identity: Identity) -> bool:
        """Whether a connection to `identity` may be used: a primary (not in recovery) on the newest timeline
        seen of its system. A newer timeline, or another system, becomes the primary from now on."""
        if identity.recovery:
            return False
        with self._lock:
            current = self.current
            if current is not None and current.system == identity.system and identity.timeline < current.timeline:
                return False
            if current != identity:
                self.current = identity
                self.generation += 1
                if current is not None:  # (not the first: a failover, a switchover, a restore, another database)
                    log.warning("the primary is now %s (it was %s): a new epoch, %d; ETags and feed positions of "
                                "epoch %d hold for what it has, and what it lost matches nothing", identity, current,
                                identity.timeline, current.timeline)
            return True

    def is_current(self, identity: Identity | None) -> bool:
        return identity is not None and identity == self.current
