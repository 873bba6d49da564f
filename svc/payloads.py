"""What goes in and out of handlers: storable text checks and JSON replies built from the generated models."""

import functools
import types
import typing
from collections.abc import Callable
from typing import Any

from fastapi import Response
from pydantic import BaseModel, RootModel

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


def trusted[M: BaseModel](model: type[M], data: dict[str, Any]) -> M:
    """A generated model built from a database row without validating it again.

    The database already holds only what the contract allows (the writes were validated, the columns have the
    same limits), so reads skip pydantic's validation: for an application with 1,000 configuration ids that is
    1,000 ULID parses per request. Serialization is unchanged (`payloads_test` checks it against validation).
    """
    plan = _plan(model)
    return _construct(model, {name: (build(data[name]) if build and data[name] is not None else data[name])
                              for name, build in plan.items()})


def _construct[M: BaseModel](model: type[M], values: dict[str, Any]) -> M:
    # What `model_construct` does for a complete set of fields, without its per-call bookkeeping (it costs
    # more than the serialization itself on a 50-item page). The attributes are pydantic's documented ones.
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def _root(model: type[RootModel]) -> Callable[[Any], Any]:
    return lambda value: _construct(model, {"root": value})


@functools.cache
def _plan(model: type[BaseModel]) -> dict[str, Callable[[Any], Any] | None]:
    """For each field of `model`: how to wrap a plain value into the field's generated type (None: as is)."""
    plan: dict[str, Callable[[Any], Any] | None] = {}
    for name, field in model.model_fields.items():
        plan[name] = _builder(field.annotation)
    return plan


def _builder(annotation: Any) -> Callable[[Any], Any] | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        builders = [b for b in map(_builder, typing.get_args(annotation)) if b is not None]
        return builders[0] if builders else None
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        build = _builder(item)
        return (lambda values: [build(v) for v in values]) if build else None
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        return _root(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return functools.partial(trusted, annotation)
    return None
