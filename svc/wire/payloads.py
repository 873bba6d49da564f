"""What goes in and out of handlers: storable text checks and JSON replies built from the generated models."""

import enum
import functools
import types
import typing
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, PlainSerializer, RootModel, SerializationInfo, TypeAdapter
from pydantic.fields import FieldInfo

from wire import jsontext
from wire import models
from wire import names
from wire.problems import Unprocessable
from settings import Settings


class _ExactJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = jsontext.loads(await self.body())
        return self._json


class ExactJsonRoute(APIRoute):
    """A route whose JSON body is parsed by `jsontext.loads`: numbers exact, NaN and Infinity kept for refusal."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def exact(request: Request) -> Response:
            return await handler(_ExactJsonRequest(request.scope, request.receive))

        return exact


def check_storable(value: Any, max_depth: int, pointer: str = "", depth: int = 1) -> None:
    """Refuse what PostgreSQL cannot store, NUL (U+0000) and unpaired surrogates, in keys and values at any
    depth, NaN, Infinity and numbers beyond `numeric`, and documents nested deeper than `max_depth` (the body
    object itself is depth 1)."""
    if isinstance(value, jsontext.NonNumber):
        raise Unprocessable.at(_encodable(pointer), f"{value.text} is not a JSON number.")
    if isinstance(value, str):
        _check_text(value, pointer)
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        if not jsontext.storable(value):
            raise Unprocessable.at(_encodable(pointer), "The number has more digits than can be stored "
                                   f"({jsontext.MAX_INTEGER_DIGITS} before the decimal point, "
                                   f"{jsontext.MAX_FRACTION_DIGITS} after it).")
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


def check_body(body: BaseModel, settings: Settings) -> dict[str, Any]:
    """A validated body as plain data, once it is known to be storable and within the settings' limits."""
    data = body.model_dump()
    check_storable(data, settings.max_json_depth)
    if data.get("name") is not None:
        data["name"] = names.canonical(data["name"], "/name")
    config = data.get("config")
    if config is not None and len(config) > settings.max_config_keys:
        raise Unprocessable.at("/config",
                               f"A configuration may have at most {settings.max_config_keys} top-level keys.")
    return data


def not_modified(etag: str) -> Response:
    """304: the client's copy is current; no body."""
    return Response(status_code=304, headers={"ETag": etag})


def reply(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized once from a generated model."""
    return Response(model.model_dump_json(), status_code=status, headers=headers, media_type="application/json")


def reply_trusted(model: type[BaseModel], data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A JSON response of `data` (database rows) in the shape of the generated `model`, serialized once and not
    validated again: the writes were validated and the columns carry the same limits."""
    return Response(render_json(model, data), status_code=status, headers=headers, media_type="application/json")


def render_json(model: type[BaseModel], data: Any) -> bytes:
    """`data` serialized as `model` would be, with each configuration document (`jsontext.Raw`, the text
    PostgreSQL returned) spliced in verbatim, so its numbers are exactly the stored ones."""
    documents: list[str] = []
    body = _serializer(model).dump_json(data, context=documents)
    if not documents:
        return body
    # Each document was written as the string "\u0000", which nothing else in a response can contain: stored
    # text never holds NUL. Splice the documents back in order.
    parts = body.split(_MARK)
    out = [parts[0]]
    for document, part in zip(documents, parts[1:], strict=True):
        out.append(document.encode())
        out.append(part)
    return b"".join(out)


_MARK = b'"\\u0000"'


def _document(value: Any, info: SerializationInfo) -> Any:
    if isinstance(value, jsontext.Raw) and isinstance(info.context, list):
        info.context.append(value)
        return "\x00"
    return value


_Document = typing.Annotated[Any, PlainSerializer(_document)]


@functools.cache
def _serializer(model: type[BaseModel]) -> TypeAdapter:
    """A serializer for plain dicts that writes exactly what `model` writes (`payloads_test` compares them)."""
    return TypeAdapter(_mirror(model))


def _mirror(annotation: Any) -> Any:
    """`annotation` with each generated model replaced by a TypedDict of the same fields, each root model by its
    root type and each enum by the literal values it names, so that rows (which hold the enum's text, as stored)
    serialize without being turned into model instances first."""
    if annotation is models.ConfigDocument:
        return _Document
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return typing.Literal[tuple(member.value for member in annotation)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_mirror(a) for a in typing.get_args(annotation))]
    if origin is list:
        (item,) = typing.get_args(annotation)
        return list[_mirror(item)]
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        return _field(annotation.model_fields["root"])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {name: _field(field) for name, field in annotation.model_fields.items()}
        return typing.TypedDict(f"{annotation.__name__}Row", fields)  # type: ignore[operator]
    return annotation


def _field(field: FieldInfo) -> Any:
    # Keep the field's own serializers (the ULID's PlainSerializer); drop nothing that changes the output.
    inner = _mirror(field.annotation)
    return typing.Annotated[inner, *field.metadata] if field.metadata else inner
