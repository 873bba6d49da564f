"""Who made a request, and what that key may see and do.

A key is one of the settings' (`API_KEYS`: `ro`, `rw` or `admin`, every application and environment) or one managed
through the API (`repositories/api_keys.py`): it may `read`, `write` and `manage` keys, on every application or a
list, in every environment or a list. A request's key is a `Principal`, found from the SHA-256 of its bearer token:

- among the settings' keys, compared in constant time against each of them;
- among the managed keys, which each worker keeps as one answer of its read cache (`keys.KEYRING`): a key's every
  change notifies "k <id>", which drops it, and the look-up waits for the request's sync round like every read, so
  a request that begins after a revocation or a change of rights was acknowledged, on any worker, is checked
  against the new rights. An unknown token and a wrong one take the same path: both are a digest found nowhere.

What a key may see is what is in its scope and it may read: anything else answers 404 exactly as if it did not
exist (`hidden`), and listings and the change feed leave it out. What it may see but not do answers 403
(`Forbidden`): a write without `write`, a write to what every environment shares (an application, a
configuration's own `config`, an environment) by a key limited to some environments, key management without
`manage`, and a grant of more than the granting key has.
"""

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import State
from starlette.types import Scope

from live import keys, readcache
from live.readcache import Entry
from repositories import api_keys
from wire.headers import Staleness
from wire.principals import SETTINGS_ACTIONS, Principal, digest
from wire.problems import Forbidden, NotFound, Unauthorized

log = logging.getLogger("config_service")

# `last_used_at` is written at most once a minute per key and worker: using a key costs no write.
USAGE_SECONDS = 60.0

NO_APPLICATION = "No application has this id."
NO_CONFIGURATION = "No configuration has this id."
NO_ENVIRONMENT = "No environment has this id."


def settings_principals(settings_keys: tuple) -> tuple[Principal, ...]:
    """The settings' keys (`principals.ApiKey`) as principals, with the digests of their secrets."""
    return tuple(Principal(key.name, SETTINGS_ACTIONS[key.scope], digest=digest(key.secret)) for key in settings_keys)


def canonical(authorization: bytes, token: bytes) -> bool:
    """Whether `authorization` is written `Bearer <token>`, the one form of a key's header that is remembered (so
    that a key is remembered once, however many ways a client writes it)."""
    return len(authorization) == len(token) + 7 and authorization.startswith(b"Bearer ")


def token_of(authorization: bytes | None) -> bytes | None:
    """The token of a `Bearer` authorization; None for none or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token:
        return None
    return token


class KeyRing:
    """The managed keys not revoked, by digest: one answer of the read cache (`keys.KEYRING`), with the worker's
    record of when each was last used (`Usage`), so that finding a key reads nothing else. It also remembers, for
    as long as it is the ring kept, the `Authorization` header each key was found by (`recall`)."""

    __slots__ = ("by_digest", "by_header", "usage")

    def __init__(self, by_digest: dict[bytes, Principal], usage: "Usage") -> None:
        self.by_digest, self.usage = by_digest, usage
        self.by_header: dict[bytes, Principal] = {}

    def get(self, wanted: bytes) -> Principal | None:
        return self.by_digest.get(wanted)

    def find(self, wanted: bytes) -> Principal | None:
        """The key whose digest is `wanted`, if it works (not expired), its use recorded; None otherwise."""
        managed = self.by_digest.get(wanted)
        if managed is None or not hmac.compare_digest(managed.digest, wanted) or expired(managed):
            return None
        self.usage.used(managed.id)
        return managed

    def remember(self, authorization: bytes, principal: Principal) -> None:
        """`authorization`, a request's header in its one canonical form (`canonical`), holds the secret of
        `principal`, found here by its digest: one header per key at most."""
        self.by_header[authorization] = principal

    def recall(self, authorization: bytes) -> Principal | None:
        """The key whose secret `authorization` holds, if it was found here by that very header before (`remember`)
        and has not expired: without parsing or hashing it. Its use is not recorded (its rights are not confirmed
        yet: `used`). One never found is not here: an unknown token and a wrong secret both go on to `find`, by
        the same path."""
        managed = self.by_header.get(authorization)
        return None if managed is None or expired(managed) else managed

    def used(self, principal: Principal) -> None:
        """`principal`, recalled, was confirmed and used."""
        self.usage.used(principal.id)


def expired(principal: Principal) -> bool:
    return principal.expires_at is not None and principal.expires_at <= datetime.now(UTC)


def ring(state: State) -> Awaitable[Entry]:
    """The managed keys (`KeyRing`, the entry's `value`), as current as the request's sync round. A plain function
    returning the read, not a coroutine of its own: a request with a managed key waits for its round here, and a
    frame less to resume is a cost less on every such request.
    A read that accepts a stale answer (`max-stale`) does not take the keys stale for that: the party whose key was
    revoked or narrowed is the one that sends the header, so revocation would hold only for those who do not ask.
    The keys are taken as they were last known only where no current answer can be had (the database out of reach:
    as `stale-if-error`, within the staleness accepted), as Consul's ACLs are (`acl_down_policy = extend-cache`)."""
    async def fetch() -> Entry:
        rows = await state.database.run(api_keys.active)
        return Entry("", b"", value=KeyRing({bytes(row["secret_hash"]): principal_of(row) for row in rows},
                                            usage(state)))
    accepted = readcache.tolerance.get()
    if accepted is None or accepted.always is None:
        return state.read_cache.read(keys.KEYRING, fetch)
    reset = readcache.tolerance.set(Staleness(if_error=max(accepted.always, accepted.if_error or 0)))
    try:
        return state.read_cache.read(keys.KEYRING, fetch)  # (which takes the tolerance as it is called)
    finally:
        readcache.tolerance.reset(reset)


def principal_of(row: dict[str, Any]) -> Principal:
    return Principal(row["name"], frozenset(row["actions"]),
                     None if row["applications"] is None else frozenset(row["applications"]),
                     None if row["environments"] is None else frozenset(row["environments"]),
                     id=row["id"], expires_at=row["expires_at"], digest=bytes(row["secret_hash"]))


def settings_key(settings: tuple[Principal, ...], wanted: bytes) -> Principal | None:
    """The settings' key whose digest is `wanted`, compared against each of them in constant time."""
    found = None
    for principal in settings:
        # No early exit: the time taken does not tell which key, or how much of one, matched.
        if hmac.compare_digest(principal.digest, wanted):
            found = principal
    return found


async def identify(state: State, settings: tuple[Principal, ...], token: bytes | None) -> Principal | None:
    """The key whose secret `token` is, if it works (not revoked, not expired); None otherwise."""
    if token is None:
        return None
    wanted = digest(token)
    found = settings_key(settings, wanted)
    if found is not None:
        return found
    return (await ring(state)).value.find(wanted)  # type: ignore[union-attr]


def of(scope: Scope) -> Principal | None:
    """The request's key; None when the API is open."""
    return scope.get("state", {}).get("principal")


def owner(scope: Scope) -> str | None:
    """Whose share of a worker's held requests the request's is (`Waiters.hold`): its managed key's id; None for a
    key of the settings, or an open API."""
    principal = of(scope)
    return None if principal is None else principal.id


async def again(state: State, scope: Scope) -> Principal | None:
    """The request's key as it is now (a held request checks again before each answer): 401 once it is revoked or
    expired; a key of the settings never changes."""
    principal = of(scope)
    if principal is None or not principal.managed:
        return principal
    current = (await ring(state)).value.get(principal.digest)  # type: ignore[union-attr]
    if current is None or expired(current):
        raise Unauthorized()
    scope["state"]["principal"] = current
    return current


def expiring(state: State, principal: Principal | None, *, replace: bool = True) -> tuple[str, ...]:
    """What a held request of `principal` watches besides what it reads: for a managed key, the waiters' key that
    wakes it once the key expires, armed for the key's expiry as it is now (`Waiters.at_expiry`); a check arms it
    again for the key as it is then. Not held past its key's expiry, as the key is when the expiry comes (the next
    check is 401). Nothing for a key of the settings (it never expires) or an open API. `replace=False` at a hold's
    start (the key as admitted): what is armed stays, for its checks to arm (`Waiters.at_expiry`)."""
    if principal is None or principal.id is None:
        return ()
    return (state.waiters.at_expiry(principal.id, principal.expires_at, replace=replace),)


# -- the rules ----------------------------------------------------------------------------------------------------
def hidden(detail: str) -> NotFound:
    """What answers for something a key may not see: the very answer for something that does not exist."""
    return NotFound(detail)


def require(principal: Principal | None, action: str) -> None:
    """403 unless the key may do `action` (`read`, `write` or `manage`) at all."""
    if principal is not None and action not in principal.actions:
        raise Forbidden(f"This API key may not {action}" + (" keys." if action == "manage" else "."))


def require_everywhere(principal: Principal | None) -> None:
    """403 unless the key may write on every application and in every environment: what it writes (an application
    created, an environment) is seen by all of them."""
    require(principal, "write")
    if principal is not None and not principal.everywhere:
        raise Forbidden("This write reaches every application and environment; this API key is limited to some.")


def require_shared(principal: Principal | None) -> None:
    """403 unless the key may write what every environment shares (an application, a configuration's own
    `config`): it writes and is not limited to some environments."""
    require(principal, "write")
    if principal is not None and principal.environments is not None:
        raise Forbidden("This write changes every environment; this API key is limited to some.")


def check_application(principal: Principal | None, application_id: str, detail: str = NO_APPLICATION) -> None:
    if principal is not None and not principal.sees_application(application_id):
        raise hidden(detail)


def check_environment(principal: Principal | None, environment_id: str | None) -> None:
    if principal is not None and not principal.sees_environment(environment_id):
        raise hidden(NO_ENVIRONMENT)


# -- when keys were last used --------------------------------------------------------------------------------------
class Usage:
    """Records when each managed key was last used, at most once a minute per key, off the request's path."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.recorded: dict[str, float] = {}
        self.tasks: set[asyncio.Task] = set()

    def used(self, key_id: str | None) -> None:
        now = time.monotonic()
        if key_id is None or now - self.recorded.get(key_id, -USAGE_SECONDS) < USAGE_SECONDS:
            return
        self.recorded[key_id] = now
        if len(self.recorded) > 100_000:
            self.recorded.clear()
        task = asyncio.get_running_loop().create_task(self._record(self.state, key_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _record(state: State, key_id: str) -> None:
        try:
            await state.database.run(api_keys.touch, key_id)
        except Exception as error:  # noqa: BLE001 - a time of use is not worth a failed request
            log.info("the last use of a key was not recorded: %s", type(error).__name__)


def usage(state: State) -> Usage:
    found = getattr(state, "key_usage", None)
    if found is None:
        found = state.key_usage = Usage(state)
    return found
