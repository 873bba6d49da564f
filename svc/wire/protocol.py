"""The HTTP protocol the service is served with: uvicorn's httptools protocol, whose answer leaves in one write.

uvicorn writes an answer's status line and headers when the app starts it, and its body with a write of its own:
two system calls per answer, and two TCP segments where one would do (on 127.0.0.1 joining them gave 1-5% more
GETs a second, about the noise of one run; on a network it halves the packets of a small answer). Here the
connection's transport holds back a response's head (a status line and headers, not a `100 Continue`) until the
next write, which it joins, or the end of the event loop's turn, whichever comes first: a whole answer whose body
follows at once (every answer the service makes) leaves in one write, and the head of an answer whose body comes
later (a stream) leaves when the turn ends, as it would have. The bytes on the wire are the same.

It also lets an answer be written whole, below the ASGI layers (`write_whole`): the fast path's answers
(`live/fastpath.py`; for the held requests one change answers, their leader writes each in one call) carry the headers
the layers above would add (`answer_headers`), instead of passing two messages through each of them and through
uvicorn's `send`. The bytes are the ones uvicorn
would write; the request's cycle ends as uvicorn's `send` ends it (keep-alive, the next request, the timeout).
"""

import asyncio
import weakref
from collections.abc import Iterable
from typing import Any

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE, HttpToolsProtocol

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


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `HeadWithBody` transport (`uvicorn.run(http=Protocol)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadWithBody(transport, self.loop))  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:
            # A weak reference: the cycle holds the scope, and a scope holding its cycle would make every request a
            # reference cycle, freed only by the cyclic collector (its passes showed as the writes' tail latency).
            self.scope.setdefault("extensions", {})[WHOLE] = weakref.ref(cycle)


def answer_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers the layers above add to every answer of this request, in the order they add them (the innermost
    first): each layer that adds some records them here as it lets the request in (`record_headers`)."""
    return scope.setdefault("state", {}).setdefault("answer_headers", [])


def record_headers(scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """A layer adds `headers` to every answer of this request: recorded for the answers written whole."""
    answer_headers(scope)[0:0] = headers


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """`headers` as uvicorn writes them (names in lower case), or None when its `send` would refuse one of them."""
    content = []
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            return None
        content += (name.lower(), b": ", value, b"\r\n")
    return b"".join(content)


_defaults: tuple[list[tuple[bytes, bytes]] | None, bytes | None] = (None, None)


def _default_lines(defaults: list[tuple[bytes, bytes]]) -> bytes | None:
    """uvicorn's default headers (its `date`, one list a second, shared by every request that arrived in it)."""
    global _defaults
    if _defaults[0] is not defaults:
        _defaults = (defaults, header_lines(defaults))
    return _defaults[1]


def write_whole(scope: Scope, status: int, lines: bytes, body: bytes, added: bytes | None = None) -> bool:
    """Write a whole answer to a GET at once, below the ASGI layers: its header `lines` (`header_lines`, which name
    its content-length), then those the layers above add (`answer_headers`), then `body`, on the request's
    connection, as uvicorn's `send` would. False, with nothing written, when it cannot be: not served by `Protocol`,
    a request whose key is not confirmed yet (`scope["state"]["unconfirmed"]`: await it first, as `Authenticate`
    does before it lets an answer out), a HEAD (its body goes), the answer begun or the client gone, a connection to
    close after it, a transport not taking writes now (the ordinary `send` waits for it), a header uvicorn refuses. The
    status is recorded for the request's log line (`scope["state"]["status"]`). `added`: the layers' header lines,
    when rendered before (`header_lines(answer_headers(scope))`, which the layers do not change once they let the
    request in)."""
    cycle = scope.get("extensions", {}).get(WHOLE)
    cycle = cycle() if cycle is not None else None
    if cycle is None or "unconfirmed" in scope["state"] or cycle.response_started or cycle.disconnected \
            or not cycle.keep_alive or cycle.flow.write_paused or cycle.scope["method"] != "GET":
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
