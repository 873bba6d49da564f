"""The HTTP protocol the service is served with: uvicorn's httptools protocol, whose answer leaves in one write.

uvicorn writes an answer's status line and headers when the app starts it, and its body with a write of its own:
two system calls per answer, and two TCP segments where one would do (on 127.0.0.1 joining them gave 1-5% more
GETs a second, about the noise of one run; on a network it halves the packets of a small answer). Here the
connection's transport holds back a response's head (a status line and headers, not a `100 Continue`) until the
next write, which it joins, or the end of the event loop's turn, whichever comes first: a whole answer whose body
follows at once (every answer the service makes) leaves in one write, and the head of an answer whose body comes
later (a stream) leaves when the turn ends, as it would have. The bytes on the wire are the same.

The service speaks no protocol but HTTP/1.1, so it ignores a request's `Upgrade` (RFC 9110 section 7.8) and answers
the request itself, body and all, then closes the connection: uvicorn would hand a WebSocket handshake to a library
the service has no route for, and its parser reads a request that asks to upgrade as having no body (its bytes taken
for the new protocol's), so `curl --http2 -d ...`, which asks for h2c, had its body dropped. And bytes that are not
HTTP/1.1 are answered as every error is, an `application/problem+json` 400, not uvicorn's text, after the answers
of the requests before them on the connection (uvicorn's 400 took the place of the first one not yet answered); a
transfer coding other than chunked, which uvicorn's parser takes, the same way with a 501. An answer begun before
the whole body of its request came closes the connection after it, where uvicorn read on.

It also lets an answer be written whole, below the ASGI layers (`write_whole`): the fast path's answers
(`live/fastpath.py`; for the held requests one change answers, their leader writes each in one call) carry the headers
the layers above would add (`answer_headers`), instead of passing two messages through each of them and through
uvicorn's `send`. The bytes are the ones uvicorn
would write; the request's cycle ends as uvicorn's `send` ends it (keep-alive, the next request, the timeout).
"""

import asyncio
import json
import random
import select
import weakref
from collections.abc import Iterable
from typing import Any

from starlette.types import Scope
import httptools
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE, HttpToolsProtocol

from wire import problems

CONTINUE = b"HTTP/1.1 100 "
JOINED_MAX = 65536  # the largest body joined to its head
WHOLE = "config_service.whole"  # the scope's extension naming the request's cycle (`write_whole`)


class HeadWithBody:
    """A transport's proxy that joins a response's head to the write after it (see the module)."""

    __slots__ = ("_transport", "_head", "_loop")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._loop = loop

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) > JOINED_MAX:  # not copied to save a write: it takes many segments anyway
                self._transport.write(head)
                self._transport.write(data)
            else:
                self._transport.write(head + data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n") and not data.startswith(CONTINUE):
            self._head = data
            self._loop.call_soon(self.flush)  # the body comes later than this turn: the head goes now
        else:
            self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _problem(slug: str, title: str, status: int, detail: str) -> bytes:
    """A problem the protocol answers itself, below every route, as compact JSON."""
    return json.dumps({"type": problems.TYPE_BASE + slug, "title": title, "status": status, "detail": detail},
                      separators=(",", ":")).encode()


NOT_HTTP = _problem(problems.BadRequest.slug, problems.BadRequest.title, 400, "The request is not valid HTTP/1.1.")
NOT_IMPLEMENTED = _problem("not-implemented", "Not Implemented", 501,
                           "The request's Transfer-Encoding names a coding the service does not decode: send the body "
                           "chunked only, or with a Content-Length.")
FRAMING = (b"content-length", b"transfer-encoding")  # the headers that say where a request's body ends



# The bounds of a request's head, which the parser would otherwise take whole however large, and wait for however
# long (a client sending a header line a second held its connection open for good; one of 20 MB was read into
# memory): its request-target (414, RFC 9112 §3), its request line and header fields together and their number
# (431, RFC 6585 §5), and the time from the end of its first read to its end (408). A connection that sends nothing
# is closed after the keep-alive timeout, as an idle one between requests is.
MAX_TARGET_BYTES = 16_384
MAX_HEAD_BYTES = 65_536
MAX_HEADER_FIELDS = 256
HEAD_SECONDS = 10.0
URI_TOO_LONG = _problem("uri-too-long", "URI Too Long", 414,
                        f"The request-target is longer than {MAX_TARGET_BYTES:,} bytes.")
HEAD_TOO_LARGE = _problem("header-fields-too-large", "Request Header Fields Too Large", 431,
                          f"The request's head is longer than {MAX_HEAD_BYTES:,} bytes, or has more than "
                          f"{MAX_HEADER_FIELDS} header fields.")
VERSION_NOT_SUPPORTED = _problem("http-version-not-supported", "HTTP Version Not Supported", 505,
                                 "The service speaks HTTP/1.1 (and answers HTTP/1.0).")
HEAD_TOO_SLOW = _problem("request-timeout", "Request Timeout", 408,
                         f"The request's head did not arrive within {HEAD_SECONDS:g} seconds.")


# The refusals of a head, after which the client may still be sending it: the connection lingers that long, reading
# and dropping what comes, so that the answer is not lost to a reset (`send_400_response`).
LINGERING = (408, 414, 431)
LINGER_SECONDS = 2.0


HANGUP_SECONDS = 1.0  # how often a connection whose reading is paused is looked at for a client gone
RDHUP = getattr(select, "POLLRDHUP", 0)  # (Linux's: the peer closed its side)


def hung_up(sock: Any) -> bool:
    """Whether the peer of `sock` has closed its side or reset the connection (POLLRDHUP, POLLHUP, POLLERR), without
    reading what it sent before."""
    try:
        poller = select.poll()
        poller.register(sock.fileno(), RDHUP)
        return any(events & (RDHUP | select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False  # no socket to look at (closed meanwhile, or not one): its own end says so


class HeadRefused(Exception):
    """The request's head is past a bound (`MAX_TARGET_BYTES`, `MAX_HEAD_BYTES`, `MAX_HEADER_FIELDS`)."""


class UnknownTransferCoding(Exception):
    """A request's body is sent with a transfer coding other than chunked (RFC 9112 §6.1: 501)."""


_server_state: Any = None  # uvicorn's (of the server this process runs): its open connections, and `closing`


def stop_keeping_alive() -> None:
    """The shutdown has begun: every answer from now on says `Connection: close` and closes its connection, those
    of requests already under way (held ones, answered at once by `Waiters.close`) included. Else a client whose held
    request was answered 304 asked again on the same connection, was answered at once again (its hold ending as the
    shutdown has begun), and so on: some 40 times a watcher in 85 ms in a trial, until uvicorn's own shutdown
    reached its connection. Said on the server's state (`closing`), which is the server's alone."""
    if _server_state is None:
        return
    _server_state.closing = True
    for connection in list(_server_state.connections):
        cycles = [queued for queued, _ in getattr(connection, "pipeline", ())]
        for cycle in (getattr(connection, "cycle", None), getattr(connection, "_running", None), *cycles):
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `HeadWithBody` transport (`uvicorn.run(http=Protocol)`), which upgrades to
    nothing and answers what it cannot parse with a problem (see the module)."""

    _refused = False  # what came after the requests under way is not HTTP: a 400 once they are answered
    _refusal = (400, NOT_HTTP)  # the answer `send_400_response` writes: 501 for a transfer coding not known, ...
    _before: Any = None  # the request before the last one on the connection (its cycle)
    _in_head = False  # a request's head has begun and not ended
    _began = False  # a head began in the read being parsed (its share of that read's bytes is not known)
    _head_read = 0  # the bytes of the head read in the reads after the one it began in (at most one read short)
    _head_fields = 0  # the bytes of its request-target and header fields parsed
    _head_timer: asyncio.TimerHandle | None = None
    _linger: asyncio.TimerHandle | None = None
    _running: Any = None  # the cycle of the request whose app runs (uvicorn's `cycle` is the last one parsed)
    _hangup: asyncio.TimerHandle | None = None  # while reading is paused: the next look for a client gone

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        global _server_state
        _server_state = self.server_state
        super().connection_made(HeadWithBody(transport, self.loop))  # type: ignore[arg-type]
        # Nothing sent yet: closed after the keep-alive timeout, as a connection idle between requests is.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_ended()
        for timer in (self._linger, self._hangup):
            if timer is not None:
                timer.cancel()
        self._linger = self._hangup = None
        # uvicorn tells the last request parsed that its client has gone; a request behind which others were
        # pipelined (a held one) is told too, and those queued behind it: else it held its slot for all of its wait,
        # and then wrote its answer to the closed transport (uvloop's RuntimeError, logged as unhandled).
        for cycle in (self._running, *(queued for queued, _ in self.pipeline)):
            if cycle is not None and cycle is not self.cycle and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def _watch_hangup(self) -> None:
        """Reading is paused (a request pipelined behind one under way, or bytes that are not HTTP behind it), so
        the end of the connection is not read: a client that closes it, or resets it, would hold a held request's
        slot (and its socket, in CLOSE-WAIT) until its wait ended. Look for it every HANGUP_SECONDS meanwhile. A
        client that half-closes after pipelining (`shutdown(SHUT_WR)`) is taken as gone, as uvicorn takes one that
        half-closes after a single request (its `eof_received` closes). POLLRDHUP is Linux's: elsewhere only a reset
        (POLLHUP, POLLERR) is seen."""
        if self._hangup is None and self.flow.read_paused and not self.transport.is_closing():
            self._hangup = self.loop.call_later(HANGUP_SECONDS, self._look_for_hangup)

    def _look_for_hangup(self) -> None:
        self._hangup = None
        if self.transport.is_closing() or not self.flow.read_paused:
            return
        if hung_up(self.transport.get_extra_info("socket")):
            self.transport.close()  # (connection_lost: every request of the connection is told its client has gone)
        else:
            self._watch_hangup()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._began, self._head_read, self._head_fields = True, True, 0, 0

    def on_url(self, url: bytes) -> None:
        self.url += url  # (uvicorn's, and the bound)
        if len(self.url) > MAX_TARGET_BYTES:
            self._refusal = (414, URI_TOO_LONG)
            raise HeadRefused()
        self._head_fields += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()  # (uvicorn's, and the bounds)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))
        self._head_fields += len(name) + len(value) + 4
        if self._head_fields > MAX_HEAD_BYTES or len(self.headers) > MAX_HEADER_FIELDS:
            self._refusal = (431, HEAD_TOO_LARGE)
            raise HeadRefused()

    def _head_ended(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._in_head or self._refused or self.transport.is_closing():
            return
        if not self._idle():
            # Requests before it are still answered, and uvicorn may have stopped reading meanwhile: the client is
            # not the one holding up its head. Timed again (and anew once they are answered).
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)
            return
        self._refusal = (408, HEAD_TOO_SLOW)
        self._refuse()

    def _idle(self) -> bool:
        """No request of the connection's is under way or waiting its turn."""
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _should_upgrade(self) -> bool:
        return False  # no WebSocket, no h2c: the request is answered as HTTP/1.1

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._refused:
            return
        view = memoryview(data)
        self._began = False
        try:
            while True:
                try:
                    self.parser.feed_data(view)
                    break
                except httptools.HttpParserUpgrade as upgrade:  # parsed up to the request's body, which it is not
                    view = view[upgrade.args[0]:]
                    self._expect_body()
        except httptools.HttpParserError:
            self._refuse()
            return
        if self.flow.read_paused:
            self._watch_hangup()
        if self._in_head:  # a head that did not end in this read
            if not self._began:  # it began in an earlier read, so all of this one is its: a header field longer
                self._head_read += len(data)  # than the bound is refused while it comes
                if self._head_read > MAX_HEAD_BYTES:
                    self._refusal = (431, HEAD_TOO_LARGE)
                    self._refuse()
                    return
            if self._head_timer is None:  # (a head read whole, as nearly all are, costs no timer)
                self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)
        elif self.timeout_keep_alive_task is None and self._idle() and not self.transport.is_closing():
            # Bytes that began no request (a CRLF between requests, which the parser skips): idle still, and closed
            # after the keep-alive timeout as an idle connection is.
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)

    def _refuse(self) -> None:
        """Answer what cannot be served as a request (`_refusal`) and close: now, or once the requests before it on
        the connection are answered."""
        self._head_ended()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self.pipeline and self.pipeline[0][0] is cycle:
            # A request waiting its turn whose body is what is not HTTP: it never runs, and the 400 is its answer,
            # after those before it (the connection's state as if it had not come).
            self.pipeline.popleft()
            self.cycle = cycle = self._before
        if cycle is None or cycle.response_complete or cycle.more_body:
            self.send_400_response("")  # nothing before it is left to answer, or its own body is broken
        else:
            # The bad bytes follow whole requests not answered yet: a 400 now would be taken for their answer.
            self._refused = True
            self.flow.pause_reading()
            self._watch_hangup()

    def on_response_complete(self) -> None:
        last = not self.pipeline  # the request answered was the last one before what is not HTTP
        super().on_response_complete()
        if self._in_head and self._head_timer is not None and self._idle():
            # The requests before a head that has begun are answered, and reading goes on: its time starts anew.
            self._head_timer.cancel()
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)
        if self._refused and last and not self.transport.is_closing():
            self.send_400_response("")

    def _expect_body(self) -> None:
        """After a request that asked to upgrade, the parser takes what follows for the new protocol's bytes. The
        request's body is read by a parser of its own, whose callbacks are the body's and its end's only, given a
        head with only the request's framing headers first: it reads the body into the request's cycle. Nothing
        after it is read, and the connection is closed after its answer: a front end that tunnels what follows an
        `Upgrade` without waiting for a 101 passes no request by. A CONNECT has no body (RFC 9110 §9.3.6)."""
        cycle = self.cycle
        cycle.keep_alive = False
        framing = [] if cycle.scope["method"] == "CONNECT" else [
            (name, value) for name, value in self.headers if name in FRAMING]
        if framing:
            cycle.more_body = True
        self.parser = httptools.HttpRequestParser(BodyOnly(self))
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's: what follows is ignored
        lines = (name + b": " + value + b"\r\n" for name, value in framing)
        self.parser.feed_data(b"".join([b"POST / HTTP/1.1\r\n", *lines, b"connection: close\r\n\r\n"]))

    def send_400_response(self, msg: str) -> None:
        """What cannot be parsed as a request is answered as a problem (400; 501 for a transfer coding not known;
        414, 431, 408 for a head past its bounds), and the connection closed after it. Its request id is logged with
        it, as every answer's is, and the address of the peer that sent it (no proxy's header is read here)."""
        request_id = f"{random.getrandbits(64):016x}"  # as middleware/request_id.py makes one
        status, body = self._refusal
        self.logger.warning("Invalid HTTP request received.", extra={
            "request_id": request_id, "status": status, "client": self.client[0] if self.client else None})
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (b"content-type: ", problems.MEDIA_TYPE.encode(), b"\r\ncontent-length: ", str(len(body)).encode(),
                 b"\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\nx-request-id: ",
                 request_id.encode(), b"\r\nconnection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        if status in LINGERING and self.transport.can_write_eof():
            # The client may still be sending the head (or the request after it): closing now, with its bytes
            # unread, would reset the connection, and the answer could be lost before it reads it. The connection
            # is closed for writing, what comes is read and dropped, and it is closed when the client closes it, or
            # after LINGER_SECONDS.
            self._refused = True
            self.flow.resume_reading()
            self.transport.write_eof()
            self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._head_ended()
        if not self.parser.get_http_version().startswith("1."):  # `HTTP/2.0` in an HTTP/1 request line
            self._refusal = (505, VERSION_NOT_SUPPORTED)
            raise HeadRefused()
        body = False  # whether the request says it has one
        for name, value in self.headers:
            if name == b"transfer-encoding":
                # llhttp takes `gzip, chunked` and hands on the gzip's bytes as the body; the service decodes none.
                if any(coding.strip().lower() not in (b"chunked", b"") for coding in value.split(b",")):
                    self._refusal = (501, NOT_IMPLEMENTED)
                    raise UnknownTransferCoding(value)
                body = True
            elif name == b"content-length" and value.strip() != b"0":
                body = True
        self._before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and getattr(self.server_state, "closing", False):
            cycle.keep_alive = False  # (`stop_keeping_alive`)
        if cycle is not None and cycle.scope is self.scope:
            # A weak reference: the cycle holds the scope, and a scope holding its cycle would make every request a
            # reference cycle, freed only by the cyclic collector (its passes showed as the writes' tail latency).
            self.scope.setdefault("extensions", {})[WHOLE] = weakref.ref(cycle)
            if body:
                cycle.send = _closing_unless_read(weakref.ref(cycle))  # type: ignore[method-assign]


class BodyOnly:
    """The callbacks of the parser `Protocol._expect_body` makes: a body and its end, for the request's cycle."""

    __slots__ = ("on_body", "on_message_complete")

    def __init__(self, protocol: Protocol) -> None:
        self.on_body, self.on_message_complete = protocol.on_body, protocol.on_message_complete


def _closing_unless_read(ref: "weakref.ref[Any]") -> Any:
    """The `send` of a request with a body: an answer begun before the whole body came (a 401, a 413, a 415, given
    before it is read, or before the `100 Continue` a client awaits) closes the connection after it. The client may
    then leave the rest unsent (RFC 9110 §10.1.1), and uvicorn, which kept the connection, took its next request
    for that body, or read on an endless one."""
    async def send(message: Any) -> None:
        cycle = ref()
        if message["type"] == "http.response.start" and cycle.more_body:
            cycle.keep_alive = False
        await type(cycle).send(cycle, message)
    return send


def answer_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers the layers above add to every answer of this request, in the order they add them (the innermost
    first): each layer that adds some records them here as it lets the request in (`record_headers`)."""
    return scope.setdefault("state", {}).setdefault("answer_headers", [])


def _cycle_of(scope: Scope) -> Any:
    """The request's cycle (uvicorn's `RequestResponseCycle`), or None: not served by `Protocol`, or done."""
    cycle = scope.get("extensions", {}).get(WHOLE)
    return cycle() if cycle is not None else None


def body_arrived(scope: Scope) -> bool:
    """Whether the request's body has all arrived (its cycle's message is complete), so that reading it waits for
    nothing; False when not known (not served by `Protocol`)."""
    cycle = _cycle_of(scope)
    return cycle is not None and not cycle.more_body


def record_headers(scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """A layer adds `headers` to every answer of this request: recorded for the answers written whole."""
    answer_headers(scope)[0:0] = headers


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """`headers` as uvicorn writes them (names in lower case), or None when its `send` would refuse one of them.
    Its checks are each a class of characters (`HEADER_RE`, `HEADER_VALUE_RE`), so each is made once, over all the
    names or all the values joined: two searches, not two a header (six headers: 2.2 µs against 2.9 in a tight
    loop)."""
    if type(headers) is not list and type(headers) is not tuple:
        headers = list(headers)
    if HEADER_RE.search(b"".join([name for name, _ in headers])) \
            or HEADER_VALUE_RE.search(b"".join([value for _, value in headers])):
        return None
    return b"".join([b"%s: %s\r\n" % (name.lower(), value) for name, value in headers])


_defaults: tuple[list[tuple[bytes, bytes]] | None, bytes | None] = (None, None)


def _default_lines(defaults: list[tuple[bytes, bytes]]) -> bytes | None:
    """uvicorn's default headers (its `date`, one list a second, shared by every request that arrived in it)."""
    global _defaults
    if _defaults[0] is not defaults:
        _defaults = (defaults, header_lines(defaults))
    return _defaults[1]


def write_whole(scope: Scope, status: int, lines: bytes, body: bytes, added: bytes | None = None) -> bool:
    """Write a whole answer at once, below the ASGI layers: its header `lines` (`header_lines`, which name its
    content-length), then those the layers above add (`answer_headers`), then `body`, on the request's connection,
    as uvicorn's `send` would. False, with nothing written, when it cannot be: not served by `Protocol`, a request
    whose key is not confirmed yet (`scope["state"]["unconfirmed"]`: await it first, as `Authenticate` does before
    it lets an answer out), a HEAD (its body goes), a request whose body is not all read (its answer closes the
    connection: `_closing_unless_read`), the answer begun or the client gone, a connection to close after it, a
    transport not taking writes now (the ordinary `send` waits for it), a header uvicorn refuses. The
    status is recorded for the request's log line (`scope["state"]["status"]`). `added`: the layers' header lines,
    when rendered before (`header_lines(answer_headers(scope))`, which the layers do not change once they let the
    request in)."""
    cycle = _cycle_of(scope)
    if cycle is None or "unconfirmed" in scope["state"] or cycle.response_started or cycle.disconnected \
            or not cycle.keep_alive or cycle.flow.write_paused or cycle.scope["method"] == "HEAD" \
            or cycle.more_body:
        return False
    defaults = _default_lines(cycle.default_headers)
    if added is None:
        added = header_lines(answer_headers(scope))
    if defaults is None or added is None:
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.transport.write(b"".join((STATUS_LINE[status], defaults, lines, added, b"\r\n", body)))
    cycle.response_complete = True
    cycle.message_event.set()
    scope["state"]["status"] = status
    cycle.on_response()
    return True
