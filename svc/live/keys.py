"""The read path's keys, said once: what the read cache keeps answers under, what held requests wait on, and what a
change notification names.

A configuration is `c:<id>`, an application `a:<id>`, an environment `e:<id>`, an override
`o:<configuration>:<environment>`. A *group* names the cached answers that any change in it makes stale together:
`l:<application>` (the application's configurations, overrides included: its pages, its change feed, its effective
views), `apps` (the application listing), `x:<configuration>` (the configuration's effective views) and `envs`
(every environment: the listing, and every effective view, since any environment's name or parent may be in one).
The managed API keys are one answer, `keys`, which any key's change makes stale.
An answer may belong to several groups. Waiters wait under the same keys, so a notification's keys are both what it
makes stale and whom it wakes.
"""

from typing import NamedTuple

APPLICATIONS = "apps"
ENVIRONMENTS = "envs"
KEYRING = "keys"  # the managed API keys (`access.py`): held requests of a managed key wait under it too
EXPIRES = "expires:"  # + a managed key's id: its held requests, woken when it expires (`Waiters.at_expiry`)


def configuration(id: str) -> str:
    return "c:" + id


def application(id: str) -> str:
    return "a:" + id


def listing(application_id: str) -> str:
    """The group of an application's configurations (pages, feed)."""
    return "l:" + application_id


def environment(id: str) -> str:
    return "e:" + id


def override(configuration_id: str, environment_id: str) -> str:
    return f"o:{configuration_id}:{environment_id}"


def views(configuration_id: str) -> str:
    """The group of a configuration's effective views."""
    return "x:" + configuration_id


def effective(configuration_id: str, environment_id: str) -> str:
    return f"{views(configuration_id)}:{environment_id}"


def effective_application(application_id: str, environment_id: str, name: str | None = None) -> str:
    return f"y:{application_id}:{environment_id}:{'' if name is None else '=' + name}"


def named(application: str, environment: str) -> str:
    """What an application's and an environment's names resolve to (NUL never occurs in a name)."""
    return f"n:{application}\x00{environment}"


def environments_page(limit: int, cursor: str | None, name: str | None) -> str:
    return f"{ENVIRONMENTS}:{_query(limit, cursor, name)}"


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
    """A notification of the database's triggers (migrations 0004, 0006, 0008): "c <configuration> <application>
    <version>", "a <application> <version>", "o <configuration> <application> <environment> <version>",
    "e <environment> <version>", "k <key>" (migration 0009), or "reset" (TRUNCATE, which fires no row trigger)."""
    parts = payload.split()
    if len(parts) == 4 and parts[0] == "c":
        return Change((configuration(parts[1]),), (listing(parts[2]), views(parts[1])))
    if len(parts) == 3 and parts[0] == "a":
        return Change((application(parts[1]),), (listing(parts[1]), APPLICATIONS))
    if len(parts) == 5 and parts[0] == "o":
        return Change((override(parts[1], parts[3]),), (listing(parts[2]), views(parts[1])))
    if len(parts) == 3 and parts[0] == "e":
        return Change((environment(parts[1]),), (ENVIRONMENTS,))
    if len(parts) == 2 and parts[0] == "k":
        return Change((KEYRING,))
    return EVERYTHING  # 'reset', or anything this release does not know
