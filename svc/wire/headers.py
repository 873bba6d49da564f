"""A request's header lines, read from its ASGI scope: the one place that walks `scope["headers"]`.

Names are given as ASGI gives them, lower-case bytes (`b"authorization"`); values come back as the bytes sent.
"""

import re
from dataclasses import dataclass

from starlette.types import Scope


def lines(scope: Scope, name: bytes) -> list[bytes]:
    """Every line of header `name`, in the order they came: for a rule about repeats (one Host) or a list-based
    header whose lines are one list (RFC 9110 §5.3, `etags.header`)."""
    return [value for key, value in scope["headers"] if key == name]


def first(scope: Scope, name: bytes) -> bytes | None:
    """The first line of header `name`, or None: for a header that holds one value (a later line is not read)."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None



# A staleness given without a value accepts any; a value past this is this (RFC 9111 §1.2.2).
GREATEST_DELTA = 2**31


@dataclass(frozen=True, slots=True)
class Staleness:
    """How stale an answer a read accepts, in seconds (None: not at all): at any time (`max-stale`, RFC 9111
    §5.2.1.2), or only when a current one cannot be had (`stale-if-error`, RFC 5861 §4, which a request may send)."""

    always: float | None = None
    if_error: float | None = None


def staleness(scope: Scope) -> Staleness | None:
    """The request's `Cache-Control` as a `Staleness`; None when it accepts none. `max-stale` (any staleness without
    a value) capped by `max-age`, and `stale-if-error` (RFC 5861: whatever the other directives say), each the
    smallest if given more than once; `no-cache` accepts none. A directive is a case-insensitive token with an
    optional argument, a token or a quoted string (a comma inside quotes separates nothing); an argument of
    `max-stale` or `stale-if-error` that is not delta-seconds ignores the directive (`stale-if-error` needs one), one
    of `max-age` caps at 0, and every other directive is ignored (RFC 9111 §5.2: a cache ignores what it does not
    know)."""
    given: dict[bytes, float] = {}
    for line in lines(scope, b"cache-control"):
        for directive in _directives(line):
            name, has_value, value = directive.strip().partition(b"=")
            name, value = name.strip().lower(), value.strip()
            if len(value) >= 2 and value[:1] == value[-1:] == b'"':
                value = _ESCAPED.sub(rb"\1", value[1:-1])
            seconds: float | None = None
            if value.isdigit():
                digits = value.lstrip(b"0") or b"0"
                seconds = GREATEST_DELTA if len(digits) > 10 else min(int(digits), GREATEST_DELTA)
            if name == b"no-cache":
                return None
            if name == b"max-stale" and not has_value:
                seconds = float("inf")
            elif name == b"max-age" and seconds is None:
                seconds = 0
            if name in (b"max-stale", b"stale-if-error", b"max-age") and seconds is not None:
                given[name] = min(given.get(name, seconds), seconds)
    always, if_error = given.get(b"max-stale"), given.get(b"stale-if-error")
    if always is None and if_error is None:
        return None
    return Staleness(None if always is None else min(always, given.get(b"max-age", always)), if_error)


_ESCAPED = re.compile(rb"\\(.)", re.DOTALL)  # a quoted-pair, `\x` for `x` (RFC 9110 §5.6.4)


def _directives(line: bytes) -> list[bytes]:
    """The comma-separated members of a header line, a comma inside a quoted string (RFC 9110 §5.6.4) not counted."""
    if b'"' not in line:
        return line.split(b",")
    members, start, quoted, escaped = [], 0, False, False
    for at, byte in enumerate(line):
        if quoted:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                quoted = False
        elif byte == 0x22:
            quoted = True
        elif byte == 0x2C:
            members.append(line[start:at])
            start = at + 1
    members.append(line[start:])
    return members


def is_json(content_type: str | None) -> bool:
    """Whether a request's Content-Type says JSON (`application/json` or `+json`), or says nothing."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
