"""Handlers of the `applications` tag."""

from fastapi import APIRouter, Request, Response

from wire import etags, models
from routers.deps import (API, Actor, After, Conditions, Cursor, DatabaseDep, EpochQuery, IdPath, JsonBody, Limit,
                  NameQuery, SettingsDep, Wait)
from live import access, reads, scopes
from routers.idempotency import once
from wire.bodies import check_body
from wire.jsonroute import ExactJsonRoute
from wire.replies import reply_trusted
from repositories import applications

router = APIRouter(prefix="/applications", route_class=ExactJsonRoute, tags=["applications"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.of_row(row)} | (headers or {})
    return reply_trusted(models.Application, row, status, headers)


@router.post("", dependencies=[JsonBody])
async def create_application(body: models.ApplicationCreate, request: Request, db: DatabaseDep, settings: SettingsDep,
                             actor: Actor) -> Response:
    data = check_body(body, settings)
    scopes.everywhere(request.scope)
    return await once(request, db, actor, applications.create, **data,
                      reply=lambda row: _reply(row, 201, {"Location": f"{API}/applications/{row['id']}"}))


@router.get("")
async def list_applications(request: Request, limit: Limit = 50, cursor: Cursor = None,
                            name: NameQuery = None) -> Response:
    scopes.reading(request.scope)
    principal = access.of(request.scope)
    only = None if principal is None else principal.applications
    return (await reads.applications_page(request.app.state, limit, cursor, name, only)).response()


@router.get("/{id}")
async def get_application(id: IdPath, request: Request, wait: Wait = None) -> Response:
    # A read path clients poll: no dependency to solve.
    return await reads.answer_application(request, id, wait, lambda: scopes.application(request.scope, id))


@router.get("/{id}/changes")
async def list_application_changes(id: IdPath, request: Request, after: After = 0, epoch: EpochQuery = None,
                                   limit: Limit = 50, wait: Wait = None) -> Response:
    return await reads.answer_changes(request, id, after, epoch, limit, wait,
                                      lambda: scopes.application(request.scope, id))


@router.put("/{id}", dependencies=[JsonBody])
async def update_application(id: IdPath, body: models.ApplicationUpdate, request: Request, db: DatabaseDep,
                             settings: SettingsDep, actor: Actor, when: Conditions) -> Response:
    data = check_body(body, settings)
    await scopes.application(request.scope, id, write=True)
    return await once(request, db, actor, applications.update, id, **data, when=when, reply=_reply)


@router.delete("/{id}", status_code=204)
async def delete_application(id: IdPath, request: Request, db: DatabaseDep, actor: Actor,
                             when: Conditions) -> Response:
    await scopes.application(request.scope, id, write=True)
    return await once(request, db, actor, applications.delete, id, when=when,
                      reply=lambda _: Response(status_code=204))
