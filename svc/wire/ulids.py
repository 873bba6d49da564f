"""The ULID type the generated models use: `pydantic_extra_types.ulid.ULID`, held to the contract's canonical form.

pydantic_extra_types' ULID also accepts integers, bytes, UUIDs and lower case, and cannot be serialized;
the contract admits only the 26-character upper-case string, so that is all this type takes, and it
serializes as that string.
"""

import re
import threading
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_extra_types.ulid import ULID
from ulid import ULID as _ULID

PATTERN = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def _canonical(value: Any) -> Any:
    if isinstance(value, _ULID):
        return value
    if isinstance(value, str) and PATTERN.fullmatch(value):
        return value
    raise ValueError("must be a ULID: 26 characters of upper-case Crockford base32")


Ulid = Annotated[
    ULID,
    BeforeValidator(_canonical),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN.pattern, "minLength": 26, "maxLength": 26}),
]


_lock = threading.Lock()
_last = 0


def new(now: datetime) -> str:
    """A new ULID for a row created at `now`, as its canonical string.

    Monotonic within this process: ids made in the same millisecond follow each other (the random part is
    incremented, as the ULID spec's monotonic mode does), so id order is creation order for one writer.
    """
    global _last
    value = int(_ULID.from_datetime(now))
    with _lock:
        if value >> 80 == _last >> 80 and value <= _last:
            value = _last + 1
        _last = value
    return str(_ULID.from_int(value))
