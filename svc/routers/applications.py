"""Handlers of the `applications` tag."""

from fastapi import APIRouter, Request, Response

from wire import etags
from wire import models
from wire import names
from wire.deps import (API, Actor, After, Conditions, Cursor, DatabaseDep, EpochQuery, IdPath, JsonBody, Limit,
                  NameQuery, SettingsDep, Wait)
from live.cache import Entry, answer, versioned
from routers.idempotency import once
from wire.payloads import ExactJsonRoute, check_body, render_json, reply_trusted
from db.primary import epoch as current_epoch
from repositories import applications, changes
from live.watch import conditional_get

APPLICATION = versioned(models.Application)
router = APIRouter(prefix="/applications", route_class=ExactJsonRoute, tags=["applications"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.make(row["id"], row["version"])} | (headers or {})
    return reply_trusted(models.Application, row, status, headers)


@router.post("", dependencies=[JsonBody])
async def create_application(body: models.ApplicationCreate, request: Request, db: DatabaseDep, settings: SettingsDep,
                             actor: Actor) -> Response:
    data = check_body(body, settings)
    return await once(request, db, actor, applications.create, **data,
                      reply=lambda row: _reply(row, 201, {"Location": f"{API}/applications/{row['id']}"}))


@router.get("")
async def list_applications(request: Request, limit: Limit = 50, cursor: Cursor = None,
                            name: NameQuery = None) -> Response:
    db, name = request.app.state.database, names.looked_up(name)

    async def read():
        return await db.run(applications.page, limit=limit, cursor=cursor, name=name)

    def render(page) -> Entry:
        rows, next_cursor = page
        return Entry("", render_json(models.ApplicationPage, {"items": rows, "next_cursor": next_cursor}))

    entry = await answer(request.app.state.copy, f"apps:{limit}:{cursor}:{name}", read, render, group="apps")
    return entry.response()


@router.get("/{id}")
async def get_application(id: IdPath, request: Request, wait: Wait = None) -> Response:
    # A read path clients poll: no dependency to solve.
    db, copy = request.app.state.database, request.app.state.copy

    def read():
        return answer(copy, f"a:{id}", lambda: db.run(applications.get, id), APPLICATION)

    return await conditional_get(request, (f"a:{id}",), read, wait)


@router.get("/{id}/changes")
async def list_application_changes(id: IdPath, request: Request, db: DatabaseDep, after: After = 0,
                                   epoch: EpochQuery = None, limit: Limit = 50, wait: Wait = None) -> Response:
    # Each page names the epoch it was read in (the data's, primary.epoch(), once db.run is done); a position of
    # another epoch is refused in the unit of work that reads (410), so no page can skip changes of a new epoch.
    def page(rows: list[dict], read_in: int) -> Response:
        return reply_trusted(models.ChangePage, {"items": rows, "next_after": rows[-1]["seq"] if rows else after,
                                                 "epoch": read_in})

    last = [1]

    async def check() -> Response | None:
        rows = await db.run(changes.after, id, after, limit=limit, epoch=epoch)
        last[0] = current_epoch()
        return page(rows, last[0]) if rows else None

    answer = await check()
    if answer is not None or wait is None:
        return answer or page([], last[0])
    return await request.app.state.watcher.hold((f"l:{id}",), check, wait, lambda: page([], last[0]),
                                                request.receive)


@router.put("/{id}", dependencies=[JsonBody])
async def update_application(id: IdPath, body: models.ApplicationUpdate, request: Request, db: DatabaseDep,
                             settings: SettingsDep, actor: Actor, when: Conditions) -> Response:
    data = check_body(body, settings)
    return await once(request, db, actor, applications.update, id, **data, when=when, reply=_reply)


@router.delete("/{id}", status_code=204)
async def delete_application(id: IdPath, request: Request, db: DatabaseDep, actor: Actor,
                             when: Conditions) -> Response:
    return await once(request, db, actor, applications.delete, id, when=when,
                      reply=lambda _: Response(status_code=204))
