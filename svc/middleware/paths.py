"""The shape of a path: an encoded slash names nothing; a trailing slash names the same resource; a query
parameter is given once, and is UTF-8."""

from urllib.parse import unquote_plus, unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from wire import problems

# Every query parameter of the contract takes one value. Given twice (`?environment=prod&environment=dev`), the
# framework would take the last one silently: a URL built by appending could read dev's values for prod.
REPEATED = "Given more than once: give each query parameter once."
# A query's bytes that are not UTF-8 once percent-decoded (`?name=%FF`): the framework reads U+FFFD in their place,
# and a search answered 200 for a name nobody sent. A path's are 422 at the parameter too (`ExactJsonRoute`).
NOT_UTF8 = "Not UTF-8 once percent-decoded: percent-encode the text's UTF-8 bytes."


class RefuseEncodedSlash:
    """404 (a problem) for a path with `%2F`: an encoded slash belongs to its segment, and the router (which sees
    the decoded path) would take it for a separator, so no route can mean it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%2f" in (raw := scope.get("raw_path") or b"").lower():
            # (the path as sent: decoded, it names another resource, which may exist)
            await problems.problem(404, problems.NotFound.title, problems.NotFound.slug, detail="No such resource.",
                                   instance=raw.decode("latin-1"))(scope, receive, send)
            return
        await self.app(scope, receive, send)


class StripTrailingSlash:
    """`/api/v1/applications/` is `/api/v1/applications`: answered directly, not redirected. And a query parameter
    given twice on the API is 422 at it (`REPEATED`), before anything reads one of its values."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if b"&" in scope["query_string"] and path.startswith(self.prefix) \
                    and (name := repeated(scope["query_string"])) is not None:
                pointer = "#/query/" + name.replace("~", "~0").replace("/", "~1")
                await problems.Unprocessable.at(pointer, REPEATED).response(path)(scope, receive, send)
                return
            query = scope["query_string"]
            if (b"%" in query or not query.isascii()) and path.startswith(self.prefix) \
                    and (name := not_utf8(query)) is not None:
                pointer = "#/query/" + name.replace("~", "~0").replace("/", "~1")
                await problems.Unprocessable.at(pointer, NOT_UTF8).response(path)(scope, receive, send)
                return
            if len(path) > 1 and path.endswith("/") and path.startswith(self.prefix):
                scope = {**scope, "path": path.rstrip("/") or "/", "raw_path": None}
        await self.app(scope, receive, send)


def repeated(query: bytes) -> str | None:
    """The first query parameter named twice in `query` (names compared as decoded), or None."""
    if b"%" not in query and b"+" not in query:  # (nearly every query: names that need no decoding, none twice)
        given = set()
        for part in query.split(b"&"):
            name = part.partition(b"=")[0]
            if name in given:
                break  # (or an empty one twice: decided below)
            given.add(name)
        else:
            return None
    seen = set()
    for part in query.split(b"&"):
        name = unquote_plus(part.split(b"=", 1)[0].decode("latin-1"))
        if name in seen:
            return name
        if name:
            seen.add(name)
    return None


def not_utf8(query: bytes) -> str | None:
    """The name of the first query parameter whose name or value is not UTF-8 once percent-decoded, or None."""
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        for given in (name, value):
            try:
                unquote_to_bytes(given.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return unquote_plus(name.decode("latin-1"))
    return None
