"""The epoch of the data at hand: the timeline of the database server it was read or written on (db/primary.py says
why there are epochs). A unit of work sets `EPOCH` (db/database.py), in its executor thread while it runs and in the
caller's task once it is done, so what renders or checks an ETag (etags.py) or a feed position uses the timeline of
the server that read or wrote the row, never a newer one the worker adopted meanwhile."""

from contextvars import ContextVar

EPOCH: ContextVar[int] = ContextVar("epoch", default=1)


def epoch() -> int:
    """The epoch (timeline) of the data at hand: of the connection of the unit of work running in this thread, or
    of the last one the current task ran; 1 (a single server's, never promoted) where none ran, as in unit tests."""
    return EPOCH.get()
