"""Strong entity tags from id, version and epoch, and the `If-Match` / `If-None-Match` headers that name them.

A tag names a version *as written*: its number and the epoch it was written in, the timeline of the primary that
wrote it (primary.py; each row keeps it in its `epoch` column, migration 0020). A failover that lost acknowledged
writes gives their version numbers to other content on a new timeline, written in the new epoch: a tag of the lost
write names a (version, epoch) the database no longer has, and matches nothing. A version the new primary has
is the one written before the fork, the same content, and keeps its tag: a promotion that lost nothing changes no
tag. `"<id>.<version>"` is a tag of a version written in epoch 1 (a server never promoted: the form the service
always sent), `"<id>.<version>~<epoch>"` one written in a later epoch.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from starlette.types import Scope

from wire import headers

ANY = "*"
# Versions are PostgreSQL integers; timelines are 32-bit unsigned.
MAX_VERSION = 2**31 - 1
MAX_EPOCH = 2**32 - 1


class Named(NamedTuple):
    """What a tag this service sends names: a version of a resource, as written in an epoch."""

    version: int
    epoch: int = 1

    def key(self) -> int:
        """The (version, epoch) as one number, as a write's statement compares it (`repositories.rows.conditions`)."""
        return key(self.version, self.epoch)


def key(version: int, epoch: int) -> int:
    """(version, epoch) as one bigint: versions are below 2**31 and epochs below 2**32."""
    return version << 32 | epoch


def make(id: str, version: int, epoch: int) -> str:
    """The strong ETag of version `version` of resource `id`, written in `epoch` (its row's `epoch`)."""
    return f'"{id}.{version}"' if epoch == 1 else f'"{id}.{version}~{epoch}"'


def of_row(row: dict) -> str:
    """The strong ETag of a versioned row (its `id`, `version` and `epoch`)."""
    return make(row["id"], row["version"], row["epoch"])


def of_page(rows: Iterable[dict], next_cursor: str | None) -> str:
    """The strong ETag of a page of versioned rows: it changes when an item (its version as written), the set of
    items or the next cursor does."""
    digest = hashlib.blake2b(digest_size=12)
    for row in rows:
        digest.update(f"{row['id']}.{row['version']}~{row['epoch']};".encode())
    digest.update(str(next_cursor).encode())
    return f'"p.{digest.hexdigest()}"'


def of_content(body: bytes) -> str:
    """The strong ETag of a representation that has no version of its own (a view): a digest of its bytes, so it
    changes exactly when they do. A digest names the same bytes in any epoch."""
    return f'"v-{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def header(scope: Scope, name: bytes) -> str | None:
    """The value of the list-based header `name` (`b"if-match"`, `b"if-none-match"`, lower case as ASGI gives it):
    all its lines joined with commas, since RFC 9110 §5.3 makes them one list. None when there is none. The one
    reader of conditional headers: routes, `live.reads` and the fast path."""
    values = headers.lines(scope, name)
    if not values:
        return None
    return (values[0] if len(values) == 1 else b", ".join(values)).decode("latin-1")


def members(header: str) -> list[str]:
    """The members of a list of entity tags (RFC 9110 §5.6.1, §8.8.3), stripped: split at the commas outside double
    quotes, since a tag may hold a comma (`etagc` is any visible character but `"`): `"a,*,b"` is one tag, not `*`.
    An unclosed quote runs to the end (one malformed member, which names nothing); empty members are dropped."""
    if '"' not in header or "," not in header:  # (nearly every header: one tag, or tags without quotes)
        return [member for member in (part.strip() for part in header.split(",")) if member]
    found = []
    start, quoted = 0, False
    for at, char in enumerate(header):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            found.append(header[start:at].strip())
            start = at + 1
    found.append(header[start:].strip())
    return [member for member in found if member]


def tags(header: str) -> list[str]:
    """The entity tags of a header value, weak ones as their opaque part (RFC 9110 weak comparison). `W/*` is none:
    `*` has no weak form (RFC 9110 §13.1.2), so it names nothing, as any other malformed member does."""
    found = []
    for part in members(header):
        if part.startswith("W/"):
            part = part[2:]
            if part == ANY:
                continue
        if part:
            found.append(part)
    return found


def none_match(header: str | None, etag: str) -> bool:
    """True when `If-None-Match` names `etag` (or `*`): the client's copy is current, answer 304."""
    if header is None:
        return False
    found = tags(header)
    return ANY in found or etag in found


def _number(digits: str, most: int) -> int | None:
    """A positive integer written as the service writes one (ASCII digits, no leading zero), at most `most`."""
    if (digits.isascii() and digits.isdigit() and digits[0] != "0" and len(digits) <= len(str(most))
            and int(digits) <= most):
        return int(digits)
    return None


def named(tag: str, id: str) -> Named | None:
    """What `tag` names of `id` when it is exactly a tag this service sends (`"<id>.<version>"` or
    `"<id>.<version>~<epoch>"` with an epoch past 1, no leading zeros), else None. A version or an epoch no
    resource can have (however many digits) names nothing rather than overflowing."""
    prefix = f'"{id}.'
    if not (tag.startswith(prefix) and tag.endswith('"')):
        return None
    digits, tilde, epoch_digits = tag[len(prefix):-1].partition("~")
    version = _number(digits, MAX_VERSION)
    if version is None:
        return None
    if not tilde:
        return Named(version)
    epoch = _number(epoch_digits, MAX_EPOCH)
    return Named(version, epoch) if epoch is not None and epoch != 1 else None  # epoch 1 is written without one


def accepted(header: str | None, id: str) -> list[Named] | None:
    """What of `id` an `If-Match` header accepts; None when any version will do (no header, or `*`).

    If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak tag (`W/"..."`) matches nothing, and a tag
    matches only when it is exactly one this service sends. An `If-Match` that names only other resources or
    malformed tags gives an empty list: nothing matches, 412. Each tag's epoch is kept: the write compares the
    version and the epoch it was written in (`Preconditions`).
    """
    if header is None:
        return None
    accepted = []
    for tag in members(header):
        if tag == ANY:
            return None
        found = named(tag, id)
        if found is not None:
            accepted.append(found)
    return accepted


def refused(header: str | None, id: str) -> list[Named] | None:
    """What of `id` an `If-None-Match` header on a write refuses: the versions it names, compared weakly
    (RFC 9110 §13.1.2: `W/"<id>.3"` names version 3 too), each in its epoch; an empty list without the header; None
    for `*`, which refuses every version (the write is for a resource that does not exist)."""
    if header is None:
        return []
    found = tags(header)
    if ANY in found:
        return None
    return [tag for tag in (named(each, id) for each in found) if tag is not None]


@dataclass(frozen=True, slots=True)
class Preconditions:
    """What a conditional write requires of its resource's current version: one If-Match `accepts` (`match`, None
    for any) and one If-None-Match does not refuse (`none_match`, None for `*`: none). The write checks both in the
    statement that writes (`repositories.rows.conditions`), against the version and the epoch it was written in:
    a tag names one version as written, and no other version, nor the same number written in another epoch."""

    match: list[Named] | None = None
    none_match: list[Named] | None = field(default_factory=list)
    # An If-Match was sent, `*` included: the resource must have a current version (RFC 9110 §13.1.1: `*` is false
    # where there is none), so a write that could create it (an override's PUT, a restore) creates nothing: 412.
    current: bool = False

    def accepts(self, version: int, epoch: int) -> bool:
        return self.match is None or Named(version, epoch) in self.match

    def refuses(self, version: int, epoch: int) -> bool:
        return self.none_match is None or Named(version, epoch) in self.none_match

    def params(self) -> dict[str, list[int] | None]:
        """The write's SQL parameters: the (version, epoch) pairs each header names, as `key`s."""
        return {"versions": None if self.match is None else [tag.key() for tag in self.match],
                "refused": None if self.none_match is None else [tag.key() for tag in self.none_match]}


UNCONDITIONAL = Preconditions()
