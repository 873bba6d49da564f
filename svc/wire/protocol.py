"""The HTTP protocol the service is served with: uvicorn's httptools protocol, whose answer leaves in one write.

uvicorn writes an answer's status line and headers when the app starts it, and its body with a write of its own:
two system calls per answer, and two TCP segments where one would do (on 127.0.0.1 joining them gave 1-5% more
GETs a second, about the noise of one run; on a network it halves the packets of a small answer). Here the
connection's transport holds back a response's head (a status line and headers, not a `100 Continue`) until the
next write, which it joins, or the end of the event loop's turn, whichever comes first: a whole answer whose body
follows at once (every answer the service makes) leaves in one write, and the head of an answer whose body comes
later (a stream) leaves when the turn ends, as it would have. The bytes on the wire are the same.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CONTINUE = b"HTTP/1.1 100 "
JOINED_MAX = 65536  # the largest body joined to its head


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
