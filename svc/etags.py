"""Strong entity tags from id and version, and the `If-Match` / `If-None-Match` headers that name them."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

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


def version(tag: str, id: str) -> int | None:
    """The version of `id` that `tag` names when it is exactly a tag this service sends (`"<id>.<version>"`, no
    leading zeros), else None. A version no resource can have (past `MAX_VERSION`, however many digits) names
    nothing rather than overflowing."""
    prefix = f'"{id}.'
    if not (tag.startswith(prefix) and tag.endswith('"')):
        return None
    digits = tag[len(prefix):-1]
    if (digits.isascii() and digits.isdigit() and digits[0] != "0" and len(digits) <= len(str(MAX_VERSION))
            and int(digits) <= MAX_VERSION):
        return int(digits)
    return None


def accepted(header: str | None, id: str) -> list[int] | None:
    """The versions of `id` that an `If-Match` header accepts; None when any will do (no header, or `*`).

    If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak tag (`W/"..."`) matches nothing, and a tag
    matches only when it is exactly one this service sends. An `If-Match` that names only other resources or
    malformed tags gives an empty list: nothing matches, 412.
    """
    if header is None:
        return None
    accepted = []
    for part in header.split(","):
        tag = part.strip()
        if tag == ANY:
            return None
        named = version(tag, id)
        if named is not None:
            accepted.append(named)
    return accepted


def refused(header: str | None, id: str) -> list[int] | None:
    """The versions of `id` that an `If-None-Match` header on a write refuses: those it names, compared weakly
    (RFC 9110 §13.1.2: `W/"<id>.3"` names version 3 too); an empty list without the header; None for `*`, which
    refuses every version (the write is for a resource that does not exist)."""
    if header is None:
        return []
    found = tags(header)
    if ANY in found:
        return None
    return [named for named in (version(tag, id) for tag in found) if named is not None]


@dataclass(frozen=True, slots=True)
class Preconditions:
    """What a conditional write requires of its resource's current version: one If-Match `accepts` (`match`, None
    for any) and one If-None-Match does not refuse (`none_match`, None for `*`: none). The write checks both in the
    statement that writes (`repositories.rows.conditions`)."""

    match: list[int] | None = None
    none_match: list[int] | None = field(default_factory=list)

    def accepts(self, version: int) -> bool:
        return self.match is None or version in self.match

    def refuses(self, version: int) -> bool:
        return self.none_match is None or version in self.none_match

    def params(self) -> dict[str, list[int] | None]:
        """The write's SQL parameters."""
        return {"versions": self.match, "refused": self.none_match}


UNCONDITIONAL = Preconditions()
