"""Handlers of the `configurations` tag."""

from fastapi import APIRouter, Response

import models
from deps import Cursor, DatabaseDep, IdPath, Limit, NameQuery
from payloads import check_storable, reply
from repositories import configurations

router = APIRouter(tags=["configurations"])
PREFIX = "/api/v1/configurations"


@router.post(PREFIX)
async def create_configuration(body: models.ConfigurationCreate, db: DatabaseDep) -> Response:
    check_storable(body.model_dump())
    row = await db.run(configurations.create, application_id=str(body.application_id), name=body.name.root,
                       comments=None if body.comments is None else body.comments.root, config=body.config.root)
    return reply(models.Configuration.model_validate(row), 201, {"Location": f"{PREFIX}/{row['id']}"})


@router.get(PREFIX + "/{id}")
async def get_configuration(id: IdPath, db: DatabaseDep) -> Response:
    row = await db.run(configurations.get, id, transaction=False)
    return reply(models.Configuration.model_validate(row))


@router.put(PREFIX + "/{id}")
async def update_configuration(id: IdPath, body: models.ConfigurationUpdate, db: DatabaseDep) -> Response:
    check_storable(body.model_dump())
    row = await db.run(configurations.update, id, name=body.name.root,
                       comments=None if body.comments is None else body.comments.root, config=body.config.root)
    return reply(models.Configuration.model_validate(row))


@router.delete(PREFIX + "/{id}", status_code=204)
async def delete_configuration(id: IdPath, db: DatabaseDep) -> Response:
    await db.run(configurations.delete, id)
    return Response(status_code=204)


@router.get("/api/v1/applications/{id}/configurations")
async def list_application_configurations(id: IdPath, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None,
                                          name: NameQuery = None) -> Response:
    rows, next_cursor = await db.run(configurations.page_of_application, id, limit=limit,
                                     cursor=cursor, name=name, transaction=False)
    return reply(models.ConfigurationPage.model_validate({"items": rows, "next_cursor": next_cursor}))
