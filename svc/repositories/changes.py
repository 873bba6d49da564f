"""SQL for the change feed of an application's configurations (written by `repositories.configurations`)."""

from database import idempotent
from repositories.rows import Row, one

COLUMNS = 'seq, kind, configuration_id, name, version, changed_at AS at, changed_by AS "by"'

APPLICATION_EXISTS = "SELECT 1 FROM applications WHERE id = %(application_id)s"

SELECT_AFTER = f"""
SELECT {COLUMNS} FROM changes
WHERE application_id = %(application_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""

NO_APPLICATION = "No application has this id."


@idempotent
def after(cur, application_id: str, seq: int, *, limit: int) -> list[Row]:
    """The application's changes numbered after `seq`, in order, at most `limit`; NotFound for no application."""
    one(cur, APPLICATION_EXISTS, {"application_id": application_id}, NO_APPLICATION)
    cur.execute(SELECT_AFTER, {"application_id": application_id, "after": seq, "limit": limit})
    return cur.fetchall()
