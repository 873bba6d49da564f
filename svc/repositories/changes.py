"""SQL for the change feed of an application's configurations (written by `repositories.configurations`)."""

from db.database import idempotent
from wire.epochs import epoch as current_epoch
from wire.problems import EpochChanged, NotFound
from repositories import applications
from repositories.rows import Row, one

COLUMNS = ('seq, kind, configuration_id, name, version, changed_at AS at, changed_by AS "by", '
           'changed_by_key AS by_key_id, environment_id, environment')
# An entry as every write of a configuration records it, in the write's own statement (`repositories.configurations`):
# each column from the configuration it returns as the CTE `c`, and its application's `id`, raised `last_change` and
# the change's time `at` as the CTE `a`. A change's time is the clock read once its application's row is locked, the
# same in its entry (`changed_at`, shown as `at`; `recorded_at`, which reads of the past go by), in the configuration
# (`updated_at`) and in its revision (`created_at`): a read of the past at a time a change shows includes it.
ENTRY = {"application_id": "a.id", "seq": "a.last_change", "kind": "%(kind)s", "configuration_id": "c.id",
         "name": "c.name", "version": "c.version", "changed_at": "a.at", "recorded_at": "a.at",
         "changed_by": "%(actor)s"}

LAST = "SELECT last_change FROM applications WHERE id = %(id)s"
PAST_THE_END = ("The application's change feed ends at position {0}: a position past it was never handed out (one of "
                "another application, or of a database since restored to an earlier point; send `epoch` with it to be "
                "told which).")

SELECT_AFTER = f"""
SELECT {COLUMNS} FROM changes
WHERE application_id = %(application_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""


@idempotent
def after(cur, application_id: str, seq: int, *, limit: int, epoch: int | None = None) -> list[Row]:
    """The application's changes numbered after `seq`, in order, at most `limit`; NotFound for no application;
    EpochChanged when `seq` is a position of `epoch` and the data is in another one (the epoch of this unit of
    work's connection, `epochs.epoch()`), before anything else: such a position may name other changes."""
    if epoch is not None and epoch != current_epoch():
        raise EpochChanged(epoch, current_epoch())
    last = one(cur, LAST, {"id": application_id}, applications.MISSING)["last_change"]
    if seq > last:  # never handed out: a follower that took it would skip every change up to it, silently
        raise NotFound(PAST_THE_END.format(last))  # (as a snapshot at a position past the end answers)
    cur.execute(SELECT_AFTER, {"application_id": application_id, "after": seq, "limit": limit})
    return cur.fetchall()
