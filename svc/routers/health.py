"""Handler of the `health` tag."""

from fastapi import APIRouter, Request, Response

from wire import models
from db.database import ping
from routers.deps import DatabaseDep
from wire.replies import reply

router = APIRouter(tags=["health"])


@router.get("/health")
async def get_health(request: Request, db: DatabaseDep) -> Response:
    """200 when the database answers a query; a 503 problem (raised by the database module) when it does not. The
    body says whether this worker's listener is connected (or connecting again, or given up for good: `disabled`,
    `live/listener.Listener.pooled`) and how many requests it holds."""
    await db.run(ping)
    state = request.app.state
    listener = state.listener
    listener_state = (models.ListenerState.disabled if listener.pooled else
                      models.ListenerState.listening if listener.listening else models.ListenerState.reconnecting)
    return reply(models.Health(status="ok", database="ok", listener=listener_state, waiters=state.waiters.count))
