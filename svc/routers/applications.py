"""Handlers of the `applications` tag."""

from fastapi import APIRouter, Response

import models
from deps import Cursor, DatabaseDep, IdPath, Limit, NameQuery
from payloads import check_storable, reply
from repositories import applications

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])


@router.post("")
async def create_application(body: models.ApplicationCreate, db: DatabaseDep) -> Response:
    check_storable(body.model_dump())
    row = await db.run(applications.create, name=body.name.root, comments=_comments(body.comments))
    location = f"{router.prefix}/{row['id']}"
    return reply(models.Application.model_validate(row), 201, {"Location": location})


@router.get("")
async def list_applications(db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None,
                            name: NameQuery = None) -> Response:
    rows, next_cursor = await db.run(applications.page, limit=limit, cursor=cursor, name=name,
                                     transaction=False)
    return reply(models.ApplicationPage.model_validate({"items": rows, "next_cursor": next_cursor}))


@router.get("/{id}")
async def get_application(id: IdPath, db: DatabaseDep) -> Response:
    row = await db.run(applications.get, id, transaction=False)
    return reply(models.Application.model_validate(row))


@router.put("/{id}")
async def update_application(id: IdPath, body: models.ApplicationUpdate, db: DatabaseDep) -> Response:
    check_storable(body.model_dump())
    row = await db.run(applications.update, id, name=body.name.root, comments=_comments(body.comments))
    return reply(models.Application.model_validate(row))


@router.delete("/{id}", status_code=204)
async def delete_application(id: IdPath, db: DatabaseDep) -> Response:
    await db.run(applications.delete, id)
    return Response(status_code=204)


def _comments(comments: models.Comments | None) -> str | None:
    return None if comments is None else comments.root
