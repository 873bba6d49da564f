"""The ASGI middleware around the app. `Edge`, the outermost: request ids, the access log, security headers, the
body size limit, and the last-resort answer to an unexpected error. `RequireHost`, just inside it: the Host rule
of HTTP/1.1. `StripTrailingSlash`: one path per resource. Pure ASGI, so a request pays for each once."""

import asyncio
import ipaddress
import logging
import os
import re
import time
import traceback

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wire import problems
from logs import access

log = logging.getLogger("config_service")

REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


class BodyTimedOut(HTTPException):
    def __init__(self) -> None:
        super().__init__(408, "The request body did not arrive in time.")


def where(error: BaseException) -> dict[str, object]:
    """What a log line may say of an unexpected error: its type and the code it passed through, never its message
    (a driver's message can quote the request's content, which may hold secrets)."""
    frames = traceback.extract_tb(error.__traceback__)
    chain = []
    cause: BaseException | None = error
    while cause is not None and len(chain) < 5:
        chain.append(f"{type(cause).__module__}.{type(cause).__qualname__}")
        cause = cause.__cause__ or cause.__context__
    return {"error": chain[0], "caused_by": chain[1:],
            "where": [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in frames[-8:]]}


def request_id(scope: Scope) -> str:
    """The client's `X-Request-ID` when it is sane (1-128 of [A-Za-z0-9._:-]), else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    # 16 random hex digits: unique enough to find one request's lines, and cheap on every request.
    return os.urandom(8).hex()


class Edge:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, prefix: str, body_timeout: float = 10.0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.prefix = prefix
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        method = scope["method"]
        head = method == "HEAD"
        if head:
            # RFC 9110 §9.3.2: HEAD is GET without the body; every GET route answers it (load balancers probe so).
            scope = {**scope, "method": "GET"}
        extra = [(b"x-request-id", rid.encode()), (b"x-content-type-options", b"nosniff")]
        if scope["path"].startswith(self.prefix):
            # GETs may be cached but must be revalidated (ETag); nothing else is stored.
            extra.append((b"cache-control", b"no-cache" if scope["method"] == "GET" else b"no-store"))
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = list(message.get("headers", [])) + extra
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            declared = _content_length(scope)
            if b"%2f" in (scope.get("raw_path") or b"").lower():
                # An encoded slash belongs to its segment; the router (which sees the decoded path) would take it
                # for a separator, so no route can mean it.
                await problems.NotFound("No such resource.").response(scope["path"])(scope, receive, send_with_headers)
            elif declared is not None and declared > self.max_body_bytes:
                await problems.ContentTooLarge().response(scope["path"])(scope, receive, send_with_headers)
            else:
                await self.app(scope, self._bounded(receive), send_with_headers)
        except Exception as error:
            log.error("unhandled error", extra={"request_id": rid, "method": method, "path": scope["path"],
                                                **where(error)})
            if not response_started:
                await problems.InternalError().response(scope["path"])(scope, receive, send_with_headers)
        finally:
            if access.enabled():
                access.write(rid, method, scope["path"], status, round((time.perf_counter() - started) * 1000, 2))

    def _bounded(self, receive: Receive) -> Receive:
        """`receive`, refusing a body that grows past the limit (chunked bodies have no Content-Length) or that
        has not all arrived `body_timeout` seconds after the request began (a slow or stalled client)."""
        total = 0
        limit = self.max_body_bytes
        complete = False
        deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def bounded() -> Message:
            nonlocal total, complete
            if complete:
                return await receive()  # after the body: a wait for the disconnect, however long
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut() from None
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise BodyTooLarge()
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return bounded


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# RFC 9112 §3.2 and RFC 3986 §3.2.2-3.2.3: Host = uri-host [ ":" port ], uri-host an IP literal in brackets (checked
# apart), or a reg-name (IPv4 addresses are reg-names too) of unreserved characters, sub-delims and %XX; it may be
# empty.
REG_NAME_AND_PORT = re.compile(rb"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?")
IP_LITERAL_AND_PORT = re.compile(rb"\[([^\]]*)\](?::[0-9]*)?")
IP_FUTURE = re.compile(rb"v[0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+")


def host_fault(scope: Scope) -> str | None:
    """Why the request's Host header breaks RFC 9112 §3.2 (an HTTP/1.1 request without one, more than one line, or
    a value that is no host[:port]), or None when it does not."""
    hosts = [value for name, value in scope["headers"] if name == b"host"]
    if not hosts:
        return "An HTTP/1.1 request needs a Host header." if scope.get("http_version") == "1.1" else None
    if len(hosts) > 1:
        return "A request may have only one Host header."
    host = hosts[0]
    if REG_NAME_AND_PORT.fullmatch(host):
        return None
    literal = IP_LITERAL_AND_PORT.fullmatch(host)
    if literal is not None:
        if IP_FUTURE.fullmatch(literal.group(1)):
            return None
        try:
            ipaddress.IPv6Address(literal.group(1).decode("ascii"))
            return None
        except ValueError:
            pass
    return "The Host header is not a valid host[:port]."


class RequireHost:
    """400 (a problem) for a request whose Host breaks RFC 9112 §3.2, which a server must refuse, before anything
    else answers it (the fast path included); uvicorn lets such requests through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fault = host_fault(scope)
            if fault is not None:
                await problems.BadRequest(fault).response(scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


class StripTrailingSlash:
    """`/api/v1/applications/` is `/api/v1/applications`: answered directly, not redirected."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if len(path) > 1 and path.endswith("/") and path.startswith(self.prefix):
                scope = {**scope, "path": path.rstrip("/") or "/", "raw_path": None}
        await self.app(scope, receive, send)
