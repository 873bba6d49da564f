"""Handlers of the `configurations` tag: configurations, their revisions, and restore."""

from collections.abc import Awaitable

from fastapi import APIRouter, Request, Response
from starlette.datastructures import State

from wire import etags
from wire import models
from wire import names
from wire.deps import (API, Actor, Conditions, Cursor, DatabaseDep, IdPath, JsonBody, Limit, NameQuery, RevisionCursor,
                  SettingsDep, VersionPath, Wait)
from live.cache import Entry, answer, versioned
from routers.idempotency import once
from wire.payloads import ExactJsonRoute, check_body, render_json, reply_trusted
from repositories import configurations
from live.watch import conditional_get

CONFIGURATION = versioned(models.ConfigurationResource)
router = APIRouter(route_class=ExactJsonRoute, tags=["configurations"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.make(row["id"], row["version"])} | (headers or {})
    return reply_trusted(models.ConfigurationResource, row, status, headers)


def _deleted(_: None) -> Response:
    return Response(status_code=204)


@router.post("/configurations", dependencies=[JsonBody])
async def create_configuration(body: models.ConfigurationCreate, request: Request, db: DatabaseDep,
                               settings: SettingsDep, actor: Actor) -> Response:
    data = check_body(body, settings)
    return await once(request, db, actor, configurations.create, **data, actor=actor,
                      reply=lambda row: _reply(row, 201, {"Location": f"{API}/configurations/{row['id']}"}))


def read_configuration(state: State, id: str) -> Awaitable[Entry]:
    """The current answer for configuration `id`, from the worker's copy once it is current (`cache.answer`); the
    route below and `fastpath.CachedReads` both answer with it."""
    return answer(state.copy, f"c:{id}", lambda: state.database.run(configurations.get, id), CONFIGURATION)


@router.get("/configurations/{id}")
async def get_configuration(id: IdPath, request: Request, wait: Wait = None) -> Response:
    # The read path every client polls: no dependency to solve.
    return await conditional_get(request, (f"c:{id}",), lambda: read_configuration(request.app.state, id), wait)


@router.put("/configurations/{id}", dependencies=[JsonBody])
async def update_configuration(id: IdPath, body: models.ConfigurationUpdate, request: Request, db: DatabaseDep,
                               settings: SettingsDep, actor: Actor, when: Conditions) -> Response:
    data = check_body(body, settings)
    return await once(request, db, actor, configurations.update, id, **data, when=when, actor=actor,
                      reply=_reply)


@router.delete("/configurations/{id}", status_code=204)
async def delete_configuration(id: IdPath, request: Request, db: DatabaseDep, actor: Actor,
                               when: Conditions) -> Response:
    return await once(request, db, actor, configurations.delete, id, when=when, actor=actor, reply=_deleted)


@router.get("/applications/{id}/configurations")
async def list_application_configurations(id: IdPath, request: Request, db: DatabaseDep, limit: Limit = 50,
                                          cursor: Cursor = None, name: NameQuery = None, wait: Wait = None) -> Response:
    name = names.looked_up(name)

    def render(page) -> Entry:
        rows, next_cursor = page
        return Entry(etags.of_page(rows, next_cursor),
                     render_json(models.ConfigurationPage, {"items": rows, "next_cursor": next_cursor}))

    def read():
        return answer(request.app.state.copy, f"l:{id}:{limit}:{cursor}:{name}",
                      lambda: db.run(configurations.page, id, limit=limit, cursor=cursor, name=name), render,
                      group=f"l:{id}")

    return await conditional_get(request, (f"l:{id}",), read, wait)


@router.get("/configurations/{id}/revisions")
async def list_configuration_revisions(id: IdPath, db: DatabaseDep, limit: Limit = 50,
                                       cursor: RevisionCursor = None) -> Response:
    rows, next_cursor = await db.run(configurations.revision_page, id, limit=limit, cursor=cursor)
    return reply_trusted(models.RevisionPage, {"items": rows, "next_cursor": next_cursor})


@router.get("/configurations/{id}/revisions/{version}")
async def get_configuration_revision(id: IdPath, version: VersionPath, db: DatabaseDep) -> Response:
    return reply_trusted(models.Revision, await db.run(configurations.revision, id, version))


@router.post("/configurations/{id}/revisions/{version}/restore")
async def restore_configuration_revision(id: IdPath, version: VersionPath, request: Request, db: DatabaseDep,
                                         actor: Actor, when: Conditions) -> Response:
    return await once(request, db, actor, configurations.restore, id, version, when=when, actor=actor, reply=_reply)
