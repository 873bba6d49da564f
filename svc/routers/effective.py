"""Handlers of the `effective` tag: configurations as an environment sees them, and compared between two."""

from fastapi import APIRouter, Request, Response

from live import reads, scopes
from repositories import effective
from wire import jsontext
from routers.deps import CompareFrom, CompareTo, DatabaseDep, EnvironmentQuery, IdPath, NameQuery, NameRequired, Wait
from wire.jsonroute import ExactJsonRoute

router = APIRouter(route_class=ExactJsonRoute, tags=["effective"])


@router.get("/configurations/{id}/effective")
async def get_effective_configuration(id: IdPath, environment_id: EnvironmentQuery, request: Request,
                                      wait: Wait = None) -> Response:
    return await reads.answer_effective_configuration(
        request, id, environment_id, wait,
        lambda: scopes.in_environments(request.app.state, request.scope, id, environment_id))


@router.get("/applications/{id}/effective")
async def get_effective_application(id: IdPath, environment_id: EnvironmentQuery, request: Request,
                                    wait: Wait = None) -> Response:
    return await reads.answer_effective_application(request, id, environment_id, wait,
                                                    lambda: scopes.application(request.scope, id, environment_id))


@router.get("/effective")
async def find_effective(application: NameRequired, environment: NameRequired, request: Request,
                         configuration: NameQuery = None, wait: Wait = None) -> Response:
    return await reads.answer_named(request, application, environment, configuration, wait,
                                    scopes.named(request.scope))


@router.get("/configurations/{id}/compare")
async def compare_configuration(id: IdPath, to: CompareTo, request: Request, db: DatabaseDep,
                                first: CompareFrom = None) -> Response:
    await scopes.in_environments(request.app.state, request.scope, id, first, to)
    return _exact(await db.run(effective.compare, id, first=first, second=to))


@router.get("/applications/{id}/compare")
async def compare_application(id: IdPath, to: CompareTo, request: Request, db: DatabaseDep,
                              first: CompareFrom = None) -> Response:
    await scopes.application(request.scope, id, first, to)
    return _exact(await db.run(effective.compare_application, id, first=first, second=to))


def _exact(comparison: dict) -> Response:
    # Written by jsontext, as the views are: the patch's values keep their numbers exactly (pydantic would write a
    # Decimal as a string).
    return Response(jsontext.dumps(comparison).encode(), media_type="application/json")
