import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import uvicorn
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tools.harness import until_async

from wire import protocol
from wire.protocol import JOINED_MAX, HeadWithBody, Protocol

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Transport:
    """The writes a transport was given, each a system call, and whether it was closed after them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


@contextlib.asynccontextmanager
async def serving(app, http, **config) -> AsyncIterator[int]:
    """A real uvicorn server with protocol `http` serving `app` on a free port of 127.0.0.1: its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=http, log_config=None,
                                           lifespan="off", **config))
    task = asyncio.create_task(server.serve())
    await until_async(lambda: server.started or task.done(), "the server started")
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def run(test):
    async def go():
        transport = Transport()
        await test(HeadWithBody(transport, asyncio.get_running_loop()), transport)
    asyncio.run(go())


def test_an_answer_whose_body_follows_its_head_leaves_in_one_write():
    async def test(proxy, transport):
        proxy.write(HEAD)
        assert transport.writes == []
        proxy.write(b"{}")
        proxy.write(HEAD)  # keep-alive: the next answer on the connection
        proxy.write(b"[]")
        assert transport.writes == [HEAD + b"{}", HEAD + b"[]"]
        await asyncio.sleep(0)
        assert transport.writes == [HEAD + b"{}", HEAD + b"[]"]  # nothing left to send
        big = b"x" * (JOINED_MAX + 1)
        proxy.write(HEAD)
        proxy.write(big)
        assert transport.writes[2:] == [HEAD, big]  # not copied to be joined
    run(test)


def test_a_head_whose_body_comes_later_leaves_when_the_loops_turn_ends():
    async def test(proxy, transport):
        proxy.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await asyncio.sleep(0)
        assert transport.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
        proxy.write(b"2\r\n{}\r\n")
        assert transport.writes[1:] == [b"2\r\n{}\r\n"]  # a body alone is written at once
    run(test)


def test_a_100_continue_is_written_at_once_and_a_close_sends_what_is_held_first():
    async def test(proxy, transport):
        proxy.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        proxy.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        proxy.close()
        assert transport.writes[1:] == [b"HTTP/1.1 204 No Content\r\n\r\n"] and transport.closed
        assert proxy.get_extra_info("peername") == ("127.0.0.1", 5)  # anything else is the transport's
    run(test)


def test_uvicorn_on_the_protocol_writes_each_answer_once():
    """A real uvicorn server on the protocol, over a transport that counts the writes it is given: one per answer,
    where uvicorn alone makes two (its head, then its body)."""
    writes: list[bytes] = []

    class Counted:
        def __init__(self, transport):
            self.transport = transport

        def write(self, data):
            writes.append(data)
            self.transport.write(data)

        def __getattr__(self, name):
            return getattr(self.transport, name)

    class Counting(Protocol):
        def connection_made(self, transport):
            super().connection_made(Counted(transport))

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def go():
        async with serving(app, Counting) as port, httpx.AsyncClient() as client:
            answers = [await client.get(f"http://127.0.0.1:{port}/") for _ in range(3)]
        assert [(a.status_code, a.content) for a in answers] == [(200, b"{}")] * 3
        assert len(writes) == 3 and all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"\r\n\r\n{}")
                                        for w in writes)
    asyncio.run(go())


def test_an_answer_written_whole_is_the_one_uvicorn_writes_and_the_connection_goes_on():
    """`write_whole` below the ASGI layers writes the bytes uvicorn's `send` writes for the same answer (with the
    headers the layers above record), and the connection serves its next request; a HEAD, an answer a layer must
    see, or one already begun is not written whole."""
    from wire.protocol import header_lines, record_headers, write_whole

    lines = [(b"ETag", b'"1"'), (b"content-length", b"2"), (b"content-type", b"application/json")]
    outcomes = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        record_headers(scope, [(b"x-request-id", b"r1")])
        record_headers(scope, [(b"x-content-type-options", b"nosniff")])  # an inner layer: its headers come first
        if scope["path"] == "/layered":  # a key not confirmed yet (`Authenticate`): its answer must pass there
            scope["state"]["unconfirmed"] = lambda: None
        if scope["path"] != "/plain":
            written = write_whole(scope, 200, header_lines(lines), b"{}")
            outcomes.append((scope["method"], scope["path"], written, scope["state"].get("status")))
            if written:
                assert not write_whole(scope, 200, header_lines(lines), b"{}")  # begun: never twice
                return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*lines, (b"x-content-type-options", b"nosniff"), (b"x-request-id", b"r1")]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else b"{}"})

    def undated(answer: bytes) -> bytes:
        return b"".join(line for line in answer.split(b"\r\n") if not line.startswith(b"date: "))

    async def go():
        async with serving(app, Protocol) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answers = []
            for method, path in (("GET", "/whole"), ("GET", "/plain"), ("HEAD", "/whole"), ("GET", "/layered"),
                                 ("GET", "/whole")):
                writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                body = b"" if method == "HEAD" else await asyncio.wait_for(reader.readexactly(2), 30)
                answers.append(undated(head + body))
            writer.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n" * 2)  # pipelined: the second waits its turn
            for _ in range(2):
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                answers.append(undated(head + await asyncio.wait_for(reader.readexactly(2), 30)))
            writer.close()
        whole, plain, head, layered, again, *pipelined = answers
        assert whole == plain == layered == again == pipelined[0] == pipelined[1]
        assert whole.endswith(b"x-request-id: r1{}")
        assert head == plain[:-2]
        assert outcomes == [("GET", "/whole", True, 200), ("HEAD", "/whole", False, None),
                            ("GET", "/layered", False, None)] + [("GET", "/whole", True, 200)] * 3
    asyncio.run(go())


def test_header_lines_are_uvicorns_and_refuse_what_it_refuses():
    from wire.protocol import header_lines

    assert header_lines([(b"ETag", b'"1"'), (b"a", b"b")]) == b'etag: "1"\r\na: b\r\n'
    assert header_lines([(b"a", b"b\r\nx: y")]) is None and header_lines([(b"a b", b"c")]) is None
    assert header_lines(iter([(b"A", b"1"), (b"b", b"2")])) == b"a: 1\r\nb: 2\r\n" and header_lines([]) == b""


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=4), st.binary(max_size=4)) | st.tuples(
    st.sampled_from([b"etag", b"X-A", b"a:b", b"a b", b"\x7f"]), st.sampled_from([b"v", b"\t", b"\n", b"\x00", b"\xff"])),
    max_size=4))
def test_header_lines_refuse_exactly_what_uvicorns_send_refuses(headers):
    # Its checks run over all the names, and all the values, joined: the same as uvicorn's, a header at a time.
    from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE

    from wire.protocol import header_lines

    refused = any(HEADER_RE.search(name) or HEADER_VALUE_RE.search(value) for name, value in headers)
    lines = header_lines(headers)
    assert (lines is None) == refused
    if not refused:
        assert lines == b"".join(name.lower() + b": " + value + b"\r\n" for name, value in headers)


async def echo(scope, receive, send):
    """An app that answers each request with its method, path and whole body."""
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    answer = b"%s %s %s" % (scope["method"].encode(), scope["path"].encode(), body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


async def exchange(port: int, *writes: bytes, answers: int) -> bytes:
    """Send `writes` on one connection, each its own write, and read until `answers` answers have come or the
    server closed it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for data in writes:
            writer.write(data)
            await writer.drain()
            await asyncio.sleep(0.01)  # its own segment: the server reads it apart from the next one
        got = b""
        while got.count(b"HTTP/1.1 ") < answers:
            chunk = await asyncio.wait_for(reader.read(65536), 30)
            if not chunk:
                break
            got += chunk
        return got
    finally:
        writer.close()


def bodies(got: bytes) -> list[bytes]:
    """The bodies of the answers in `got`, each after its head."""
    parts = got.split(b"HTTP/1.1 ")[1:]
    return [part.split(b"\r\n\r\n", 1)[1] for part in parts]


UPGRADE = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
WEBSOCKET = (b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Sec-WebSocket-Version: 13\r\n")


def test_a_request_asking_to_upgrade_is_answered_as_http_1_1_body_and_all_then_the_connection_closed():
    """The service upgrades to nothing: a request asking for h2c (`curl --http2 -d`) or a WebSocket is answered
    itself, with the body it sent (uvicorn's parser takes that body for the new protocol's bytes), whether the body
    is in the head's segment, comes after it, or is chunked. Nothing after it on the connection is read (a front end
    that tunnels on `Upgrade` passes no request by): the answer closes it. A CONNECT's length names no body."""
    async def go():
        async with serving(echo, Protocol) as port:
            after = b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
            for writes, answer in (
                    ((b"PUT /a HTTP/1.1\r\nHost: x\r\n" + UPGRADE + b"Content-Length: 5\r\n\r\nfirst" + after,),
                     b"PUT /a first"),
                    ((b"GET /b HTTP/1.1\r\nHost: x\r\n" + WEBSOCKET + b"\r\n", after), b"GET /b "),
                    ((b"POST /c HTTP/1.1\r\nHost: x\r\n" + WEBSOCKET + b"Transfer-Encoding: chunked\r\n\r\n",
                      b"3\r\nchu\r\n", b"4\r\nnked\r\n0\r\n\r\n" + after), b"POST /c chunked"),
                    ((b"PUT /d HTTP/1.1\r\nHost: x\r\n" + UPGRADE + b"Content-Length: 10\r\n\r\n", b"later",
                      b" on\r\n" + after), b"PUT /d later on\r\n"),
                    ((b"CONNECT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + after,), b"CONNECT /e ")):
                got = await exchange(port, *writes, answers=2)
                assert bodies(got) == [answer], writes
                assert got.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nconnection: close\r\n" in got.lower()

            # One queued behind a request under way: both answered in turn, then the connection closed.
            got = await exchange(port, b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nPUT /f HTTP/1.1\r\nHost: x\r\n" + UPGRADE
                                 + b"Content-Length: 4\r\n\r\nlast" + after, answers=3)
            assert bodies(got) == [b"GET /first ", b"PUT /f last"]
    asyncio.run(go())


def test_what_is_not_http_is_answered_with_a_problem_after_the_answers_before_it():
    """Bytes uvicorn cannot parse (a control character in a header, a malformed request line, both a length and a
    chunked body) get a 400 problem, as every error does, not uvicorn's text, and the connection is then closed.
    Whole requests before them on the connection, in the same segment or not, are answered first: uvicorn's 400
    took the place of the first answer not yet written, whose request still ran."""
    async def go():
        async with serving(echo, Protocol) as port:
            for bad in (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", b"BLAH\r\n\r\n",
                        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"):
                ok = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                two = b"PUT /two HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                broken = b"POST /z HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n"
                for writes, expected in (((ok, bad), [b"GET /ok "]), ((ok + two + bad,), [b"GET /ok ", b"PUT /two hi"]),
                                         ((ok + two + broken,), [b"GET /ok ", b"PUT /two hi"]),
                                         ((ok + broken,), [b"GET /ok "]), ((broken,), [])):
                    got = await exchange(port, *writes, answers=4)
                    *answered, refused = got.split(b"HTTP/1.1 ")[1:]
                    assert [a.split(b"\r\n\r\n", 1)[1] for a in answered] == expected
                    assert all(a.startswith(b"200 OK\r\n") for a in answered)
                    head, body = refused.split(b"\r\n\r\n", 1)
                    lines = head.lower().split(b"\r\n")
                    assert lines[0] == b"400 bad request"
                    assert b"content-type: application/problem+json" in lines and b"connection: close" in lines
                    assert b"x-content-type-options: nosniff" in lines
                    assert b"content-length: %d" % len(body) in lines
                    assert [line for line in lines if line.startswith(b"x-request-id: ") and len(line) == 30]
                    assert json.loads(body) == {"type": "https://config-service.dev/problems/malformed-request",
                                                "title": "Bad Request", "status": 400,
                                                "detail": "The request is not valid HTTP/1.1."}
    asyncio.run(go())


def test_a_transfer_coding_other_than_chunked_is_501_after_the_answers_before_it():
    """RFC 9112 §6.1: a transfer coding the server does not know is 501. llhttp takes `gzip, chunked` and would hand
    on the gzip's bytes as the body."""
    async def go():
        async with serving(echo, Protocol) as port:
            for coding in (b"gzip, chunked", b"deflate,chunked", b"x-custom , chunked"):
                got = await exchange(port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nPOST /z HTTP/1.1\r\nHost: x\r\n"
                                     b"Transfer-Encoding: " + coding + b"\r\n\r\n2\r\nhi\r\n0\r\n\r\n", answers=3)
                ok, refused = got.split(b"HTTP/1.1 ")[1:]
                assert ok.startswith(b"200 OK\r\n") and ok.endswith(b"GET /ok ")
                head, body = refused.split(b"\r\n\r\n", 1)
                assert head.startswith(b"501 Not Implemented\r\n") and b"\r\nconnection: close" in head
                assert json.loads(body)["type"] == "https://config-service.dev/problems/not-implemented"
            got = await exchange(port, b"POST /y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                                 b"2\r\nhi\r\n0\r\n\r\n", answers=1)
            assert bodies(got) == [b"POST /y hi"]
    asyncio.run(go())


async def refuse(scope, receive, send):
    """An app that answers 415 without reading the body (as a 401, a 413 or a 415 of the service does), but reads
    that of a GET."""
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        await echo(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 415, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def test_an_answer_before_the_whole_body_or_the_100_continue_a_request_awaits_closes_the_connection():
    """A client that asked for `100 Continue` and got a final answer instead may leave its body unsent (RFC 9110
    §10.1.1), as may one answered before all its body was sent: the connection is closed after that answer, where
    uvicorn kept it and took the client's next request for the body. A request whose body was all sent keeps the
    connection."""
    async def go():
        async with serving(refuse, Protocol) as port:
            after = b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
            for head in (b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
                         b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel",
                         b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n"):
                got = await exchange(port, head, after, answers=2)
                assert got.startswith(b"HTTP/1.1 415 ") and got.count(b"HTTP/1.1 ") == 1, head
                assert b"\r\nconnection: close\r\n" in got.lower()
            for head in (b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
                         b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"):
                got = await exchange(port, head + b"hello"[:int(head.split(b"Length: ")[1][:1])], after, answers=2)
                assert got.startswith(b"HTTP/1.1 415 ") and bodies(got)[1] == b"GET /after "
    asyncio.run(go())


def _refused_with(got: bytes, status: bytes, slug: str) -> None:
    """`got` ends with a problem of `status` and `slug` that closes the connection."""
    refused = got.split(b"HTTP/1.1 ")[-1]
    head, body = refused.split(b"\r\n\r\n", 1)
    lines = head.lower().split(b"\r\n")
    assert lines[0] == status.lower(), head
    assert b"content-type: application/problem+json" in lines and b"connection: close" in lines
    assert json.loads(body)["type"] == f"https://config-service.dev/problems/{slug}"


def test_a_request_head_past_its_bounds_is_refused_and_the_answers_before_it_are_kept():
    """A request-target over MAX_TARGET_BYTES is 414 (RFC 9112 §3); a head over MAX_HEAD_BYTES, in one write or
    header field by header field over many, or with more than MAX_HEADER_FIELDS fields, is 431 (RFC 6585 §5); one
    header field of 20 MB is refused once the bound is passed, not read whole. A whole request before it on the
    connection is answered first; heads within the bounds are served."""
    ok = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
    target = b"GET /?q=" + b"a" * protocol.MAX_TARGET_BYTES + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    fields = b"GET /f HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % n
                                                              for n in range(protocol.MAX_HEADER_FIELDS)) + b"\r\n"
    large = b"GET /l HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * protocol.MAX_HEAD_BYTES + b"\r\n\r\n"
    within = (b"GET /w?q=" + b"a" * (protocol.MAX_TARGET_BYTES - 100) + b" HTTP/1.1\r\nHost: x\r\n"
              + b"".join(b"X-%d: %s\r\n" % (n, b"v" * 150) for n in range(protocol.MAX_HEADER_FIELDS - 2)) + b"\r\n")

    async def go():
        async with serving(echo, Protocol) as port:
            for writes, status, slug in (((target,), b"414 URI Too Long", "uri-too-long"),
                                         ((ok, target), b"414 URI Too Long", "uri-too-long"),
                                         ((ok + fields,), b"431 Request Header Fields Too Large",
                                          "header-fields-too-large"),
                                         ((ok, large), b"431 Request Header Fields Too Large",
                                          "header-fields-too-large")):
                got = await exchange(port, *writes, answers=3)
                answered = got.split(b"HTTP/1.1 ")[1:-1]
                assert [a.split(b"\r\n\r\n", 1)[1] for a in answered] == [b"GET /ok "] * (ok in writes[0])
                _refused_with(got, status, slug)
            assert bodies(await exchange(port, within, answers=1)) == [b"GET /w "]
            # One header field of 20 MB, sent in pieces while the answer is looked for: it is answered once the
            # bound is passed, not once the field is whole; what the client sends meanwhile is read and dropped.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent, got = 0, b""
            while sent < 20_000_000 and not got:
                writer.write(b"b" * 65536)
                await writer.drain()
                sent += 65536
                with contextlib.suppress(TimeoutError):
                    got = await asyncio.wait_for(reader.read(65536), 0.05)
            writer.write_eof()  # the client is done: the server closes at once
            while chunk := await asyncio.wait_for(reader.read(65536), 30):
                got += chunk
            writer.close()
            assert sent <= 16 * 65536, f"answered only after {sent:,} bytes of the field"
            _refused_with(got, b"431 Request Header Fields Too Large", "header-fields-too-large")
    asyncio.run(go())


def test_a_head_too_slow_is_408_and_a_connection_that_sends_nothing_is_closed(monkeypatch):
    """A client sending its head a header field at a time, slower than HEAD_SECONDS in all, is answered 408 and
    the connection closed; one that opens a connection and sends nothing is closed after the keep-alive timeout.
    A head read whole costs no timer."""
    monkeypatch.setattr(protocol, "HEAD_SECONDS", 0.3)

    async def go():
        async with serving(echo, Protocol, timeout_keep_alive=0.3) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
            got = b""
            for n in range(200):  # one header field every 10 ms: 2 s of head at most, were it not bounded
                writer.write(b"X-%d: v\r\n" % n)
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    got += await asyncio.wait_for(reader.read(65536), 0.01)
                if got:
                    break
            writer.write_eof()
            while chunk := await asyncio.wait_for(reader.read(65536), 30):
                got += chunk
            writer.close()
            _refused_with(got, b"408 Request Timeout", "request-timeout")
            idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(idle_reader.read(1), 30) == b""  # closed by the server, nothing sent
            idle_writer.close()
            assert bodies(await exchange(port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", answers=1)) == [b"GET /ok "]
    asyncio.run(go())


def test_a_request_line_of_another_major_version_is_505():
    """RFC 9110 §15.6.6: `HTTP/2.0` in an HTTP/1 request line was answered as HTTP/1.1 (200); HTTP/1.0 is served."""
    async def go():
        async with serving(echo, Protocol) as port:
            got = await exchange(port, b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n", answers=1)
            assert got.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
            assert json.loads(got.split(b"\r\n\r\n", 1)[1])["type"].endswith("/http-version-not-supported")
            assert bodies(await exchange(port, b"GET /ok HTTP/1.0\r\nHost: x\r\n\r\n", answers=1)) == [b"GET /ok "]
    asyncio.run(go())


async def slow_echo(scope, receive, send):
    """`echo`, after 0.6 s for the path /slow."""
    if scope.get("path") == "/slow":
        await asyncio.sleep(0.6)
    await echo(scope, receive, send)


def test_the_head_bounds_count_only_a_head_s_own_bytes_however_requests_are_split_across_reads():
    """A read that ends one head, carries whole requests or a body, and begins another head charges none of its
    bytes to the head it began: 3,000 pipelined GETs (over 64 KiB in all) split at odd places, and a PUT whose
    100 KB body shares a read with the next head's start, are all answered."""
    many = b"".join(b"GET /n%d HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n" % (n, b"p" * 40) for n in range(3000))
    put = (b"PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n", b"\r\n" + b"b" * 100_000 + b"GET /after HTT",
           b"P/1.1\r\nHost: x\r\n\r\n")

    async def go():
        async with serving(echo, Protocol) as port:
            got = await exchange(port, many[:30], many[30:70_001], many[70_001:], answers=3000)
            assert got.count(b"HTTP/1.1 200 OK") == 3000 and b"431" not in got.split(b"\r\n", 1)[0]
            got = await exchange(port, *put, answers=2)
            assert [a.split(b"\r\n", 1)[0] for a in got.split(b"HTTP/1.1 ")[1:]] == [b"200 OK", b"200 OK"]
            assert bodies(got)[1] == b"GET /after "
    asyncio.run(go())


def test_a_head_is_not_timed_out_while_the_requests_before_it_are_answered(monkeypatch):
    """uvicorn stops reading while a request before is answered: a head begun behind a slow one (a held read, a
    write waiting for a lock) is not the client's to finish meanwhile, and is answered once it comes."""
    monkeypatch.setattr(protocol, "HEAD_SECONDS", 0.3)

    async def go():
        async with serving(slow_echo, Protocol) as port:
            front = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\n"
            got = await exchange(port, front, b"Host: x\r\n\r\n", answers=3)
            assert bodies(got) == [b"GET /slow ", b"GET /b ", b"GET /c "], got
    asyncio.run(go())


def test_bytes_that_begin_no_request_leave_the_connection_idle_and_it_is_closed():
    """A CRLF, which the parser skips, sent on a new connection or after an answer, does not keep it open: it is
    closed after the keep-alive timeout as an idle one is."""
    async def go():
        async with serving(echo, Protocol, timeout_keep_alive=0.3) as port:
            for first in (b"", b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if first:
                    writer.write(first)
                    await reader.readuntil(b"GET /ok ")
                writer.write(b"\r\n")
                await writer.drain()
                assert await asyncio.wait_for(reader.read(), 30) == b""  # closed by the server
                writer.close()
    asyncio.run(go())


def test_the_uvicorn_hooks_the_protocol_overrides_are_still_uvicorns():
    """`Protocol` learns which request runs from uvicorn's private `_start_asgi_task` (to tell it its client has
    gone: `connection_lost`); an upgrade that renamed it would leave held requests behind pipelined ones holding
    their slots again, with nothing failing. So it fails here."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    for hook in ("_start_asgi_task", "on_headers_complete", "on_response_complete", "connection_lost", "pipeline"):
        assert hook in vars(HttpToolsProtocol) or hook in HttpToolsProtocol.__init__.__code__.co_names, hook


def test_a_refusal_is_logged_with_its_status_its_request_id_and_the_peer_that_sent_it(caplog):
    import logging

    async def go():
        async with serving(echo, Protocol) as port:
            await exchange(port, b"BLAH\r\n\r\n", answers=1)
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        asyncio.run(go())
    (record,) = [r for r in caplog.records if r.getMessage() == "Invalid HTTP request received."]
    assert (record.status, record.client, len(record.request_id)) == (400, "127.0.0.1", 16)
