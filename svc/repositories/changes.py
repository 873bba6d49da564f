"""SQL for the change feed of an application's configurations (written by `repositories.configurations`)."""

from db.database import idempotent
from wire.problems import EpochChanged, NotFound
from repositories import applications
from repositories.rows import Row, one

COLUMNS = ('seq, kind, configuration_id, name, version, changed_at AS at, changed_by AS "by", '
           'changed_by_key AS by_key_id, environment_id, environment, epoch')
# An entry as every write of a configuration records it, in the write's own statement (`repositories.configurations`):
# each column from the configuration it returns as the CTE `c`, and its application's `id`, raised `last_change` and
# the change's time `at` as the CTE `a`. A change's time is the clock read once its application's row is locked
# (`rows.NOW`; a transaction that writes several changes of one application, a change set or an import, reads it once
# for all of them), the same in its entry (`changed_at`, shown as `at`; `recorded_at`, which reads of the past go
# by), in the configuration
# (`updated_at`) and in its revision (`created_at`): a read of the past at a time a change shows includes it.
ENTRY = {"application_id": "a.id", "seq": "a.last_change", "kind": "%(kind)s", "configuration_id": "c.id",
         "name": "c.name", "version": "c.version", "changed_at": "a.at", "recorded_at": "a.at",
         "changed_by": "%(actor)s"}

# The feed's end, the epoch the change at `after` was written in (None past the end, or for 0), and the database's.
LAST = """
SELECT a.last_change, (SELECT f.epoch FROM changes f WHERE f.application_id = a.id AND f.seq = %(after)s) AS at,
       config_service_epoch() AS now
FROM applications a WHERE a.id = %(application_id)s
"""
PAST_THE_END = ("The application's change feed ends at position {0}: a position past it was never handed out (one of "
                "another application's feed), or is of a database since restored to an earlier point. Read the feed "
                "again from after=0.")

SELECT_AFTER = f"""
SELECT {COLUMNS}, txid FROM changes
WHERE application_id = %(application_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""
# The rest of one transaction's changes after `after`, at most %(limit)s (through `changes_txid_idx`, migration
# 0010); `_whole_transactions` keeps those that follow on without a gap.
REST_OF_TRANSACTION = f"""
SELECT {COLUMNS}, txid FROM changes
WHERE application_id = %(application_id)s AND txid = %(txid)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""
# The most changes a page holds to keep one transaction whole: an import that replaces more at once (a document of up
# to 10,000 configurations, each with its overrides) is split across pages past it.
WHOLE_AT_MOST = 10_000


@idempotent
def after(cur, application_id: str, seq: int, *, limit: int, epoch: int | None = None) -> list[Row]:
    """The application's changes numbered after `seq`, in order, at most `limit` (`page`'s rows)."""
    return page(cur, application_id, seq, limit=limit, epoch=epoch)[0]


def _whole_transactions(cur, application_id: str, rows: list[Row], limit: int) -> list[Row]:
    """The first `limit` of `rows` (up to `limit` + 1 changes in order), without splitting a transaction's changes
    (a change set's, an import's) across two pages: a follower applying page by page never shows a state that never
    was. The page stops before a transaction that does not fit whole; one of more than `limit` changes that begins
    the page comes whole, up to WHOLE_AT_MOST changes. A transaction's changes are numbered consecutively (under its
    application's lock): they are those of one `txid` that follow on without a gap (an id may come again, in a
    cluster a dump was restored into, but not for the very next change); those written before migration 0010 have
    no `txid` and are each taken as one's own."""
    if len(rows) <= limit:
        return rows
    following, last = rows[limit], rows[limit - 1]
    rows = rows[:limit]
    if not _together(last, following):
        return rows  # the page ends where a transaction does
    first = limit - 1
    while first > 0 and _together(rows[first - 1], rows[first]):
        first -= 1
    if first > 0:
        return rows[:first]
    cur.execute(REST_OF_TRANSACTION, {"application_id": application_id, "txid": last["txid"], "after": last["seq"],
                                      "limit": max(0, WHOLE_AT_MOST - limit)})
    for row in cur.fetchall():
        if not _together(rows[-1], row):
            break
        rows.append(row)
    return rows


def _together(change: Row, then: Row) -> bool:
    """Whether `then`, the change after `change` in the feed, is of the same transaction."""
    return change["txid"] is not None and then["txid"] == change["txid"] and then["seq"] == change["seq"] + 1


def written(cur, application_id: str, seq: int, epoch: int) -> None:
    """NotFound for no application; EpochChanged unless the change at `seq` is in the feed as it was written in
    `epoch` (0 is the start of every feed): a read of the past given a position of the feed checks it so."""
    _position(cur, application_id, seq, epoch)


def _position(cur, application_id: str, seq: int, epoch: int | None) -> Row:
    found = one(cur, LAST, {"application_id": application_id, "after": seq}, applications.MISSING)
    if epoch is not None and seq != 0 and found["at"] != epoch:
        raise EpochChanged(seq, epoch, end=found["last_change"], now=found["now"])
    return found


@idempotent
def page(cur, application_id: str, seq: int, *, limit: int, epoch: int | None = None) -> tuple[list[Row], int]:
    """The application's changes numbered after `seq`, in order, at most `limit` in whole transactions (one of more
    comes alone and whole, up to WHOLE_AT_MOST: `_whole_transactions`), and the epoch of the position a follower goes
    on from (the last change's, or the one at `seq`; at 0 with none, the database's now).
    NotFound for no application. With `epoch`, `seq` is a position of that epoch: EpochChanged unless the change
    at `seq` is in the feed as it was written in `epoch` (0 is the start of every feed). A change the database has
    is in it with every change before it (a timeline is one line of history), so a follower that sends its position
    and its epoch is answered 410 exactly when what it read may have been lost and renumbered, and never after a
    promotion that lost nothing of it."""
    found = _position(cur, application_id, seq, epoch)
    if seq > found["last_change"]:  # never handed out: a follower that took it would skip every change up to it,
        raise NotFound(PAST_THE_END.format(found["last_change"]))  # silently (as a snapshot past the end answers)
    cur.execute(SELECT_AFTER, {"application_id": application_id, "after": seq, "limit": limit + 1})
    rows = _whole_transactions(cur, application_id, cur.fetchall(), limit)
    for row in rows:
        del row["txid"]
    if rows:
        return rows, rows[-1]["epoch"]
    return rows, found["now"] if found["at"] is None else found["at"]
