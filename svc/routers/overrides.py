"""Handlers of the `overrides` tag: a configuration's override per environment, its revisions, and restore."""

from fastapi import APIRouter, Request, Response

from live import access, reads, scopes
from repositories import overrides
from routers.idempotency import once
from wire import models
from wire.bodies import check_body
from routers.deps import (API, Actor, Cursor, DatabaseDep, EnvironmentIdPath, IdPath, JsonBody, Limit,
                       OverrideConditions, RevisionCursor, SettingsDep, VersionPath, Wait)
from wire.jsonroute import ExactJsonRoute
from wire.replies import reply_trusted

router = APIRouter(prefix="/configurations/{id}/overrides", route_class=ExactJsonRoute, tags=["overrides"])


def _reply(row: dict) -> Response:
    etag = reads.override_etag(row)
    if row.pop("created", False):
        location = f"{API}/configurations/{row['configuration_id']}/overrides/{row['environment_id']}"
        return reply_trusted(models.Override, row, 201, {"ETag": etag, "Location": location})
    return reply_trusted(models.Override, row, 200, {"ETag": etag})


@router.get("")
async def list_configuration_overrides(id: IdPath, request: Request, db: DatabaseDep, limit: Limit = 50,
                                       cursor: Cursor = None) -> Response:
    await scopes.configuration(request.app.state, request.scope, id)
    principal = access.of(request.scope)
    rows, next_cursor = await db.run(overrides.page, id, limit=limit, cursor=cursor, environments=None
                                     if principal is None or principal.environments is None
                                     else sorted(principal.environments))
    return reply_trusted(models.OverridePage, {"items": rows, "next_cursor": next_cursor})


@router.get("/{environment_id}")
async def get_override(id: IdPath, environment_id: EnvironmentIdPath, request: Request, wait: Wait = None) -> Response:
    return await reads.answer_override(
        request, id, environment_id, wait,
        lambda: scopes.in_environments(request.app.state, request.scope, id, environment_id))


@router.put("/{environment_id}", dependencies=[JsonBody], status_code=200)
async def put_override(id: IdPath, environment_id: EnvironmentIdPath, body: models.OverrideWrite, request: Request,
                       db: DatabaseDep, settings: SettingsDep, actor: Actor, when: OverrideConditions) -> Response:
    data = check_body(body, settings)
    await scopes.in_environments(request.app.state, request.scope, id, environment_id, write=True)
    return await once(request, db, actor, overrides.put, id, environment_id, **data, when=when, actor=actor,
                      reply=_reply)


@router.delete("/{environment_id}", status_code=204)
async def delete_override(id: IdPath, environment_id: EnvironmentIdPath, request: Request, db: DatabaseDep,
                          actor: Actor, when: OverrideConditions) -> Response:
    await scopes.in_environments(request.app.state, request.scope, id, environment_id, write=True)
    return await once(request, db, actor, overrides.delete, id, environment_id, when=when, actor=actor,
                      reply=lambda _: Response(status_code=204))


@router.get("/{environment_id}/revisions")
async def list_override_revisions(id: IdPath, environment_id: EnvironmentIdPath, request: Request, db: DatabaseDep,
                                  limit: Limit = 50, cursor: RevisionCursor = None) -> Response:
    await scopes.in_environments(request.app.state, request.scope, id, environment_id)
    rows, next_cursor = await db.run(overrides.revision_page, id, environment_id, limit=limit, cursor=cursor)
    return reply_trusted(models.OverrideRevisionPage, {"items": rows, "next_cursor": next_cursor})


@router.get("/{environment_id}/revisions/{version}")
async def get_override_revision(id: IdPath, environment_id: EnvironmentIdPath, version: VersionPath,
                                request: Request, db: DatabaseDep) -> Response:
    await scopes.in_environments(request.app.state, request.scope, id, environment_id)
    return reply_trusted(models.OverrideRevision, await db.run(overrides.revision, id, environment_id, version))


@router.post("/{environment_id}/revisions/{version}/restore")
async def restore_override_revision(id: IdPath, environment_id: EnvironmentIdPath, version: VersionPath,
                                    request: Request, db: DatabaseDep, actor: Actor,
                                    when: OverrideConditions) -> Response:
    await scopes.in_environments(request.app.state, request.scope, id, environment_id, write=True)
    return await once(request, db, actor, overrides.restore, id, environment_id, version, when=when, actor=actor,
                      reply=lambda row: _reply(row | {"created": False}))
