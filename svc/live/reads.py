"""The one door to the read path, for the routers and the fast path alike.

`configuration`, `application`, `configurations_page` and `applications_page` give the current answer (an `Entry`:
ETag and body) from the worker's read cache (`readcache.py`), else from the database. The `answer_*` functions
answer a GET: 304 while `If-None-Match` names the current ETag, and with `wait` held until it does not (200) or the
wait ends (304), waiting under the key that the read's notifications wake (`keys.py`); `answer_changes` holds the
change feed while it has nothing new.
"""

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from pydantic import BaseModel
from starlette.datastructures import State

from wire.epochs import epoch as current_epoch
from live import keys
from live.readcache import Entry
from repositories import applications, changes, configurations
from wire import etags, models, names
from wire.replies import not_modified, render_json, reply_trusted


def _versioned(model: type[BaseModel]) -> Callable[[dict], Entry]:
    """What renders a row of `model` (with `id` and `version`) as an answer with its strong ETag."""
    def render(row: dict) -> Entry:
        return Entry(etags.make(row["id"], row["version"]), render_json(model, row))
    return render


CONFIGURATION = _versioned(models.ConfigurationResource)
APPLICATION = _versioned(models.Application)


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


def applications_page(state: State, limit: int, cursor: str | None, name: str | None) -> Awaitable[Entry]:
    """A page of the application listing (no ETag)."""
    name = names.looked_up(name)

    async def fetch() -> Entry:
        rows, next_cursor = await state.database.run(applications.page, limit=limit, cursor=cursor, name=name)
        return Entry("", render_json(models.ApplicationPage, {"items": rows, "next_cursor": next_cursor}))
    return state.read_cache.read(keys.applications_page(limit, cursor, name), fetch, keys.APPLICATIONS)


# -- the answers to a GET, conditional, held with `wait` --------------------------------------------------------
def answer_configuration(request: Request, id: str, wait: int | None) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.configuration(id), lambda: configuration(state, id), wait)


def answer_application(request: Request, id: str, wait: int | None) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.application(id), lambda: application(state, id), wait)


def answer_configurations_page(request: Request, application_id: str, limit: int, cursor: str | None,
                               name: str | None, wait: int | None) -> Awaitable[Response]:
    state = request.app.state
    return _conditional(request, keys.listing(application_id),
                        lambda: configurations_page(state, application_id, limit, cursor, name), wait)


async def answer_changes(request: Request, application_id: str, after: int, epoch: int | None, limit: int,
                         wait: int | None) -> Response:
    """The change feed after `after`; with `wait`, held while it is empty. Each page names the epoch it was read in
    (the data's, `epochs.epoch()`, once `db.run` is done); a position of another epoch is refused in the unit of
    work that reads (410), so no page can skip changes of a new epoch."""
    state = request.app.state
    read_in = [1]

    def page(rows: list[dict]) -> Response:
        return reply_trusted(models.ChangePage, {"items": rows, "next_after": rows[-1]["seq"] if rows else after,
                                                 "epoch": read_in[0]})

    async def check() -> Response | None:
        rows = await state.database.run(changes.after, application_id, after, limit=limit, epoch=epoch)
        read_in[0] = current_epoch()
        return page(rows) if rows else None

    answer = await check()
    if answer is not None or wait is None:
        return answer or page([])
    return await state.waiters.hold((keys.listing(application_id),), check, wait, lambda: page([]), request.receive)


async def _conditional(request: Request, watched: str, read: Callable[[], Awaitable[Entry]],
                       wait: int | None) -> Response:
    held = etags.header(request.scope, b"if-none-match")
    entry = await read()
    if not etags.none_match(held, entry.etag):
        return entry.response()
    if wait is None:
        return not_modified(entry.etag)
    current = [entry.etag]

    async def check() -> Response | None:
        entry = await read()
        current[0] = entry.etag
        return None if etags.none_match(held, entry.etag) else entry.response()

    return await request.app.state.waiters.hold((watched,), check, wait, lambda: not_modified(current[0]),
                                                request.receive)
