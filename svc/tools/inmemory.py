"""`make bench`'s service whose configuration PUTs are written in memory, not in PostgreSQL: what a PUT costs the
service itself, measured beside the PUT row (`bench.PUT_IN_MEMORY`).

It is the service as `make run` starts it (`main.run`), with one function replaced: `configurations.update_now`,
the write a PUT's lane (routers/writes.py) and route make once the request is read, validated, authorized and its
preconditions parsed. Here it answers at once with the row the database would have returned: the configuration's
application and creation time (read once, at start, in one query), the fields sent, now, and the version after the
one If-Match names. Everything else of a PUT is the service's own: HTTP, the lane, the body's parsing and checks,
rendering the answer and writing it. The preconditions are not checked and nothing is stored, published or
notified: this is not a service to use, only a measure of where a PUT's time goes (svc/README.md).
"""

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg2

from repositories import configurations
from repositories.rows import Row
from wire import jsontext
from wire.etags import UNCONDITIONAL, Preconditions


def known(url: str) -> dict[str, tuple[str, datetime]]:
    """Each configuration's application and creation time: {id: (application_id, created_at)}."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, application_id, created_at FROM configurations")
        return {id: (application_id, created_at) for id, application_id, created_at in cur.fetchall()}


def update_now_from(rows: dict[str, tuple[str, datetime]]) -> Callable[..., Awaitable[Row]]:
    """A `configurations.update_now` that writes nothing: the row the database would return for a write that
    succeeds, of the configurations `rows` (`known`)."""

    async def update_now(db: Any, id: str, *, when: Preconditions = UNCONDITIONAL, actor: str | None = None,
                         key_id: str | None = None, **given: Any) -> Row:
        application_id, created_at = rows[id]
        named = [tag.version for tag in when.match or ()] or [0]
        return {"id": id, "application_id": application_id, "name": given["name"],
                "comments": given.get("comments"), "config": jsontext.Raw(jsontext.dumps(given["config"])),
                "created_at": created_at, "updated_at": datetime.now(UTC), "version": max(named) + 1,
                "epoch": 1}

    return update_now


# In the process started as `python -m tools.inmemory`, and in each worker uvicorn spawns from it (which imports
# this module again as `__mp_main__`); not in one that merely imports it (its test).
if __name__ in ("__main__", "__mp_main__"):
    configurations.update_now = update_now_from(known(os.environ["DATABASE_URL"]))

if __name__ == "__main__":
    import main

    sys.argv = ["main"]
    main.run()
