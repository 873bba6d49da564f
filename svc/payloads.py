"""What goes in and out of handlers: storable text checks and JSON replies built from the generated models."""

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from problems import Unprocessable


def check_storable(value: Any, max_depth: int, pointer: str = "", depth: int = 1) -> None:
    """Refuse what PostgreSQL cannot store, NUL (U+0000) and unpaired surrogates, in keys and values at any
    depth, and documents nested deeper than `max_depth` (the body object itself is depth 1)."""
    if isinstance(value, str):
        _check_text(value, pointer)
    elif isinstance(value, dict | list):
        if depth > max_depth:
            raise Unprocessable.at(_encodable(pointer), f"JSON may nest at most {max_depth} levels deep.")
        if isinstance(value, dict):
            for key, item in value.items():
                child = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
                _check_text(key, child)
                check_storable(item, max_depth, child, depth + 1)
        else:
            for index, item in enumerate(value):
                check_storable(item, max_depth, f"{pointer}/{index}", depth + 1)


def _check_text(text: str, pointer: str) -> None:
    if "\x00" in text:
        raise Unprocessable.at(pointer, "Text cannot contain the NUL character (U+0000).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable.at(_encodable(pointer), "Text cannot contain unpaired UTF-16 surrogates.") from None


def _encodable(pointer: str) -> str:
    # A pointer through a key with a surrogate would carry it into the response, which cannot encode it.
    return pointer.encode("utf-8", "backslashreplace").decode("utf-8")


def check_body(body: BaseModel, *, max_depth: int, max_config_keys: int) -> dict[str, Any]:
    """A validated body as plain data, once it is known to be storable and within the limits."""
    data = body.model_dump()
    check_storable(data, max_depth)
    config = data.get("config")
    if config is not None and len(config) > max_config_keys:
        raise Unprocessable.at("/config", f"A configuration may have at most {max_config_keys} top-level keys.")
    return data


def not_modified(etag: str) -> Response:
    """304: the client's copy is current; no body."""
    return Response(status_code=304, headers={"ETag": etag})


def reply(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized once from a generated model."""
    return Response(model.model_dump_json(), status_code=status, headers=headers, media_type="application/json")
