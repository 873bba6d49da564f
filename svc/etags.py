"""Strong entity tags from id and version, and the `If-Match` / `If-None-Match` headers that name them."""

import hashlib
from collections.abc import Iterable

from starlette.types import Scope

ANY = "*"
# Versions are PostgreSQL integers.
MAX_VERSION = 2**31 - 1


def make(id: str, version: int) -> str:
    """The strong ETag of version `version` of resource `id`."""
    return f'"{id}.{version}"'


def of_page(rows: Iterable[dict], next_cursor: str | None) -> str:
    """The strong ETag of a page of versioned rows: it changes when an item, the set of items or the next cursor does."""
    digest = hashlib.blake2b(digest_size=12)
    for row in rows:
        digest.update(f"{row['id']}.{row['version']};".encode())
    digest.update(str(next_cursor).encode())
    return f'"p.{digest.hexdigest()}"'


def header(scope: Scope, name: bytes) -> str | None:
    """The value of the list-based header `name` (`b"if-match"`, `b"if-none-match"`, lower case as ASGI gives it):
    all its lines joined with commas, since RFC 9110 §5.3 makes them one list. None when there is none. The one
    reader of conditional headers: routes, `watch.conditional_get` and the fast path."""
    values = [value for key, value in scope["headers"] if key == name]
    if not values:
        return None
    return (values[0] if len(values) == 1 else b", ".join(values)).decode("latin-1")


def tags(header: str) -> list[str]:
    """The entity tags of a header value, weak ones as their opaque part (RFC 9110 weak comparison)."""
    found = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if part:
            found.append(part)
    return found


def none_match(header: str | None, etag: str) -> bool:
    """True when `If-None-Match` names `etag` (or `*`): the client's copy is current, answer 304."""
    if header is None:
        return False
    found = tags(header)
    return ANY in found or etag in found


def accepted(header: str | None, id: str) -> list[int] | None:
    """The versions of `id` that an `If-Match` header accepts; None when any will do (no header, or `*`).

    If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak tag (`W/"..."`) matches nothing, and a tag
    matches only when it is exactly one this service sends (`"<id>.<version>"`, no leading zeros). A version
    no resource can have (past `MAX_VERSION`, however many digits) matches nothing rather than overflowing.
    An `If-Match` that names only other resources or malformed tags gives an empty list: nothing matches, 412.
    """
    if header is None:
        return None
    accepted = []
    prefix = f'"{id}.'
    for part in header.split(","):
        tag = part.strip()
        if tag == ANY:
            return None
        if tag.startswith(prefix) and tag.endswith('"'):
            digits = tag[len(prefix):-1]
            if (digits.isascii() and digits.isdigit() and digits[0] != "0" and len(digits) <= len(str(MAX_VERSION))
                    and int(digits) <= MAX_VERSION):
                accepted.append(int(digits))
    return accepted
