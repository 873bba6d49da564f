"""Keyset pagination: a page is the rows after the cursor in id order; one extra row tells whether more follow."""

from typing import Any


def split(rows: list[dict[str, Any]], limit: int, key: str = "id") -> tuple[list[dict[str, Any]], str | None]:
    """`rows` fetched with `LIMIT limit + 1`: the page, and the cursor of the next one (None on the last),
    which is the `key` of the page's last row."""
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1][key])
    return rows, None
