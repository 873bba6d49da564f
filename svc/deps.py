"""Dependencies the handlers ask for, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from database import Database
from ulids import PATTERN


def get_database(request: Request) -> Database:
    return request.app.state.database


DatabaseDep = Annotated[Database, Depends(get_database)]
IdPath = Annotated[str, Path(min_length=26, max_length=26, pattern=PATTERN.pattern, description="The resource's ULID.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Cursor = Annotated[str | None, Query(min_length=26, max_length=26, pattern=PATTERN.pattern,
                                     description="The `next_cursor` of the previous page.")]
NameQuery = Annotated[str | None, Query(min_length=1, max_length=256, pattern=r"^[^\u0000]*$",
                                        description="Only the item with exactly this name.")]
