"""The gates: what each operation asks of the request's key before it reads or writes anything (`access.py` has the
rules). A route calls its gate first, so that something a key may not see answers exactly what something that does
not exist answers, checked in the same order as the repositories check (the configuration, then the environment).

Only a key limited to some applications needs to know a configuration's application: it is read through the door
(`reads.configuration`, the worker's read cache after the request's sync round). A configuration that does not exist
answers its 404 there and then, before what the key may do is checked (write, an environment): otherwise such a key
would tell a configuration of another application (404) from none at all (403, or the environment's 404). A key on
every application never waits for a look-up, and sees every configuration that exists. A configuration the read cache
knows as another application's is answered at once, after the trips to the database a missing one costs
(`hidden`, `as_missing`), so that the time its 404 takes does not tell them apart either.
"""

from starlette.datastructures import State
from starlette.types import Scope

from live import access, keys, reads
from repositories import configurations, effective, history
from live.access import NO_APPLICATION, NO_CONFIGURATION, Principal
from wire.problems import Forbidden, NotFound, Unprocessable


async def _application_of(state: State, principal: Principal, id: str) -> None:
    """404 unless the key may see configuration `id`'s application."""
    if "read" not in principal.actions:
        raise access.hidden(NO_CONFIGURATION)
    if principal.applications is None:
        return
    if hidden(state, principal, id):
        await as_missing(state, id)
        raise access.hidden(NO_CONFIGURATION)
    try:
        application_id = (await reads.configuration(state, id)).application or ""
    except NotFound:
        # Deleted, its history kept (its application's), or never was: the route's own 404, "No configuration has
        # this id.", raised by `history.owner`.
        application_id = await state.database.run(history.owner, id)
    else:
        if not principal.sees_application(application_id):
            await state.database.run(history.owner, id)  # (as a missing one's 404 waits for it: see `as_missing`)
    access.check_application(principal, application_id, NO_CONFIGURATION)


def hidden(state: State, principal: Principal | None, id: str) -> bool:
    """Whether the read cache knows configuration `id` as one of an application the key may not see: kept, or set
    aside when the listener was lost (what a `max-stale` read may be answered). It may be old, unconfirmed by a
    sync round, but a configuration never moves: its application is its own for good, and one deleted since is as
    hidden (and answered the same)."""
    if principal is None or principal.applications is None:
        return False
    known = state.read_cache.known(keys.configuration(id))
    return known is not None and not principal.sees_application(known.application or "")


async def as_missing(state: State, id: str, *, owner: bool = True) -> None:
    """What the 404 of a configuration that does not exist costs, spent for one the key may not see, so that the
    clock does not tell them apart: the read of the database that finds nothing (the read cache keeps nothing of an
    id that is no configuration's, and the requests for one id at once share that read), here a read of the
    configuration's version only, so that its size costs nothing; then, on a route's gate (`owner`), the look-up of
    the application whose history it may have left. Each step goes on whatever the one before found (deleted
    since). Before, a hidden one's 404 was answered after the request's sync round, from the read cache: on a route
    0.85 ms against a missing one's 1.51 ms, on the fast path's GET 1.43 against 1.66 (medians, one client asking in
    turn, one worker)."""
    await state.read_cache.probe(keys.configuration(id), lambda: state.database.run(configurations.touch, id))
    if owner:
        try:
            await state.database.run(history.owner, id)
        except NotFound:
            pass


async def configuration(state: State, scope: Scope, id: str, *, write: bool = False) -> None:
    """A configuration read, or (`write`) a write of its own `config`, which every environment shares."""
    principal = access.of(scope)
    if principal is None:
        return
    await _application_of(state, principal, id)
    if write:
        access.require_shared(principal)


async def in_environments(state: State, scope: Scope, id: str, *environment_ids: str | None,
                          write: bool = False) -> None:
    """A read (or `write`) of configuration `id` in environments (its override, its effective view, a comparison;
    None: its own `config`)."""
    principal = access.of(scope)
    if principal is None:
        return
    await _application_of(state, principal, id)
    for environment_id in environment_ids:
        access.check_environment(principal, environment_id)
    if write:
        access.require(principal, "write")


async def application(scope: Scope, id: str, *environment_ids: str | None, write: bool = False) -> None:
    """An application read (with environments: its effective views, a comparison), or (`write`) its change."""
    principal = access.of(scope)
    if principal is None:
        return
    access.check_application(principal, id, NO_APPLICATION)
    for environment_id in environment_ids:
        access.check_environment(principal, environment_id)
    if write:
        access.require_shared(principal)


async def environment(scope: Scope, id: str, *, write: bool = False) -> None:
    """An environment read, or (`write`) its change, which every application's views follow."""
    principal = access.of(scope)
    if principal is None:
        return
    access.check_environment(principal, id)
    if write:
        access.require_everywhere(principal)


def new_configuration(scope: Scope, application_id: str) -> None:
    """A configuration created in `application_id`: an application the key may not see is one that does not exist
    (422 at `/application_id`, as the repository answers), and the new `config` is in every environment."""
    principal = access.of(scope)
    if principal is None:
        return
    if not principal.sees_application(application_id):
        raise Unprocessable.at("/application_id", NO_APPLICATION)
    access.require_shared(principal)


def everywhere(scope: Scope) -> None:
    """A write every application and environment sees: an application or an environment created."""
    access.require_everywhere(access.of(scope))


def reading(scope: Scope) -> None:
    """A listing: 403 for a key that may not read at all (what it may not see is left out of what it reads)."""
    access.require(access.of(scope), "read")


def managing(scope: Scope) -> Principal:
    """Key management: a key that may manage keys (403 otherwise, and with the API open: keys are managed only while
    the service checks them)."""
    principal = access.of(scope)
    if principal is None:
        raise Forbidden("The API is open (no API_KEYS): keys are managed only while the service checks them; "
                        "start it with an admin key in API_KEYS.")
    access.require(principal, "manage")
    return principal



def named(scope: Scope):
    """The gate of an effective read by names, given what the names resolve to (None: nothing has it): a name the
    key may not see is a name that nothing has, the application's first, so that what the environment's name
    resolves to says nothing of an application the key may not see."""
    async def gate(application_id: str | None, environment_id: str | None) -> None:
        principal = access.of(scope)
        if application_id is None or (principal is not None and not principal.sees_application(application_id)):
            raise access.hidden(effective.NO_APPLICATION_NAMED)
        if environment_id is None or (principal is not None and not principal.sees_environment(environment_id)):
            raise access.hidden(effective.NO_ENVIRONMENT_NAMED)
    return gate
