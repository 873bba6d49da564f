"""The reads every client polls or holds, answered below the router: `GET /api/v1/configurations/{id}` without a query
or with `wait=<seconds>`, and `GET /api/v1/configurations/{id}/effective?environment_id=<id>`, optionally followed by
`&wait=<seconds>`; and the read of one configuration's past, `GET /api/v1/configurations/{id}/snapshot` with
`seq=<position>` or `at=<time>`, whose database read costs little more than the framework's work around it; and an
application's change feed, `GET /api/v1/applications/{id}/changes` with any of `after`, `epoch`, `limit` and `wait`,
which followers hold.

Each is the same read as its route's (`reads.configuration`, `reads.effective_configuration`: the worker's read
cache, after a sync round; `reads.configuration_snapshot`: the database; `reads.Feed`: the database, one read of a
page for the requests that ask for it at once), held as the route holds it (`reads.hold`, `Feed.hold`), sent as the
same ASGI messages, but without what the framework does around a route: matching every
route's pattern, building a Request, validating the parameters through pydantic, solving the handler's signature,
the exception middleware. For 1,000 requests held on one configuration, that is most of what answering each costs
once it changed (1,000 held on one application's feed: 356-482 ms at p99 from the write's answer to theirs through
the route, each reading the page for itself; 24-30 ms here, the page read once and every answer written by the
leader). Anything else goes on to the app:
other paths, any other query string (a `wait` out of 1..300 or written otherwise, which the route refuses), and
every error before the hold (the route answers it again, as a problem); an error of a held request's check (the
configuration deleted, the key revoked) is answered here, as the route answers it.
It sits under the middleware that authenticates, and checks the request's key as the route does (`scopes.py`):
what the key may not see goes on to the route, which answers it as something that does not exist.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from live import access, keys, reads, scopes
from live.readcache import Entry
from middleware.body import refusal as body_refusal
from wire import etags, headers, problems, protocol
from wire.problems import ProblemError

log = logging.getLogger("config_service")

JSON = (b"content-type", b"application/json")
ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
ENVIRONMENT = re.compile(rf"environment_id=({ULID})(?:&wait=([1-9][0-9]{{0,2}}))?".encode())
WAIT = re.compile(rb"wait=([1-9][0-9]{0,2})")
MAX_WAIT = 300  # the contract's bound on `wait`
# A point of the past, written as the route reads it without decoding: a position without leading zeros, or a time
# of the characters an RFC 3339 date-time with `Z` or a negative offset has (`+` or `%` goes to the route).
POINT = re.compile(rb"seq=(0|[1-9][0-9]{0,18})|at=([0-9TtZz:.-]{1,64})")
MAX_SEQ = 2**63 - 1  # the contract's bound on `seq`
# The change feed's query, each parameter at most once, in any order, its value written as the route reads it
# without decoding (digits, no leading zero), within the contract's bounds; anything else goes to the route.
FEED = {b"after": (re.compile(rb"0|[1-9][0-9]{0,18}"), MAX_SEQ), b"epoch": (re.compile(rb"[1-9][0-9]{0,9}"), 2**32 - 1),
        b"limit": (re.compile(rb"[1-9][0-9]{0,2}"), 500), b"wait": (re.compile(rb"[1-9][0-9]{0,2}"), MAX_WAIT)}


class CachedReads:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.path = re.compile(re.escape(prefix) + rf"/configurations/({ULID})(/effective)?")
        self.past = re.compile(re.escape(prefix) + rf"/configurations/({ULID})/snapshot")
        self.changes = re.compile(re.escape(prefix) + rf"/applications/({ULID})/changes")

    def _read(self, scope: Scope) -> tuple[Callable[[], Awaitable[Entry]], tuple[str, ...], int | None] | None:
        """The read that answers this request, if it is one of the two: it, the keys whose notifications change
        it, and how long the request may be held (None: not)."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        match = self.path.fullmatch(scope["path"])
        if match is None:
            return None
        state, id = scope["app"].state, match.group(1)
        if match.group(2) is None:
            wait = None
            if scope["query_string"]:
                held = WAIT.fullmatch(scope["query_string"])
                if held is None or (wait := int(held.group(1))) > MAX_WAIT:
                    return None

            async def configuration() -> Entry:
                principal = access.of(scope)
                if principal is not None and "read" not in principal.actions:
                    raise access.hidden(access.NO_CONFIGURATION)  # (as the route's gate: before any read)
                if scopes.hidden(state, principal, id):
                    await scopes.as_missing(state, id, owner=False)  # (as long as a missing one's 404)
                    raise access.hidden(access.NO_CONFIGURATION)
                entry = await reads.configuration(state, id)
                if principal is not None and not principal.sees_application(entry.application):
                    raise access.hidden(access.NO_CONFIGURATION)  # the same gate as the route's, on what it read
                return entry
            return configuration, (keys.configuration(id),), wait
        query = ENVIRONMENT.fullmatch(scope["query_string"])
        if query is None:
            return None
        wait = None if query.group(2) is None else int(query.group(2))
        if wait is not None and wait > MAX_WAIT:
            return None
        environment_id = query.group(1).decode()

        async def effective() -> Entry:
            await scopes.in_environments(state, scope, id, environment_id)
            return await reads.effective_configuration(state, id, environment_id)
        return effective, (keys.views(id), keys.ENVIRONMENTS), wait

    def _snapshot(self, scope: Scope) -> Callable[[], Awaitable[bytes]] | None:
        """The read of a configuration's past that answers this request, if it is one."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        match = self.past.fullmatch(scope["path"])
        point = POINT.fullmatch(scope["query_string"]) if match is not None else None
        if point is None:
            return None
        seq, at = point.group(1), point.group(2)
        if seq is not None and int(seq) > MAX_SEQ:
            return None
        return lambda: reads.configuration_snapshot(scope["app"].state, scope, match.group(1),
                                                    None if seq is None else int(seq),
                                                    None if at is None else at.decode())

    def _feed(self, scope: Scope) -> tuple[reads.Feed, int | None] | None:
        """The read of an application's change feed that answers this request, if it is one, and how long it may
        be held (None: not)."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        match = self.changes.fullmatch(scope["path"])
        if match is None:
            return None
        query: dict[bytes, int] = {}
        for part in scope["query_string"].split(b"&") if scope["query_string"] else ():
            name, _, value = part.partition(b"=")
            known = FEED.get(name)
            if known is None or name in query or not known[0].fullmatch(value) or int(value) > known[1]:
                return None
            query[name] = int(value)
        id = match.group(1)
        return reads.Feed(scope["app"].state, scope, id, query.get(b"after", 0), query.get(b"epoch"),
                          query.get(b"limit", 50), lambda: scopes.application(scope, id)), query.get(b"wait")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._read(scope)
        if found is None:
            feed = self._feed(scope)
            if feed is not None:
                await self._changes(scope, receive, send, *feed)
                return
            past = self._snapshot(scope)
            if past is None:
                await self.app(scope, receive, send)
                return
            try:
                body = await past()
            except ProblemError:
                await self.app(scope, receive, send)  # 404, 422, 503: the route answers them, as problems
                return
            if not await _whole_body(scope, body):
                await _send(send, 200, None, body)
            return
        read, watched, wait = found
        try:
            entry = await read()
        except ProblemError:
            await self.app(scope, receive, send)  # 404, 503: the route answers them, as problems
            return
        held = etags.header(scope, b"if-none-match")
        if not etags.none_match(held, entry.etag):
            if not await _whole(scope, entry):
                await _send(send, 200, entry.etag, entry.body, entry.age)
            return
        etag, age = entry.etag, entry.age
        if wait is not None:
            outcome = await _held(scope, receive, send, lambda deliver: reads.hold(
                scope["app"].state, scope, receive, watched, read, held, wait, entry, deliver), _write)
            if outcome is None:  # answered (by the leader, with every other one the same notification woke)
                return
            changed, etag, age = outcome
            if changed is not None:
                if not await _whole(scope, changed):
                    await _send(send, 200, changed.etag, changed.body, changed.age)
                # The answer is written; what is left (the layers above it returning, the log line) waits its turn,
                # so that every request the same notification woke is answered before any of them finishes.
                await asyncio.sleep(0)
                return
        await _send(send, 304, etag, b"", age)

    async def _changes(self, scope: Scope, receive: Receive, send: Send, feed: reads.Feed, wait: int | None) -> None:
        """The change feed after a position (`reads.Feed`), held while it has nothing new, as the route answers it."""
        try:
            body = await feed.first()
        except ProblemError:
            await self.app(scope, receive, send)  # 404, 410, 503: the route answers them, as problems
            return
        held = body is None and wait is not None
        if held:
            body = await _held(scope, receive, send, lambda deliver: feed.hold(wait, receive, deliver), _write_body)
            if body is None:  # answered (by the leader, with every other one the same notification woke)
                return
        body = body if body is not None else feed.empty()
        if not await _whole_body(scope, body):
            await _send(send, 200, None, body)
        if held:
            await asyncio.sleep(0)  # (as a held configuration's: the others one notification woke are answered first)


async def _held[T, A](scope: Scope, receive: Receive, send: Send,
                      hold: Callable[[Callable[[A], bool] | None], Awaitable[T]],
                      write: Callable[[Scope, A, bytes], bool]) -> T | None:
    """What `hold(deliver)` returns, or None once the request is answered here: by `deliver` (a held request's
    answer written at once by whichever task has it, with `write`), or as the route answers an error of a check
    (deleted, revoked, out of the key's scope now), or not at all (a key whose rights changed before it was
    confirmed: `Authenticate` runs the request again)."""
    # A key not confirmed yet is confirmed before the hold, not at the answer, so that the leader may write it
    # (`protocol.write_whole` writes none unconfirmed).
    if not await _confirmed(scope):
        return None
    written, deliver = False, None
    if headers.first(scope, b"origin") is None:  # (else CORS adds headers: written as a route's answer)
        added = protocol.header_lines(protocol.answer_headers(scope))  # rendered now, not while 999 wait

        def deliver(answer: A) -> bool:
            """Write the answer now, from the task that has it (the leader of the requests held alike); once only (a
            request leading its own followers may have been a follower, and answered, just before)."""
            nonlocal written
            written = written or write(scope, answer, added)
            return written
    try:
        outcome = await hold(deliver)
    except ProblemError as error:  # as the route answers
        if not written:
            await error.response(scope["path"])(scope, receive, send)
        problems.forget(error)  # (raised from a fetch others shared, its traceback holds this frame: a cycle)
        return None
    except Exception as error:
        if not written:
            # A body sent with the GET, too large or too slow while it was held: as a route answers it (the hold
            # reads it, watching for the client's going). Anything else is a 500.
            refused = body_refusal(error)
            if refused is None:
                raise
            problems.forget(error)
            await refused.response(scope["path"])(scope, receive, send)
            return None
        # Answered already: what failed after (a body past its limits, say) is this worker's to know only.
        log.warning("a held request failed after its answer was written", exc_info=True)
        return None
    return None if written else outcome


async def _whole(scope: Scope, entry: Entry) -> bool:
    """Write an answer whole, below the layers (`protocol.write_whole`): one call instead of two messages through
    each layer above and uvicorn's `send` (for each of the 1,000 held requests one change answers, and every GET).
    Not a request with an `Origin` (CORS adds headers to its answer); a key not confirmed yet is confirmed first."""
    if headers.first(scope, b"origin") is not None:
        return False
    if not await _confirmed(scope):
        return False  # sent instead, it goes nowhere: `Authenticate` runs the request again
    return _write(scope, entry)


async def _confirmed(scope: Scope) -> bool:
    """Whether the request's key is confirmed (`Authenticate`'s `unconfirmed`, awaited once), or needs none."""
    unconfirmed = scope.get("state", {}).get("unconfirmed")
    return unconfirmed is None or await unconfirmed()


def _write(scope: Scope, entry: Entry, added: bytes | None = None) -> bool:
    """`_whole` without waiting, for a request without an `Origin`: False for a key not confirmed yet. `added`: the
    layers' header lines, if rendered already (`protocol.write_whole`)."""
    lines = entry.lines
    if lines is None:  # rendered once, for every request it answers
        lines = entry.lines = protocol.header_lines([(b"etag", entry.etag.encode("latin-1")),
                                                     (b"content-length", str(len(entry.body)).encode()), JSON]
                                                    + _aged(entry.age))
    return lines is not None and protocol.write_whole(scope, 200, lines, entry.body, added)


def _write_body(scope: Scope, body: bytes, added: bytes | None = None) -> bool:
    """`_write` of an answer without an ETag (a page of the change feed)."""
    lines = protocol.header_lines([(b"content-length", str(len(body)).encode()), JSON])
    return lines is not None and protocol.write_whole(scope, 200, lines, body, added)


async def _whole_body(scope: Scope, body: bytes) -> bool:
    """An answer without an ETag written whole, below the layers, as `_whole` writes a GET's: a read of the past (read
    from the database each time), a page of the change feed; their header lines are rendered for each answer."""
    if headers.first(scope, b"origin") is not None or not await _confirmed(scope):
        return False
    return _write_body(scope, body)


def _aged(age: int | None) -> list[tuple[bytes, bytes]]:
    """A stale answer's `Age` header (`ReadCache.stale`); none for a current one."""
    return [] if age is None else [(b"age", str(age).encode())]


async def _send(send: Send, status: int, etag: str | None, body: bytes, age: int | None = None) -> None:
    headers = ([] if etag is None else [(b"etag", etag.encode("latin-1"))]) + _aged(age)
    if status == 200:
        headers += [(b"content-length", str(len(body)).encode()), JSON]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
