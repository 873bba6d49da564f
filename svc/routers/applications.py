"""Handlers of the `applications` tag."""

from fastapi import APIRouter, Request, Response

import etags
import models
from deps import Cursor, DatabaseDep, IdPath, IfMatch, JsonBody, Limit, NameQuery, SettingsDep
from payloads import check_body, not_modified, reply_trusted
from repositories import applications

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])


@router.post("", dependencies=[JsonBody])
async def create_application(body: models.ApplicationCreate, db: DatabaseDep, settings: SettingsDep) -> Response:
    data = check_body(body, max_depth=settings.max_json_depth, max_config_keys=settings.max_config_keys)
    row = await db.run(applications.create, name=data["name"], comments=data["comments"])
    headers = {"Location": f"{router.prefix}/{row['id']}", "ETag": etags.make(row["id"], row["version"])}
    return reply_trusted(models.Application, row, 201, headers)


@router.get("")
async def list_applications(db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None,
                            name: NameQuery = None) -> Response:
    rows, next_cursor = await db.run(applications.page, limit=limit, cursor=cursor, name=name)
    return reply_trusted(models.ApplicationPage, {"items": rows, "next_cursor": next_cursor})


@router.get("/{id}")
async def get_application(id: IdPath, request: Request) -> Response:
    # A read path clients poll: no dependency to solve, the header read directly (as get_configuration).
    row = await request.app.state.database.run(applications.get, id)
    etag = etags.make(id, row["version"])
    if etags.none_match(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    return reply_trusted(models.Application, row, headers={"ETag": etag})


@router.put("/{id}", dependencies=[JsonBody])
async def update_application(id: IdPath, body: models.ApplicationUpdate, db: DatabaseDep, settings: SettingsDep,
                             if_match: IfMatch = None) -> Response:
    data = check_body(body, max_depth=settings.max_json_depth, max_config_keys=settings.max_config_keys)
    versions = etags.versions(if_match, id, required=settings.require_if_match)
    row = await db.run(applications.update, id, name=data["name"], comments=data["comments"], versions=versions)
    return reply_trusted(models.Application, row, headers={"ETag": etags.make(id, row["version"])})


@router.delete("/{id}", status_code=204)
async def delete_application(id: IdPath, db: DatabaseDep, settings: SettingsDep,
                             if_match: IfMatch = None) -> Response:
    versions = etags.versions(if_match, id, required=settings.require_if_match)
    await db.run(applications.delete, id, versions=versions)
    return Response(status_code=204)
