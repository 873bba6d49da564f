"""The one door to the read path, for the routers and the fast path alike.

`configuration`, `application`, `configurations_page` and `applications_page` give the current answer (an `Entry`:
ETag and body) from the worker's read cache (`readcache.py`), else from the database. The `answer_*` functions
answer a GET: 304 while `If-None-Match` names the current ETag, and with `wait` held until it does not (200) or the
wait ends (304), waiting under the key that the read's notifications wake (`keys.py`); `answer_changes` holds the
change feed while it has nothing new.
"""

import dataclasses
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from pydantic import BaseModel
from starlette.datastructures import State
from starlette.types import Receive, Scope

from live import access, keys
from live.readcache import Entry, began, tolerance
from repositories import applications, changes, configurations, effective, environments, history, overrides
from wire import etags, jsontext, models, names
from wire.problems import NotFound
from wire.replies import Trusted, not_modified, render_json
from wire.times import moment


Gate = Callable[[], Awaitable[None]]


def _versioned(model: type[BaseModel], application: str | None = None) -> Callable[[dict], Entry]:
    """What renders a row of `model` (with `id` and `version`) as an answer with its strong ETag; with the column
    that names its application, kept beside it (a key limited to some applications is checked against it)."""
    def render(row: dict) -> Entry:
        return Entry(etags.of_row(row), render_json(model, row),
                     application=row[application] if application else None)
    return render


CONFIGURATION = _versioned(models.ConfigurationResource, "application_id")
APPLICATION = _versioned(models.Application)
ENVIRONMENT = _versioned(models.Environment)


def override_etag(row: dict) -> str:
    """An override's ETag: a tag of the resource `<configuration>.<environment>`."""
    return etags.make(f"{row['configuration_id']}.{row['environment_id']}", row["version"], row["epoch"])


def _override(row: dict) -> Entry:
    return Entry(override_etag(row),
                 render_json(models.Override, row))


def _view(view: dict) -> Entry:
    """An effective view (or several) as an answer: its ETag is its content's, so it changes exactly when the view
    does (a value, its provenance, a name), whatever write or re-parenting caused it, and not otherwise."""
    body = jsontext.dumps(view).encode()
    return Entry(etags.of_content(body), body)


# -- the current answers ---------------------------------------------------------------------------------------
def configuration(state: State, id: str) -> Awaitable[Entry]:
    """Configuration `id` (404 raised when there is none)."""
    async def fetch() -> Entry:
        return CONFIGURATION(await state.database.run(configurations.get, id))
    return state.read_cache.read(keys.configuration(id), fetch)


def application(state: State, id: str) -> Awaitable[Entry]:
    """Application `id` (404 raised when there is none)."""
    async def fetch() -> Entry:
        return APPLICATION(await state.database.run(applications.get, id))
    return state.read_cache.read(keys.application(id), fetch)


def configurations_page(state: State, application_id: str, limit: int, cursor: str | None,
                        name: str | None) -> Awaitable[Entry]:
    """A page of application `application_id`'s configurations, with an ETag of its content."""
    name = names.looked_up(name)

    async def fetch() -> Entry:
        rows, next_cursor = await state.database.run(configurations.page, application_id, limit=limit, cursor=cursor,
                                                     name=name)
        return Entry(etags.of_page(rows, next_cursor),
                     render_json(models.ConfigurationPage, {"items": rows, "next_cursor": next_cursor}))
    return state.read_cache.read(keys.configurations_page(application_id, limit, cursor, name), fetch,
                                 keys.listing(application_id))


def applications_page(state: State, limit: int, cursor: str | None, name: str | None,
                      only: frozenset[str] | None = None) -> Awaitable[Entry]:
    """A page of the application listing (no ETag); with `only`, of those applications only (a key's scope: read
    from the database, not kept as everyone's page)."""
    name = names.looked_up(name)

    async def fetch() -> Entry:
        rows, next_cursor = await state.database.run(applications.page, limit=limit, cursor=cursor, name=name,
                                                     ids=None if only is None else sorted(only))
        return Entry("", render_json(models.ApplicationPage, {"items": rows, "next_cursor": next_cursor}))
    if only is not None:
        return fetch()
    return state.read_cache.read(keys.applications_page(limit, cursor, name), fetch, keys.APPLICATIONS)


def environment(state: State, id: str) -> Awaitable[Entry]:
    """Environment `id` (404 raised when there is none)."""
    async def fetch() -> Entry:
        return ENVIRONMENT(await state.database.run(environments.get, id))
    return state.read_cache.read(keys.environment(id), fetch)


def environments_page(state: State, limit: int, cursor: str | None, name: str | None,
                      only: frozenset[str] | None = None) -> Awaitable[Entry]:
    """A page of the environment listing (no ETag); with `only`, as `applications_page`."""
    name = names.looked_up(name)

    async def fetch() -> Entry:
        rows, next_cursor = await state.database.run(environments.page, limit=limit, cursor=cursor, name=name,
                                                     ids=None if only is None else sorted(only))
        return Entry("", render_json(models.EnvironmentPage, {"items": rows, "next_cursor": next_cursor}))
    if only is not None:
        return fetch()
    return state.read_cache.read(keys.environments_page(limit, cursor, name), fetch, keys.ENVIRONMENTS)


def override(state: State, configuration_id: str, environment_id: str) -> Awaitable[Entry]:
    """The configuration's override in the environment (404 raised when there is none)."""
    async def fetch() -> Entry:
        return _override(await state.database.run(overrides.get, configuration_id, environment_id))
    return state.read_cache.read(keys.override(configuration_id, environment_id), fetch)


def effective_configuration(state: State, id: str, environment_id: str) -> Awaitable[Entry]:
    """Configuration `id` as the environment sees it."""
    async def fetch() -> Entry:
        return _view(await state.database.run(effective.configuration, id, environment_id))
    return state.read_cache.read(keys.effective(id, environment_id), fetch, (keys.views(id), keys.ENVIRONMENTS))


def effective_application(state: State, id: str, environment_id: str, name: str | None = None) -> Awaitable[Entry]:
    """Every configuration of application `id` (or the one named `name`) as the environment sees it."""
    async def fetch() -> Entry:
        return _view(await state.database.run(effective.application, id, environment_id, name=name))
    return state.read_cache.read(keys.effective_application(id, environment_id, name), fetch,
                                 (keys.listing(id), keys.ENVIRONMENTS))


async def named(state: State, application: str, environment: str) -> tuple[str | None, str | None, Entry]:
    """The ids of the application and the environment with these names, None for a name nothing has (the gate of
    `answer_named` says which 404 answers), and the answer they were read from (stale, for a request that accepts
    it: its `Age` is the answer's, if older than the view's)."""
    application, environment = names.looked_up(application), names.looked_up(environment)

    async def fetch() -> Entry:
        ids = await state.database.run(effective.named, application=application, environment=environment)
        return Entry("", " ".join(id or "-" for id in ids).encode())
    entry = await state.read_cache.read(keys.named(application, environment), fetch,
                                        (keys.APPLICATIONS, keys.ENVIRONMENTS))
    application_id, environment_id = (None if id == "-" else id for id in entry.body.decode().split())
    return application_id, environment_id, entry


async def configuration_snapshot(state: State, scope: Scope, id: str, seq: int | None, at: str | None,
                                 epoch: int | None = None) -> bytes:
    """The body of configuration `id` as it was at feed position `seq` or time `at` (RFC 3339), as the request's key
    may see it. The past is read from the database each time (the read cache holds the present), in one trip
    through the executor: the configuration's application, the key's check on it, then its state then."""
    principal, when = access.of(scope), moment(at)

    def allowed(application_id: str) -> None:
        access.check_application(principal, application_id, history.NO_CONFIGURATION)
    return render_json(models.ConfigurationSnapshot,
                       await state.database.run(history.owned_configuration_at, id, allowed, seq=seq, at=when,
                                                epoch=epoch))


# -- the answers to a GET, conditional, held with `wait` --------------------------------------------------------
# Each takes the request's `gate` (`scopes.py`): what its key must be allowed, checked before the first read and
# again, with the key as it is then, before every answer to a held request.
def answer_configuration(request: Request, id: str, wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.configuration(id), lambda: configuration(state, id), wait, gate)


def answer_application(request: Request, id: str, wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.application(id), lambda: application(state, id), wait, gate)


def answer_configurations_page(request: Request, application_id: str, limit: int, cursor: str | None,
                               name: str | None, wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.listing(application_id),
                        lambda: configurations_page(state, application_id, limit, cursor, name), wait, gate)


def answer_environment(request: Request, id: str, wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.environment(id), lambda: environment(state, id), wait, gate)


def answer_override(request: Request, configuration_id: str, environment_id: str,
                    wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.override(configuration_id, environment_id),
                        lambda: override(state, configuration_id, environment_id), wait, gate)


def answer_effective_configuration(request: Request, id: str, environment_id: str,
                                   wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, (keys.views(id), keys.ENVIRONMENTS),
                        lambda: effective_configuration(state, id, environment_id), wait, gate)


def answer_effective_application(request: Request, id: str, environment_id: str,
                                 wait: int | None, gate: Gate) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, (keys.listing(id), keys.ENVIRONMENTS),
                        lambda: effective_application(state, id, environment_id), wait, gate)


async def answer_named(request: Request, application: str, environment: str, configuration: str | None,
                       wait: int | None, gate: Callable[[str, str], Awaitable[None]]) -> Response:
    """The effective views by names. Names are resolved again on every check: a rename, or another application or
    environment taking a name, changes what the names read. `gate(application_id, environment_id)` checks the key
    against what the names resolve to, each time."""
    state = request.app.state
    name = None if configuration is None else names.looked_up(configuration)
    principal = access.of(request.scope)
    looked_up = names.looked_up(application), names.looked_up(environment)
    # What the names resolve to, if it is kept already (another tenant polls them; or set aside while the listener
    # is lost): a read answered with it, or with a stale copy of it (`max-stale`: the same body), costs no trip to
    # the database, where a pair never asked costs one (or waits for one another request made: a new body).
    kept = state.read_cache.known(keys.named(*looked_up))

    async def read() -> Entry:
        application_id, environment_id, names_read = await named(state, application, environment)
        try:
            await gate(application_id, environment_id)  # (404 for a name nothing has, or the key may not see)
        except NotFound:
            if kept is not None and names_read.body is kept.body and principal is not None \
                    and not principal.everywhere:
                # Not told apart by the clock either: the 404 of a pair the key may not see, read from what was
                # kept, comes after the trip a pair never asked takes.
                await state.read_cache.probe(keys.named(*looked_up), lambda: state.database.run(
                    effective.named, application=looked_up[0], environment=looked_up[1]))
            raise
        view = await effective_application(state, application_id, environment_id, name)  # type: ignore[arg-type]
        if names_read.age is not None and (view.age is None or names_read.confirmed < view.confirmed):
            return dataclasses.replace(view, age=names_read.age, confirmed=names_read.confirmed, lines=None)
        return view

    watched = (keys.APPLICATIONS, keys.ENVIRONMENTS)
    application_id, _, _ = await named(state, application, environment)
    if application_id is not None:
        watched += (keys.listing(application_id),)
    return await _conditional(request, watched, read, wait, None)


@dataclasses.dataclass(slots=True)
class _Page:
    """A page of the change feed as read once for every request that shares the read (`ReadCache.shared`): its rows,
    the epoch of the position a follower goes on from, and its answer to a reader that sees every row, rendered
    once for all of them."""

    rows: list[dict]
    epoch: int
    whole: bytes | None = None


class Feed:
    """A request's read of an application's change feed after `after` (the route's, `answer_changes`, and the fast
    path's): a page's body (`check`), held while the feed has nothing new (`hold`).

    Each page names the epoch of its `next_after` (`changes.page`); a position the database does not have as it was
    written in the epoch sent with it is refused in the unit of work that reads (410), so no page can skip changes a
    failover renumbered. A key limited to some environments reads past the changes of the others' overrides:
    `next_after` is the last change read, shown or not. A page is read once for every request of it that a read
    new enough serves (`ReadCache.shared`), and rendered once for those that see every row of it; held requests of
    the same page and key that one notification woke take the answer of the first one's check (`Waiters.hold`'s
    `share`): the 1,000 held on an application's feed read and render the write that wakes them once."""

    def __init__(self, state: State, scope: Scope, application_id: str, after: int, epoch: int | None, limit: int,
                 gate: Gate) -> None:
        self.state, self.scope, self.gate = state, scope, gate
        self.application_id, self.after, self.epoch, self.limit = application_id, after, epoch, limit
        self.read_in = 1  # the epoch of the position a follower goes on from, as last read
        self.next_after = after

    def page(self, rows: list[dict]) -> bytes:
        return render_json(models.ChangePage, {"items": rows, "next_after": self.next_after, "epoch": self.read_in})

    def empty(self) -> bytes:
        return self.page([])

    async def _fetch(self) -> _Page:
        return _Page(*await self.state.database.run(changes.page, self.application_id, self.after, limit=self.limit,
                                                    epoch=self.epoch))

    async def check(self) -> bytes | None:
        """The page after the position, None while the feed has nothing after it."""
        read = await self.state.read_cache.shared(
            f"changes:{self.application_id}:{self.after}:{self.limit}:{self.epoch}", self._fetch)
        self.read_in = read.epoch
        if not read.rows:
            return None
        self.next_after = read.rows[-1]["seq"]
        principal = access.of(self.scope)
        if principal is not None and principal.environments is not None:
            return self.page([row for row in read.rows if principal.sees_environment(row["environment_id"])])
        if read.whole is None:
            read.whole = self.page(read.rows)
        return read.whole

    async def first(self) -> bytes | None:
        """The request's gate (a 404 for an application the key may not see), then its first check."""
        await self.gate()
        return await self.check()

    async def hold(self, wait: int, receive: Receive, deliver: Callable[[bytes], bool] | None = None) -> bytes:
        """Held until a check finds a page (its body), or `wait` seconds pass (the empty page), each check under the
        request's key as it is now (`Waiters.hold`; `deliver`, its way to write an answer at once)."""
        state, scope = self.state, self.scope

        async def recheck(woken: int | None) -> bytes | None:
            _anew(state, woken)
            access.expiring(state, await access.again(state, scope))  # (its expiry as it is now)
            await self.gate()
            return await self.check()
        principal = access.of(scope)
        return await state.waiters.hold(
            (keys.listing(self.application_id), keys.KEYRING, *access.expiring(state, principal, replace=False)),
            recheck, wait, self.empty, receive,
            ("changes", self.application_id, self.after, self.limit, self.epoch,
             None if principal is None else principal.digest), deliver, access.owner(scope))


async def answer_changes(request: Request, application_id: str, after: int, epoch: int | None, limit: int,
                         wait: int | None, gate: Gate) -> Response:
    """The change feed after `after` (`Feed`); with `wait`, held while it is empty."""
    feed = Feed(request.app.state, request.scope, application_id, after, epoch, limit, gate)
    answer = await feed.first()
    if answer is None and wait is not None:
        answer = await feed.hold(wait, request.receive)
    return Trusted(answer if answer is not None else feed.empty())


def _anew(state: State, woken: int | None) -> None:
    """A held request's check is a read that begins after what woke it, not when the request did: with the
    request's tick it could join a fetch that began after the request but before the notification, and hold on
    with what that fetch read, until its wait ends. Woken by a notification, it begins at the tick the notification
    was applied at (`Waiters.wake`): every waiter it woke then shares one fetch, which began after it, and one sync
    round at most; else (the first check, a poll), now."""
    began.set(woken if woken is not None else state.read_cache.tick())


async def _conditional(request: Request, watched: str | tuple[str, ...], read: Callable[[], Awaitable[Entry]],
                       wait: int | None, gate: Gate | None) -> Response:
    if gate is not None:
        await gate()
    held = etags.header(request.scope, b"if-none-match")
    entry = await read()
    if not etags.none_match(held, entry.etag):
        return entry.response()
    if wait is None:
        return not_modified(entry.etag, entry.age)

    async def gated() -> Entry:
        if gate is not None:
            await gate()
        return await read()

    changed, etag, age = await hold(request.app.state, request.scope, request.receive,
                                    (watched,) if isinstance(watched, str) else watched, gated, held, wait, entry)
    return changed.response() if changed is not None else not_modified(etag, age)


async def hold(state: State, scope: Scope, receive: Receive, watched: tuple[str, ...],
               read: Callable[[], Awaitable[Entry]], held: str | None, wait: int, answer: Entry,
               deliver: Callable[[Entry], bool] | None = None) -> tuple[Entry | None, str, int | None]:
    """Hold a GET whose If-None-Match (`held`) names the current `answer` until `read()` answers another (returned,
    with its ETag), or `wait` seconds pass (None, with the ETag then current, and, if the last answer read was stale,
    its `Age` now, else None). Each check is a read that begins when a notification of `watched` woke it, under the
    request's key as it is now: a revoked key ends the hold with 401, a key that may no longer see the resource with
    its 404 (raised). Requests of the same path and query, key and If-None-Match that one notification woke take the
    answer of the first one's check (the 1,000 held on one configuration check once); with `deliver`, the first one
    writes their answers too, at once (`Waiters.hold`). A request that accepts a stale answer shares checks only
    with those that accept the same."""
    last = [answer]

    async def check(woken: int | None) -> Entry | None:
        _anew(state, woken)
        # 401 once the key is revoked or expired, under its rights as they are now, and woken at its expiry as it is
        access.expiring(state, await access.again(state, scope))
        entry = last[0] = await read()
        return None if etags.none_match(held, entry.etag) else entry

    principal = access.of(scope)
    share = (scope["path"], scope["query_string"], None if principal is None else principal.digest, held,
             tolerance.get())
    changed = await state.waiters.hold(watched + (keys.KEYRING, *access.expiring(state, principal, replace=False)),
                                       check, wait, lambda: None, receive, share, deliver, access.owner(scope))
    read_last = last[0]  # a stale answer's `Age` as of now, not as of the check that read it (before the wait ended)
    return changed, read_last.etag, None if read_last.age is None else state.read_cache.age(read_last.confirmed)
