"""Errors as RFC 9457 problem details: the domain error types and the handlers that answer them."""

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://config-service.dev/problems/"


class ProblemError(Exception):
    """Base of every error the API answers on purpose; subclasses carry their status."""

    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class BadRequest(ProblemError):
    status, title, slug = 400, "Bad Request", "malformed-request"


class NotFound(ProblemError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"


class Unprocessable(ProblemError):
    status, title, slug = 422, "Unprocessable Content", "validation"

    @classmethod
    def at(cls, pointer: str, message: str) -> "Unprocessable":
        """One invalid value, named by its JSON pointer."""
        return cls(message, errors=[{"pointer": pointer, "message": message}])


class PreconditionFailed(ProblemError):
    status, title, slug = 412, "Precondition Failed", "precondition-failed"

    def __init__(self, current_etag: str) -> None:
        super().__init__("The resource was changed since the version in If-Match.", headers={"ETag": current_etag})


class PreconditionRequired(ProblemError):
    status, title, slug = 428, "Precondition Required", "precondition-required"


class UnsupportedMediaType(ProblemError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class ServiceUnavailable(ProblemError):
    status, title, slug = 503, "Service Unavailable", "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def problem(status: int, title: str, slug: str, *, detail: str | None = None, instance: str | None = None,
            errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """An `application/problem+json` response."""
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def quote_path(path: str) -> str:
    """A path as a URI reference: percent-encoded, whatever characters the client sent."""
    return quote(path, safe="/-._~!$&'()*+,;=:@")


def instance_of(request: Request) -> str:
    return quote_path(request.url.path)


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
    return problem(exc.status, exc.title, exc.slug, detail=exc.detail, instance=instance_of(request),
                   errors=exc.errors, headers=exc.headers)


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, BadRequest.title, BadRequest.slug, detail="The request body is not valid JSON.",
                       instance=instance_of(request))
    items = [{"pointer": pointer(e.get("loc", ())), "message": _message(e)} for e in errors]
    return problem(422, Unprocessable.title, Unprocessable.slug, detail="The request is not valid.",
                   instance=instance_of(request), errors=items)


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
    return ", ".join(sorted(methods))


HTTP_ERRORS = {
    400: ("Bad Request", "malformed-request", "The request body cannot be read."),
    404: ("Not Found", "not-found", "No such resource."),
    405: ("Method Not Allowed", "method-not-allowed", "The method is not allowed on this resource."),
    413: ("Content Too Large", "too-large", "The request body is too large."),
}


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # FastAPI reports a body json.loads could not nest into as unreadable; it is readable, only too deep.
        return problem(422, Unprocessable.title, Unprocessable.slug, detail="The JSON is nested too deeply.",
                       instance=instance_of(request), errors=[{"pointer": "", "message": "nested too deeply"}])
    title, slug, detail = HTTP_ERRORS.get(exc.status_code, ("Error", "http-error", None))
    return problem(exc.status_code, title, slug, detail=detail, instance=instance_of(request), headers=headers)


async def _on_anything(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's outermost middleware answers with this, then re-raises to `edge.Edge`, which logs the error
    # with the request id. Nothing of the exception reaches the client.
    return problem(500, ProblemError.title, ProblemError.slug, detail="An unexpected error occurred.",
                   instance=instance_of(request))


def install(app: FastAPI) -> None:
    """Answer every error of `app` as problem+json."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_anything)
