"""Errors as RFC 9457 problem details: the domain error types and the handlers that answer them."""

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from wire import etags, models

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://config-service.dev/problems/"


class ProblemError(Exception):
    """Base of every error the API answers; subclasses carry their status, and `response` answers it."""

    status = 500
    title = "Internal Server Error"
    slug = "internal"
    default_detail: str | None = None

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None, members: dict[str, Any] | None = None) -> None:
        super().__init__(detail or self.default_detail or self.title)
        self.detail = detail or self.default_detail
        self.errors = errors
        self.headers = headers or {}
        self.members = members  # extension members (RFC 9457 §3.2), where the contract declares them

    def response(self, path: str) -> JSONResponse:
        """This problem as an `application/problem+json` response about the resource at `path`."""
        return problem(self.status, self.title, self.slug, detail=self.detail, instance=quote_path(path),
                       errors=self.errors, headers=self.headers, members=self.members)


class InternalError(ProblemError):
    """The last resort: nothing of the cause reaches the client (it is logged with the request id)."""

    default_detail = "An unexpected error occurred."


class BadRequest(ProblemError):
    status, title, slug = 400, "Bad Request", "malformed-request"
    default_detail = "The request body cannot be read."


class Unauthorized(ProblemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"
    default_detail = "A valid API key is needed: Authorization: Bearer <key>."

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Bearer realm="config-service"'})


class Forbidden(ProblemError):
    status, title, slug = 403, "Forbidden", "forbidden"
    default_detail = "This API key may read but not write."


class NotFound(ProblemError):
    status, title, slug = 404, "Not Found", "not-found"


class MethodNotAllowed(ProblemError):
    status, title, slug = 405, "Method Not Allowed", "method-not-allowed"
    default_detail = "The method is not allowed on this resource."

    def __init__(self, allow: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(headers={**(headers or {}), "Allow": allow})


class RequestTimeout(ProblemError):
    status, title, slug = 408, "Request Timeout", "request-timeout"
    default_detail = "The request body did not arrive in time."

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        # The rest of the body may still be on its way: the connection cannot carry another request.
        super().__init__(headers={**(headers or {}), "Connection": "close"})


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(ProblemError):
    status, title, slug = 412, "Precondition Failed", "precondition-failed"

    IF_MATCH = "The resource was changed since the version in If-Match."
    NO_TAG = ("If-Match names no version of this resource: send an ETag a read or write of it answered (a weak one, "
              "W/..., never matches).")
    IF_NONE_MATCH = "If-None-Match named the resource's current ETag, or was * and the resource exists."

    NO_CURRENT = "The resource does not exist, and If-Match named a version of it."

    def __init__(self, id: str | None, current_version: int | None = None, current_epoch: int = 1,
                 detail: str = IF_MATCH) -> None:
        """412 with the current ETag (`id`, `current_version` as written in `current_epoch`); with `id` None, of a
        resource that has none."""
        super().__init__(detail, headers=None if id is None else
                         {"ETag": etags.make(id, current_version, current_epoch)})

    @classmethod
    def if_match(cls, id: str, current_version: int, current_epoch: int,
                 accepted: list[etags.Named] | None) -> "PreconditionFailed":
        """If-Match failed (`accepted`: what of this resource it named, `etags.accepted`): stale, naming none, or
        naming the current version's number as written in another epoch: a write a failover lost, whose number
        the new primary has given to other content (then the client is told so)."""
        if accepted == []:
            return cls(id, current_version, current_epoch, cls.NO_TAG)
        lost = [tag for tag in accepted or () if tag.version == current_version and tag.epoch != current_epoch]
        if lost:
            return cls(id, current_version, current_epoch, cls.other_epoch(lost[0], current_epoch))
        return cls(id, current_version, current_epoch, cls.IF_MATCH)

    @staticmethod
    def other_epoch(given: etags.Named, current: int) -> str:
        return (f"The ETag in If-Match names version {given.version} as written in epoch {given.epoch}, and version "
                f"{given.version} here was written in epoch {current}: other content. The write the ETag names was "
                f"lost in a failover (or a restore to a point in time). Read the resource again for its current ETag.")


class EpochChanged(ProblemError):
    """A feed position whose change the database does not have as it was written: lost in a failover (or a restore
    to a point in time), its number maybe given to another change since (primary.py)."""

    status, title, slug = 410, "Gone", "epoch-changed"

    def __init__(self, after: int, given: int, *, end: int | None = None, now: int | None = None) -> None:
        if now is not None and given > now:
            why = (f"epoch {given} is later than the database's ({now}): the position is of another database than "
                   f"this one (one it was restored from, or a primary it no longer follows), or was never handed out")
        elif now is not None and given == now and end is not None and after > end:  # no failover since
            why = (f"the feed ends at position {end}: the position was never handed out (one of another "
                   f"application's feed), or the database was restored to an earlier point since")
        else:
            why = ("the database lost that change in a failover (or a restore to a point in time), and the position "
                   "may name another change now")
        super().__init__(f"Position {after} of epoch {given} is not in the feed as it was written then: {why}. Read "
                         f"the feed again from after=0 and follow with the epoch each page names.")


class ContentTooLarge(ProblemError):
    status, title, slug = 413, "Content Too Large", "too-large"
    default_detail = "The request body is too large."


class UnsupportedMediaType(ProblemError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class Unprocessable(ProblemError):
    status, title, slug = 422, "Unprocessable Content", "validation"

    @classmethod
    def at(cls, pointer: str, message: str) -> "Unprocessable":
        """One invalid value, named by its JSON pointer."""
        return cls(message, errors=[{"pointer": pointer, "message": message}])


class PreconditionRequired(ProblemError):
    status, title, slug = 428, "Precondition Required", "precondition-required"


class ServiceUnavailable(ProblemError):
    status, title, slug = 503, "Service Unavailable", "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, members: dict[str, Any] | None = None
                 ) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, members=members)


class TooManyRequests(ProblemError):
    """A key past its share of a worker's held requests (`MAX_WAITERS_PER_KEY`): RFC 6585 §4."""

    status, title, slug = 429, "Too Many Requests", "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def stopped(method: str) -> ServiceUnavailable:
    """The answer to a request still running when the graceful shutdown's time (`SHUTDOWN_GRACE_SECONDS`) ran out:
    the server cancels it, and what it waited for (a statement, say) may still complete, so a change's outcome is
    unknown (`middleware/request_log.py`, and the write lane, answer it)."""
    if method in SAFE_METHODS:
        return ServiceUnavailable("The service stopped before it answered; try again.")
    return ServiceUnavailable("The service stopped before it answered: if it was a change, whether it was applied "
                              "is unknown. Read the resource before you try the change again.")


def problem(status: int, title: str, slug: str, *, detail: str | None = None, instance: str | None = None,
            errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
            members: dict[str, Any] | None = None) -> JSONResponse:
    """An `application/problem+json` response (with extension `members` after the standard ones)."""
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    if members:
        body.update(members)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def quote_path(path: str) -> str:
    """A path as a URI reference: percent-encoded, whatever characters the client sent."""
    return quote(path, safe="/-._~!$&'()*+,;=:@")


def pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    """A JSON pointer (RFC 6901) for a FastAPI error location such as ("body", "config", "a/b")."""
    parts = list(loc)
    source = parts.pop(0) if parts else "body"
    escaped = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    if source == "body":
        return escaped
    # Parameters are not in the body: name them by where they came from.
    return f"#/{source}{escaped}"


async def _on_problem(request: Request, exc: ProblemError) -> JSONResponse:
    return exc.response(request.url.path)


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return BadRequest("The request body is not valid JSON.").response(request.url.path)
    items: list[dict[str, str]] = []
    for error in errors:
        item = _item(error)
        if item not in items:  # a parameter FastAPI checks twice (a path's, say) is one error
            items.append(item)
    return Unprocessable("The request is not valid.", errors=items).response(request.url.path)


NUL_IN_TEXT = "Text cannot contain the NUL character (U+0000)."
SURROGATE_IN_TEXT = "Text cannot contain unpaired UTF-16 surrogates."
NAME_RULE = ("A name must not be blank, start or end with whitespace, or hold a control or format character (a tab, "
             "a newline, a zero-width space, a bidirectional override: Unicode categories Cc and Cf).")
# The contract's patterns a person could not read, in words; another's message names its pattern.
PATTERNS = {
    next(m.pattern for m in models.Name.model_fields["root"].metadata if getattr(m, "pattern", None)): NAME_RULE,
    r"^[^\u0000]*$": NUL_IN_TEXT,
}


def _item(error: dict[str, Any]) -> dict[str, str]:
    """An error of a request's validation: its pointer and message. A key of an object (Pydantic's location ends
    in "[key]") is named by the member it begins; one that is not text at all, by the object that holds it."""
    loc, kind = tuple(error.get("loc", ())), error.get("type")
    message = _message(error)
    if kind == "string_pattern_mismatch":
        message = PATTERNS.get(str((error.get("ctx") or {}).get("pattern")), message)
    elif kind == "string_unicode":
        message = SURROGATE_IN_TEXT
    elif kind == "too_long" and (ctx := error.get("ctx") or {}).get("field_type") == "Dictionary":
        message = (f"An object here may have at most {ctx.get('max_length')} keys; "
                   f"this one has {ctx.get('actual_length')}.")
    if loc and loc[-1] == "[key]":
        loc = loc[:-2] if kind == "string_unicode" else loc[:-1]
        message = "Key: " + message
    return {"pointer": pointer(loc), "message": message}


def _message(error: dict[str, Any]) -> str:
    # Pydantic messages can quote the input back; keep them, but bounded.
    message = str(error.get("msg", "invalid value"))
    return message if len(message) <= 300 else message[:297] + "..."


def allowed_methods(request: Request) -> str:
    """Every method some route answers on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\x00"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")  # answered by `HeadAsGet` (middleware/head.py) for every GET
    return ", ".join(sorted(methods))


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(getattr(exc, "headers", None) or {})
    error: ProblemError
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # FastAPI reports a body json.loads could not nest into as unreadable; it is readable, only too deep.
        error = Unprocessable("The JSON is nested too deeply.", errors=[{"pointer": "", "message": "nested too deeply"}])
    elif exc.status_code == 405:
        error = MethodNotAllowed(allowed_methods(request), headers)
    elif exc.status_code == 404:
        error = NotFound("No such resource.", headers=headers)
    elif exc.status_code == 413:
        error = ContentTooLarge(headers=headers)
    elif exc.status_code == 408:
        error = RequestTimeout(headers=headers)
    else:
        error = BadRequest(headers=headers)
    return error.response(request.url.path)


async def _on_anything(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's own outermost middleware, outside ours, answers with this an error that got past them (in the app,
    # `LastResort` answers and `RequestLog` logs and stops every one). Nothing of the exception reaches the client.
    return InternalError().response(request.url.path)


def _forgetting(handler: Callable[[Request, Any], Awaitable[JSONResponse]]) -> Callable[..., Any]:
    """`handler`, which then drops the frames the error it answered was raised through (`forget`)."""
    async def answer(request: Request, exc: Exception) -> JSONResponse:
        try:
            return await handler(request, exc)
        finally:
            forget(exc)
    return answer


def forget(exc: BaseException | None) -> None:
    """Drop the tracebacks of an error answered, and of the errors it was raised from or during. A traceback holds
    the frames the error went through, and a frame on its way often holds the error in a local (FastAPI raises its
    `RequestValidationError` from one; the read cache's shared fetch keeps it in a future): a cycle, of some 150
    objects per request (the layers' frames, their closures' cells, the request's body), that only the cyclic
    collector frees, and the service runs it seldom (`app.GC_YOUNG`). Without the traceback, they are freed as the
    request ends."""
    pending, seen = [exc], set()
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        error.__traceback__ = None
        pending += (error.__cause__, error.__context__)


def install(app: FastAPI) -> None:
    """Answer every error of `app` as problem+json. An error answered is not logged: its frames are let go of at
    once (`forget`). What gets past every layer (`_on_anything`, a bug) keeps them, for the log."""
    app.add_exception_handler(ProblemError, _forgetting(_on_problem))
    app.add_exception_handler(RequestValidationError, _forgetting(_on_validation))
    app.add_exception_handler(StarletteHTTPException, _forgetting(_on_http))
    app.add_exception_handler(Exception, _on_anything)
