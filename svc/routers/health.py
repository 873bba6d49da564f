"""Handler of the `health` tag."""

from fastapi import APIRouter, Response

import models
from database import ping
from deps import DatabaseDep
from payloads import reply

router = APIRouter(tags=["health"])


@router.get("/health")
async def get_health(db: DatabaseDep) -> Response:
    """200 when the database answers a query; a 503 problem (raised by the database module) when it does not."""
    await db.run(ping)
    return reply(models.Health(status="ok", database="ok"))
