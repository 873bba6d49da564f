"""Handlers of the `configurations` tag: configurations, their revisions, and restore."""

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from wire import etags
from wire import models
from routers.deps import (API, Actor, Conditions, Cursor, DatabaseDep, IdPath, JsonBody, Limit, MergePatchBody,
                          NameQuery, RevisionCursor, SettingsDep, VersionPath, Wait)
from settings import Settings
from live import reads, scopes
from routers.idempotency import once
from wire import jsontext
from wire.bodies import check_body, refuse_nulls
from wire.problems import Unprocessable, pointer
from wire.jsonroute import ExactJsonRoute
from wire.replies import reply_trusted
from repositories import configurations

router = APIRouter(route_class=ExactJsonRoute, tags=["configurations"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.of_row(row)} | (headers or {})
    return reply_trusted(models.ConfigurationResource, row, status, headers)


def _deleted(_: None) -> Response:
    return Response(status_code=204)


@router.post("/configurations", dependencies=[JsonBody])
async def create_configuration(body: models.ConfigurationCreate, request: Request, db: DatabaseDep,
                               settings: SettingsDep, actor: Actor) -> Response:
    data = check_body(body, settings)
    scopes.new_configuration(request.scope, str(data["application_id"]))
    return await once(request, db, actor, configurations.create, **data, actor=actor,
                      reply=lambda row: _reply(row, 201, {"Location": f"{API}/configurations/{row['id']}"}))


@router.get("/configurations/{id}")
async def get_configuration(id: IdPath, request: Request, wait: Wait = None) -> Response:
    # The read path every client polls: no dependency to solve (without a query, fastpath.py answers it first).
    return await reads.answer_configuration(request, id, wait,
                                            lambda: scopes.configuration(request.app.state, request.scope, id))


@router.put("/configurations/{id}", dependencies=[JsonBody])
async def update_configuration(id: IdPath, body: models.ConfigurationUpdate, request: Request, db: DatabaseDep,
                               settings: SettingsDep, actor: Actor, when: Conditions) -> Response:
    data = check_body(body, settings)
    await scopes.configuration(request.app.state, request.scope, id, write=True)
    return await once(request, db, actor, configurations.update, id, **data, when=when, actor=actor,
                      reply=_reply)


@router.patch("/configurations/{id}", dependencies=[MergePatchBody])
async def patch_configuration(id: IdPath, body: models.ConfigurationPatch, request: Request, db: DatabaseDep,
                              settings: SettingsDep, actor: Actor, when: Conditions) -> Response:
    refuse_nulls(body)  # `comments: null` clears them; a `name` or `config` cannot be removed
    checked = check_body(body, settings)  # the patch itself: storable, within the limits, its name canonical
    given = {field: checked[field] for field in body.model_fields_set}  # what it names; absent keeps
    await scopes.configuration(request.app.state, request.scope, id, write=True)
    return await once(request, db, actor, configurations.patch, id, patch=given, when=when, actor=actor,
                      check=partial(_patched, settings), reply=_reply, transaction=True)


def _patched(settings: Settings, fields: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A configuration's fields once patched (`current` before), if a PUT could write them: refused at their pointer
    if not. A document larger than a PUT may send (each number as short as it may be sent: `1e300`, not the 301
    digits every read writes) is refused only if the patch made it larger."""
    try:
        body = models.ConfigurationUpdate.model_validate(fields)
    except ValidationError as error:
        problem = error.errors()[0]
        raise Unprocessable.at(pointer(("body", *problem["loc"])),
                               f"Once patched, the configuration would be refused: {problem['msg']}.") from None
    data = check_body(body, settings)
    size = len(jsontext.dumps(data["config"], shortest=True).encode())
    if size > settings.max_body_bytes and size > len(jsontext.dumps(current["config"], shortest=True).encode()):
        raise Unprocessable.at("/config", f"Once patched, the configuration would take more than "
                                          f"{settings.max_body_bytes} bytes, more than a PUT may send.")
    return data


@router.delete("/configurations/{id}", status_code=204)
async def delete_configuration(id: IdPath, request: Request, db: DatabaseDep, actor: Actor,
                               when: Conditions) -> Response:
    await scopes.configuration(request.app.state, request.scope, id, write=True)
    return await once(request, db, actor, configurations.delete, id, when=when, actor=actor, reply=_deleted)


@router.get("/applications/{id}/configurations")
async def list_application_configurations(id: IdPath, request: Request, limit: Limit = 50, cursor: Cursor = None,
                                          name: NameQuery = None, wait: Wait = None) -> Response:
    return await reads.answer_configurations_page(request, id, limit, cursor, name, wait,
                                                  lambda: scopes.application(request.scope, id))


@router.get("/configurations/{id}/revisions")
async def list_configuration_revisions(id: IdPath, request: Request, db: DatabaseDep, limit: Limit = 50,
                                       cursor: RevisionCursor = None) -> Response:
    await scopes.configuration(request.app.state, request.scope, id)
    rows, next_cursor = await db.run(configurations.revision_page, id, limit=limit, cursor=cursor)
    return reply_trusted(models.RevisionPage, {"items": rows, "next_cursor": next_cursor})


@router.get("/configurations/{id}/revisions/{version}")
async def get_configuration_revision(id: IdPath, version: VersionPath, request: Request, db: DatabaseDep) -> Response:
    await scopes.configuration(request.app.state, request.scope, id)
    return reply_trusted(models.Revision, await db.run(configurations.revision, id, version))


@router.post("/configurations/{id}/revisions/{version}/restore")
async def restore_configuration_revision(id: IdPath, version: VersionPath, request: Request, db: DatabaseDep,
                                         actor: Actor, when: Conditions) -> Response:
    await scopes.configuration(request.app.state, request.scope, id, write=True)
    return await once(request, db, actor, configurations.restore, id, version, when=when, actor=actor, reply=_reply)
