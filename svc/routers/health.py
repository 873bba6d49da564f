"""Handler of the `health` tag."""

from fastapi import APIRouter, Request, Response
from starlette.datastructures import State

from wire import models
from db.database import ping
from routers.deps import DatabaseDep
from wire.problems import ServiceUnavailable
from wire.replies import reply

router = APIRouter(tags=["health"])


@router.get("/health")
async def get_health(request: Request, db: DatabaseDep) -> Response:
    """200 when the database answers a query; a 503 problem when it does not, with why (the database module's
    detail) and, as in the 200, this worker's state as extension members. Each says whether this worker's listener
    is connected (or connecting again, or given up for good: `disabled`, `live/listener.Listener.pooled`) and how
    many requests it holds."""
    state = request.app.state
    try:
        await db.run(ping)
    except ServiceUnavailable as down:
        raise ServiceUnavailable(down.detail, members={"database": "unavailable", "listener": _listener(state).value,
                                                       "waiters": state.waiters.count}) from None
    return reply(models.Health(status="ok", database="ok", listener=_listener(state), waiters=state.waiters.count))


@router.get("/health/live")
async def get_liveness(request: Request) -> Response:
    """200 while this worker serves requests, its database not asked (a liveness probe; `/health` is readiness)."""
    state = request.app.state
    return reply(models.Liveness(status="ok", listener=_listener(state), waiters=state.waiters.count))


def _listener(state: State) -> models.ListenerState:
    listener = state.listener
    return (models.ListenerState.disabled if listener.pooled else
            models.ListenerState.listening if listener.listening else models.ListenerState.reconnecting)
