"""Dependencies the handlers ask for, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from database import Database
from settings import Settings
from ulids import PATTERN


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
IfMatch = Annotated[str | None, Header(description="Write only when the current ETag is one of these.")]
IfNoneMatch = Annotated[str | None, Header(description="Answer 304 when the current ETag is one of these.")]
VersionPath = Annotated[int, Path(ge=1, le=2147483647, description="A version of the configuration.")]
RevisionCursor = Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,8}$",
                                             description="The `next_cursor` of the previous page.")]
IdPath = Annotated[str, Path(min_length=26, max_length=26, pattern=PATTERN.pattern, description="The resource's ULID.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Cursor = Annotated[str | None, Query(min_length=26, max_length=26, pattern=PATTERN.pattern,
                                     description="The `next_cursor` of the previous page.")]
NameQuery = Annotated[str | None, Query(min_length=1, max_length=256, pattern=r"^[^\u0000]*$",
                                        description="Only the item with exactly this name.")]
