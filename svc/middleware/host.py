"""The Host rule of HTTP/1.1 (RFC 9112 §3.2), which a server must enforce and uvicorn does not."""

import ipaddress
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from wire import problems

# RFC 9112 §3.2 and RFC 3986 §3.2.2-3.2.3: Host = uri-host [ ":" port ], uri-host an IP literal in brackets (checked
# apart), or a reg-name (IPv4 addresses are reg-names too) of unreserved characters, sub-delims and %XX; it may be
# empty.
REG_NAME_AND_PORT = re.compile(rb"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?")
IP_LITERAL_AND_PORT = re.compile(rb"\[([^\]]*)\](?::[0-9]*)?")
IP_FUTURE = re.compile(rb"v[0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+")


# Headers that hold one value, which the service reads from their first line: a second line would be a request one
# reader (a proxy in front, which may go by the last) takes otherwise than the service, a key or a media type
# checked there and another used here. Two lines of one are refused, as two Hosts are.
SINGLE = {b"authorization": "Authorization", b"content-type": "Content-Type"}
WATCHED = frozenset((b"host", *SINGLE))


def host_fault(scope: Scope) -> str | None:
    """Why the request's Host header breaks RFC 9112 §3.2 (an HTTP/1.1 request without one, more than one line, or
    a value that is no host[:port]), or another header that holds one value came twice (`SINGLE`); None when
    neither."""
    hosts = []
    seen = None
    for name, value in scope["headers"]:
        if name in WATCHED:
            if name == b"host":
                hosts.append(value)
            elif seen is None:
                seen = [name]
            elif name in seen:
                return f"A request may have only one {SINGLE[name]} header."
            else:
                seen.append(name)
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
    """400 (a problem) for a request whose Host breaks RFC 9112 §3.2, or with two lines of a header that holds one
    value, before anything after it answers (the fast path included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fault = host_fault(scope)
            if fault is not None:
                await problems.BadRequest(fault).response(scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)
