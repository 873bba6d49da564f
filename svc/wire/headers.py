"""A request's header lines, read from its ASGI scope: the one place that walks `scope["headers"]`.

Names are given as ASGI gives them, lower-case bytes (`b"authorization"`); values come back as the bytes sent.
"""

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
