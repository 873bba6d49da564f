"""SQL for the change feed of an application's configurations (written by `repositories.configurations`)."""

from db.database import idempotent
from db.primary import epoch as current_epoch
from wire.problems import EpochChanged
from repositories.rows import Row, one

COLUMNS = 'seq, kind, configuration_id, name, version, changed_at AS at, changed_by AS "by", environment_id, environment'
OVERRIDE_ONLY = ("environment_id", "environment")  # absent from a change of the configuration itself

APPLICATION_EXISTS = "SELECT 1 FROM applications WHERE id = %(application_id)s"

SELECT_AFTER = f"""
SELECT {COLUMNS} FROM changes
WHERE application_id = %(application_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""

NO_APPLICATION = "No application has this id."


@idempotent
def after(cur, application_id: str, seq: int, *, limit: int, epoch: int | None = None) -> list[Row]:
    """The application's changes numbered after `seq`, in order, at most `limit`; NotFound for no application;
    EpochChanged when `seq` is a position of `epoch` and the data is in another one (the epoch of this unit of
    work's connection, `primary.epoch()`), before anything else: such a position may name other changes."""
    if epoch is not None and epoch != current_epoch():
        raise EpochChanged(epoch, current_epoch())
    one(cur, APPLICATION_EXISTS, {"application_id": application_id}, NO_APPLICATION)
    cur.execute(SELECT_AFTER, {"application_id": application_id, "after": seq, "limit": limit})
    rows = cur.fetchall()
    for row in rows:
        if row["environment_id"] is None:
            for column in OVERRIDE_ONLY:
                del row[column]
    return rows
