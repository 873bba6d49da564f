"""Handlers of the `environments` tag."""

from fastapi import APIRouter, Request, Response

from live import access, reads, scopes
from repositories import environments
from routers.idempotency import once
from wire import etags, models
from wire.bodies import check_body
from routers.deps import API, Actor, Conditions, Cursor, DatabaseDep, IdPath, JsonBody, Limit, NameQuery, SettingsDep, Wait
from wire.jsonroute import ExactJsonRoute
from wire.replies import reply_trusted

router = APIRouter(prefix="/environments", route_class=ExactJsonRoute, tags=["environments"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.of_row(row)} | (headers or {})
    return reply_trusted(models.Environment, row, status, headers)


def _parent(data: dict) -> dict:
    """The body with `parent_id` as the plain text the repository binds (absent: a root)."""
    parent = data.get("parent_id")
    return data | {"parent_id": None if parent is None else str(parent)}


@router.post("", dependencies=[JsonBody])
async def create_environment(body: models.EnvironmentCreate, request: Request, db: DatabaseDep,
                             settings: SettingsDep, actor: Actor) -> Response:
    data = _parent(check_body(body, settings))
    scopes.everywhere(request.scope)
    return await once(request, db, actor, environments.create, **data, transaction=True,
                      reply=lambda row: _reply(row, 201, {"Location": f"{API}/environments/{row['id']}"}))


@router.get("")
async def list_environments(request: Request, limit: Limit = 50, cursor: Cursor = None,
                            name: NameQuery = None) -> Response:
    scopes.reading(request.scope)
    principal = access.of(request.scope)
    only = None if principal is None else principal.environments
    return (await reads.environments_page(request.app.state, limit, cursor, name, only)).response()


@router.get("/{id}")
async def get_environment(id: IdPath, request: Request, wait: Wait = None) -> Response:
    return await reads.answer_environment(request, id, wait, lambda: scopes.environment(request.scope, id))


@router.put("/{id}", dependencies=[JsonBody])
async def update_environment(id: IdPath, body: models.EnvironmentUpdate, request: Request, db: DatabaseDep,
                             settings: SettingsDep, actor: Actor, when: Conditions) -> Response:
    data = _parent(check_body(body, settings))
    await scopes.environment(request.scope, id, write=True)
    return await once(request, db, actor, environments.update, id, **data, when=when, transaction=True,
                      reply=_reply)


@router.delete("/{id}", status_code=204)
async def delete_environment(id: IdPath, request: Request, db: DatabaseDep, actor: Actor,
                             when: Conditions) -> Response:
    await scopes.environment(request.scope, id, write=True)
    return await once(request, db, actor, environments.delete, id, when=when, transaction=True,
                      reply=lambda _: Response(status_code=204))
