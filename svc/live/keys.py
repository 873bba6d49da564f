"""The read path's keys, said once: what the read cache keeps answers under, what held requests wait on, and what a
change notification names.

A configuration is `c:<id>`, an application `a:<id>`. A *group* names the cached pages that any change in it makes
stale together: `l:<application>` (the application's configurations; its change feed waits on it too) and `apps`
(the application listing). Waiters wait under the same keys, so a notification's keys are both what it makes stale
and whom it wakes.
"""

from typing import NamedTuple

APPLICATIONS = "apps"


def configuration(id: str) -> str:
    return "c:" + id


def application(id: str) -> str:
    return "a:" + id


def listing(application_id: str) -> str:
    """The group of an application's configurations (pages, feed)."""
    return "l:" + application_id


def configurations_page(application_id: str, limit: int, cursor: str | None, name: str | None) -> str:
    return f"{listing(application_id)}:{_query(limit, cursor, name)}"


def applications_page(limit: int, cursor: str | None, name: str | None) -> str:
    return f"{APPLICATIONS}:{_query(limit, cursor, name)}"


def _query(limit: int, cursor: str | None, name: str | None) -> str:
    # No name and the name "None" are two queries; the name comes last, so a ':' in it is no separator.
    return f"{limit}:{cursor or ''}:{'' if name is None else '=' + name}"


class Change(NamedTuple):
    """What one notification changed."""

    entries: tuple[str, ...] = ()  # answers that changed
    groups: tuple[str, ...] = ()  # groups whose every page changed
    everything: bool = False  # anything may have: forget every answer, wake every waiter

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys whose waiters re-check."""
        return self.entries + self.groups


EVERYTHING = Change(everything=True)


def decode(payload: str) -> Change:
    """A notification of the database's triggers (migrations 0004, 0006): "c <configuration> <application>
    <version>", "a <application> <version>", or "reset" (TRUNCATE, which fires no row trigger)."""
    parts = payload.split()
    if len(parts) == 4 and parts[0] == "c":
        return Change((configuration(parts[1]),), (listing(parts[2]),))
    if len(parts) == 3 and parts[0] == "a":
        return Change((application(parts[1]),), (listing(parts[1]), APPLICATIONS))
    return EVERYTHING  # 'reset', or anything this release does not know
