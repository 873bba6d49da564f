"""What the repositories share: column lists spelled into SQL, one row or a 404, a write whose taken name is a 409,
telling a gone row from a changed one, and keyset pages."""

from collections.abc import Mapping
from typing import Any, NoReturn

import psycopg2.errors
from psycopg2.extras import Json

from wire import jsontext
from wire.etags import UNCONDITIONAL, Preconditions
from wire.problems import Conflict, NotFound, PreconditionFailed

Row = dict[str, Any]

# A change's time: the clock once the write holds its application's row (`repositories.changes.ENTRY`), or the time
# its transaction pinned (`PIN_TIME`) when it writes several changes of one application (a change set, an import):
# each of them shows that one time, so a read of the past at it includes all of them, as the transaction is one.
NOW = "coalesce(nullif(current_setting('config_service.at', true), '')::timestamptz, clock_timestamp())"
# Run once the transaction holds the application's row (taken in a statement of its own: the clock is read after
# the lock, never while waiting for it, so the application's changes keep their order in time).
PIN_TIME = "SELECT set_config('config_service.at', clock_timestamp()::text, true)"

# The rest of a keyset page query in id order: after the cursor, optionally one exact name, optionally only the ids
# of a list (what an API key limited to some applications or environments may see), one row more than shown.
PAGE_AFTER_CURSOR = """
  (%(cursor)s::varchar IS NULL OR id > %(cursor)s)
  AND (%(ids)s::varchar[] IS NULL OR id = ANY(%(ids)s::varchar[]))
  AND (%(name)s::varchar IS NULL OR name = %(name)s)
ORDER BY id
LIMIT %(limit)s
"""


def names(columns: tuple[str, ...], of: str = "") -> str:
    """`id, name, ...`; with `of="c"`, `c.id, c.name, ...`."""
    return ", ".join(f"{of}.{column}" if of else column for column in columns)


def params(columns: tuple[str, ...]) -> str:
    """`%(id)s, %(name)s, ...`: each column's value is the parameter named after it."""
    return ", ".join(f"%({column})s" for column in columns)


def assign(columns: tuple[str, ...], of: str = "") -> str:
    """`name = %(name)s, ...`; with `of="s"`, `name = s.name, ...`."""
    return ", ".join(f"{column} = {of}.{column}" if of else f"{column} = %({column})s" for column in columns)


def copy_into(table: str, values: Mapping[str, str]) -> str:
    """`INSERT INTO table (column, ...) SELECT expression, ...` from {column: expression}: each column is written
    beside the value it takes, never matched with it by position in another list. A FROM follows."""
    return f"INSERT INTO {table} ({', '.join(values)}) SELECT {', '.join(values.values())}"


def fields(given: Mapping[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """The parameters of the columns a client writes, from the fields it sent (a validated request body, which
    has every field of the contract): one for each of `columns`, NULL for a field not given, a JSON object as jsonb.
    A field that no column stores is a bug between the contract and the repository, never dropped silently."""
    unknown = set(given) - set(columns)
    if unknown:
        raise TypeError(f"no column stores the fields {sorted(unknown)}")
    return {name: Json(value, dumps=jsontext.dumps) if isinstance(value := given.get(name), dict) else value
            for name in columns}


def conditions(version: str, epoch: str) -> str:
    """The part of a conditional write's WHERE that checks the row's `version` and the `epoch` it was written in
    against its preconditions (`Preconditions.params`): a version as written that If-Match accepts (`versions`,
    NULL for any) and If-None-Match does not refuse (`refused`, empty for none, NULL for `*`: every one)."""
    written = written_key(version, epoch)
    return (f"(%(versions)s::bigint[] IS NULL OR {written} = ANY(%(versions)s::bigint[]))"
            f" AND %(refused)s::bigint[] IS NOT NULL AND {written} <> ALL(%(refused)s::bigint[])")


def written_key(version: str, epoch: str) -> str:
    """SQL of a row's (version, epoch) as the one number `etags.key` makes of them."""
    return f"(({version})::bigint << 32 | ({epoch}))"


def one(cur, query: str, params: dict[str, Any], missing: str) -> Row:
    """The single row `query` finds, or NotFound(`missing`)."""
    cur.execute(query, params)
    row = cur.fetchone()
    if row is None:
        raise NotFound(missing)
    return row


def write(cur, query: str, params: dict[str, Any], name_taken: str) -> Row | None:
    """Run a write that returns its row; a unique name already taken becomes Conflict(`name_taken`)."""
    try:
        cur.execute(query, params)
    except psycopg2.errors.UniqueViolation:
        raise Conflict(name_taken) from None
    return cur.fetchone()


def missing_or_stale(cur, version_query: str, id: str, missing: str,
                     preconditions: Preconditions = UNCONDITIONAL, otherwise: Exception | None = None) -> None:
    """A conditional write touched no row: the row is gone (404), or `otherwise`, or a precondition failed (412,
    with the current ETag), If-Match first, then If-None-Match (RFC 9110 §13.2.2)."""
    row = one(cur, version_query, {"id": id}, missing)
    if otherwise is not None:
        raise otherwise
    stale(id, row["version"], row["epoch"], preconditions)


def holds(id: str, row: Row, preconditions: Preconditions) -> None:
    """The 412 of `stale` unless `preconditions` hold for resource `id`, its `row` (its `version` and `epoch`) read
    and locked before a write that does not check them itself."""
    if not preconditions.accepts(row["version"], row["epoch"]) or preconditions.refuses(row["version"], row["epoch"]):
        stale(id, row["version"], row["epoch"], preconditions)


def stale(id: str, version: int, epoch: int, preconditions: Preconditions) -> NoReturn:
    """The 412 of a write whose preconditions failed on resource `id`, now `version` as written in `epoch`."""
    # Which failed, as far as the version now tells: If-Match unless it accepts it; a version changed between the
    # write and this read is named after If-Match when one was sent (it was stale), else after If-None-Match.
    accepted = preconditions.accepts(version, epoch)
    if accepted and (preconditions.refuses(version, epoch) or preconditions.match is None):
        raise PreconditionFailed(id, version, epoch, PreconditionFailed.IF_NONE_MATCH)
    raise PreconditionFailed.if_match(id, version, epoch, preconditions.match)


def split(rows: list[Row], limit: int, key: str = "id") -> tuple[list[Row], str | None]:
    """Keyset pagination: `rows` fetched with `LIMIT limit + 1` (one extra row tells whether more follow) give the
    page and the cursor of the next one (None on the last), which is the `key` of the page's last row."""
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1][key])
    return rows, None
