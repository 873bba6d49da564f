"""The ULID type the generated models use: `pydantic_extra_types.ulid.ULID`, held to the contract's canonical form.

pydantic_extra_types' ULID also accepts integers, bytes, UUIDs and lower case, and cannot be serialized;
the contract admits only the 26-character upper-case string, so that is all this type takes, and it
serializes as that string.
"""

import re
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


def new(now: datetime) -> str:
    """A new ULID for a row created at `now`, as its canonical string."""
    return str(_ULID.from_datetime(now))
