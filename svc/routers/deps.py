"""Dependencies the handlers ask for, as `Annotated` aliases."""

import re
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.types import Scope

from wire import etags
from wire import names
from db.database import Database
from wire.headers import is_json
from wire.problems import PreconditionRequired, UnsupportedMediaType
from settings import Settings
from wire.ulids import PATTERN

API = "/api/v1"


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_actor(request: Request) -> str | None:
    """The name of the API key that made the request; None when the API is open."""
    return request.scope.get("state", {}).get("api_key")


async def require_json(request: Request) -> None:
    """A body that says what it is must say JSON (`application/json` or `+json`); no Content-Type is taken as JSON."""
    if not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaType("The request body must be JSON (Content-Type: application/json).")


# A PATCH's media types: a JSON merge patch (RFC 7396), or plain JSON read as one.
MERGE_PATCH = ("application/merge-patch+json", "application/json")


async def require_merge_patch(request: Request) -> None:
    """A PATCH's body is a JSON merge patch: another `+json` (a JSON Patch, RFC 6902, say) is refused before it is
    read as one, with `Accept-Patch` (RFC 5789 §3.1); no Content-Type is taken as JSON."""
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() not in MERGE_PATCH:
        raise UnsupportedMediaType(f"A PATCH of a configuration is a JSON merge patch: Content-Type "
                                   f"{' or '.join(MERGE_PATCH)}.", headers={"Accept-Patch": ", ".join(MERGE_PATCH)})


IdPath = Annotated[str, Path(min_length=26, max_length=26, pattern=PATTERN.pattern, description="The resource's ULID.")]


EnvironmentIdPath = Annotated[str, Path(min_length=26, max_length=26, pattern=PATTERN.pattern,
                                         description="The environment's ULID.")]


async def preconditions(request: Request, id: IdPath) -> etags.Preconditions:
    """What a write's If-Match and If-None-Match require of resource `id`'s current version; 428 when `If-Match`
    is missing and the service requires it."""
    return preconditions_of(request.scope, request.app.state.settings, id)


async def override_preconditions(request: Request, id: IdPath, environment_id: EnvironmentIdPath
                                 ) -> etags.Preconditions:
    """`preconditions` of an override: the resource `<configuration>.<environment>`."""
    return preconditions_of(request.scope, request.app.state.settings, f"{id}.{environment_id}")


def unconditional(if_match: str | None, refused: list[etags.Named] | None, settings: Settings) -> bool:
    """Whether a write with this `If-Match` (None: none) that refuses `refused` (None: `If-None-Match: *`) is one the
    service refuses with 428 (`REQUIRE_IF_MATCH`): neither an If-Match nor create-only. A change set's changes too."""
    return if_match is None and refused is not None and settings.require_if_match


def preconditions_of(scope: Scope, settings: Settings, id: str) -> etags.Preconditions:
    """What the request's If-Match and If-None-Match require of resource `id` (see `preconditions`)."""
    if_match = etags.header(scope, b"if-match")
    if_none_match = etags.header(scope, b"if-none-match")
    refused = etags.refused(if_none_match, id)
    # `If-None-Match: *` (refused: None) makes a write create-only: it cannot overwrite anything, so it is as safe
    # as an If-Match, and the only way to create what a PUT creates (an override) when If-Match is required.
    if unconditional(if_match, refused, settings):
        raise PreconditionRequired("This write needs an If-Match header with the resource's current ETag (or, to "
                                   "create it, If-None-Match: *).")
    return etags.Preconditions(etags.accepted(if_match, id), refused, current=if_match is not None)


# An integer as the contract writes one: ASCII digits without leading zeros, a minus only before a negative one.
PLAIN_INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def plain_integer(value: object) -> object:
    """The one parser of every integer in a path or a query: a plain decimal goes on to the parameter's range
    check, anything else is 422 at the parameter. (pydantic's own parsing, like Python's `int()`, also reads
    `1_0` as 10, and takes spaces, a `+`, leading zeros and `10.0`.)"""
    if isinstance(value, str) and PLAIN_INTEGER.fullmatch(value) is None:
        raise PydanticCustomError("int_parsing", "Input should be a plain decimal integer (digits only, "
                                  "without leading zeros, a sign, spaces, underscores or a fraction)")
    return value


PlainInteger = BeforeValidator(plain_integer)
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Actor = Annotated[str | None, Depends(get_actor)]
JsonBody = Depends(require_json)
MergePatchBody = Depends(require_merge_patch)
Conditions = Annotated[etags.Preconditions, Depends(preconditions)]
OverrideConditions = Annotated[etags.Preconditions, Depends(override_preconditions)]
VersionPath = Annotated[int, PlainInteger, Path(ge=1, le=2147483647, description="A version of the configuration.")]
RevisionCursor = Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,8}$",
                                             description="The `next_cursor` of the previous page.")]
Limit = Annotated[int, PlainInteger, Query(ge=1, le=500, description="Items per page.")]
Cursor = Annotated[str | None, Query(min_length=26, max_length=26, pattern=PATTERN.pattern,
                                     description="The `next_cursor` of the previous page.")]
Wait = Annotated[int | None, PlainInteger, Query(ge=1, le=300,
                                                 description="With If-None-Match: hold the answer until it changes.")]
After = Annotated[int, PlainInteger, Query(ge=0, le=9223372036854775807,
                                           description="The `seq` of the last change seen.")]
EpochQuery = Annotated[int | None, PlainInteger, Query(ge=1, le=4294967295,
                                                      description="The `epoch` of the page that gave `after`.")]
NameQuery = Annotated[str | None, Query(min_length=1, max_length=names.MAX_LENGTH, pattern=names.PATTERN,
                                        description="Only the item with exactly this name.")]
EnvironmentQuery = Annotated[str, Query(min_length=26, max_length=26, pattern=PATTERN.pattern,
                                        description="The environment whose view to read (its ULID).")]
CompareFrom = Annotated[str | None, Query(alias="from", min_length=26, max_length=26, pattern=PATTERN.pattern,
                                          description="The first side's environment; none: the own `config`.")]
CompareTo = Annotated[str, Query(alias="to", min_length=26, max_length=26, pattern=PATTERN.pattern,
                                 description="The second side's environment.")]
NameRequired = Annotated[str, Query(min_length=1, max_length=names.MAX_LENGTH, pattern=names.PATTERN,
                                    description="A name.")]
