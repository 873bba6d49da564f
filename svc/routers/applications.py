"""Handlers of the `applications` tag."""

from fastapi import APIRouter, Request, Response

import etags
import models
from deps import API, Cursor, DatabaseDep, IdPath, JsonBody, Limit, NameQuery, SettingsDep, Versions
from payloads import check_body, not_modified, reply_trusted
from repositories import applications

router = APIRouter(prefix="/applications", tags=["applications"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.make(row["id"], row["version"])} | (headers or {})
    return reply_trusted(models.Application, row, status, headers)


@router.post("", dependencies=[JsonBody])
async def create_application(body: models.ApplicationCreate, db: DatabaseDep, settings: SettingsDep) -> Response:
    data = check_body(body, settings)
    row = await db.run(applications.create, name=data["name"], comments=data["comments"])
    return _reply(row, 201, {"Location": f"{API}/applications/{row['id']}"})


@router.get("")
async def list_applications(db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None,
                            name: NameQuery = None) -> Response:
    rows, next_cursor = await db.run(applications.page, limit=limit, cursor=cursor, name=name)
    return reply_trusted(models.ApplicationPage, {"items": rows, "next_cursor": next_cursor})


@router.get("/{id}")
async def get_application(id: IdPath, request: Request) -> Response:
    # A read path clients poll: no dependency to solve, the header read directly.
    row = await request.app.state.database.run(applications.get, id)
    etag = etags.make(id, row["version"])
    if etags.none_match(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    return _reply(row)


@router.put("/{id}", dependencies=[JsonBody])
async def update_application(id: IdPath, body: models.ApplicationUpdate, db: DatabaseDep, settings: SettingsDep,
                             versions: Versions) -> Response:
    data = check_body(body, settings)
    return _reply(await db.run(applications.update, id, name=data["name"], comments=data["comments"],
                               versions=versions))


@router.delete("/{id}", status_code=204)
async def delete_application(id: IdPath, db: DatabaseDep, versions: Versions) -> Response:
    await db.run(applications.delete, id, versions=versions)
    return Response(status_code=204)
