"""What goes in and out of handlers: storable text checks and JSON replies built from the generated models."""

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from problems import Unprocessable


def check_storable(value: Any, pointer: str = "") -> None:
    """Refuse text PostgreSQL cannot store: NUL (U+0000) and unpaired surrogates, in keys and values at any depth."""
    if isinstance(value, str):
        _check_text(value, pointer)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
            _check_text(key, child)
            check_storable(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{pointer}/{index}")


def _check_text(text: str, pointer: str) -> None:
    if "\x00" in text:
        raise Unprocessable.at(pointer, "Text cannot contain the NUL character (U+0000).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # The pointer itself would carry the surrogate into the response, which cannot be encoded either.
        safe = pointer.encode("utf-8", "backslashreplace").decode("ascii")
        raise Unprocessable.at(safe, "Text cannot contain unpaired UTF-16 surrogates.") from None


def not_modified(etag: str) -> Response:
    """304: the client's copy is current; no body."""
    return Response(status_code=304, headers={"ETag": etag})


def reply(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized once from a generated model."""
    return Response(model.model_dump_json(), status_code=status, headers=headers, media_type="application/json")
