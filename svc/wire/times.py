"""Times in the contract's query strings and answers: RFC 3339 date-times with their offsets."""

import re
from datetime import UTC, datetime

from wire.problems import Unprocessable

# RFC 3339 §5.6 date-time (a leap second, which the clock never shows, is refused with the rest).
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def moment(text: str | None) -> datetime | None:
    """The time `at` names, in UTC; 422 at the parameter for anything but an RFC 3339 date-time with its offset.
    In UTC because RFC 3339 allows offsets to ±23:59 and PostgreSQL only to ±15:59; a time whose UTC falls outside
    years 1-9999 is refused too."""
    if text is None:
        return None
    if RFC3339.fullmatch(text):
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
        except OverflowError:
            raise Unprocessable.at("#/query/at", "This time is out of range (years 1 to 9999 in UTC).") from None
    if re.fullmatch(r"[^+]*[0-9] [0-9]{2}:[0-9]{2}", text):  # an offset whose `+` the query string made a space
        raise Unprocessable.at("#/query/at", "Expected an RFC 3339 date-time with its offset, like "
                                             "2026-11-23T14:02:00Z: a `+` in a query string reads as a space, so "
                                             "send a positive offset as %2B (2026-11-23T15:02:00%2B01:00).")
    raise Unprocessable.at("#/query/at", "Expected an RFC 3339 date-time with its offset, like 2026-11-23T14:02:00Z.")


def rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
