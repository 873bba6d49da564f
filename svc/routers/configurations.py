"""Handlers of the `configurations` tag: configurations, their revisions, and restore."""

from fastapi import APIRouter, Request, Response

import etags
import models
from deps import (Actor, Cursor, DatabaseDep, IdPath, IfMatch, JsonBody, Limit, NameQuery,
                  RevisionCursor, SettingsDep, VersionPath)
from payloads import check_body, not_modified, reply_trusted
from repositories import configurations

router = APIRouter(tags=["configurations"])
PREFIX = "/api/v1/configurations"


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.make(row["id"], row["version"])} | (headers or {})
    return reply_trusted(models.Configuration, row, status, headers)


@router.post(PREFIX, dependencies=[JsonBody])
async def create_configuration(body: models.ConfigurationCreate, db: DatabaseDep, settings: SettingsDep,
                               actor: Actor) -> Response:
    data = check_body(body, max_depth=settings.max_json_depth, max_config_keys=settings.max_config_keys)
    row = await db.run(configurations.create, application_id=str(data["application_id"]), name=data["name"],
                       comments=data["comments"], config=data["config"], actor=actor)
    return _reply(row, 201, {"Location": f"{PREFIX}/{row['id']}"})


@router.get(PREFIX + "/{id}")
async def get_configuration(id: IdPath, request: Request) -> Response:
    # The read path every client polls: no dependency to solve, the header read directly (see README).
    row = await request.app.state.database.run(configurations.get, id)
    etag = etags.make(id, row["version"])
    if etags.none_match(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    return _reply(row)


@router.put(PREFIX + "/{id}", dependencies=[JsonBody])
async def update_configuration(id: IdPath, body: models.ConfigurationUpdate, db: DatabaseDep,
                               settings: SettingsDep, actor: Actor, if_match: IfMatch = None) -> Response:
    data = check_body(body, max_depth=settings.max_json_depth, max_config_keys=settings.max_config_keys)
    versions = etags.versions(if_match, id, required=settings.require_if_match)
    row = await db.run(configurations.update, id, name=data["name"], comments=data["comments"],
                       config=data["config"], versions=versions, actor=actor)
    return _reply(row)


@router.delete(PREFIX + "/{id}", status_code=204)
async def delete_configuration(id: IdPath, db: DatabaseDep, settings: SettingsDep,
                               if_match: IfMatch = None) -> Response:
    versions = etags.versions(if_match, id, required=settings.require_if_match)
    await db.run(configurations.delete, id, versions=versions)
    return Response(status_code=204)


@router.get("/api/v1/applications/{id}/configurations")
async def list_application_configurations(id: IdPath, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None,
                                          name: NameQuery = None) -> Response:
    rows, next_cursor = await db.run(configurations.page_of_application, id, limit=limit, cursor=cursor, name=name)
    return reply_trusted(models.ConfigurationPage, {"items": rows, "next_cursor": next_cursor})


@router.get(PREFIX + "/{id}/revisions")
async def list_configuration_revisions(id: IdPath, db: DatabaseDep, limit: Limit = 50,
                                       cursor: RevisionCursor = None) -> Response:
    rows, next_cursor = await db.run(configurations.revisions, id, limit=limit, cursor=cursor)
    return reply_trusted(models.RevisionPage, {"items": rows, "next_cursor": next_cursor})


@router.get(PREFIX + "/{id}/revisions/{version}")
async def get_configuration_revision(id: IdPath, version: VersionPath, db: DatabaseDep) -> Response:
    row = await db.run(configurations.revision, id, version)
    return reply_trusted(models.Revision, row)


@router.post(PREFIX + "/{id}/revisions/{version}/restore")
async def restore_configuration_revision(id: IdPath, version: VersionPath, db: DatabaseDep, settings: SettingsDep,
                                         actor: Actor, if_match: IfMatch = None) -> Response:
    versions = etags.versions(if_match, id, required=settings.require_if_match)
    row = await db.run(configurations.restore, id, version, versions=versions, actor=actor)
    return _reply(row)
