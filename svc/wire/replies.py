"""What handlers answer: JSON serialized once from a generated model, or from database rows in a model's shape
(`render_json`, the configuration documents spliced in as the text PostgreSQL returned), and 304."""

import enum
import functools
import types
import typing
from typing import Any

from fastapi import Response
from pydantic import BaseModel, PlainSerializer, RootModel, SerializationInfo, TypeAdapter
from pydantic.fields import FieldInfo

from wire import jsontext, models


def not_modified(etag: str, age: int | None = None) -> Response:
    """304: the client's copy is current (or, with `age`, was so `age` seconds ago: a stale answer); no body."""
    return Response(status_code=304, headers={"ETag": etag} if age is None else {"ETag": etag, "Age": str(age)})


def reply(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized once from a generated model."""
    return Response(model.model_dump_json(), status_code=status, headers=headers, media_type="application/json")


def reply_trusted(model: type[BaseModel], data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A JSON response of `data` (database rows) in the shape of the generated `model`, serialized once and not
    validated again: the writes were validated and the columns carry the same limits."""
    body = render_json(model, data)
    if status < 200 or status in (204, 304) or headers is not None and not _TRUSTED_HEADERS.isdisjoint(
            name.lower() for name in headers):
        return Response(body, status_code=status, headers=headers, media_type="application/json")
    return Trusted(body, status, headers)


# What `Trusted` adds itself, as Starlette does unless given.
_TRUSTED_HEADERS = frozenset(("content-length", "content-type"))


class Trusted(Response):
    """`Response(body, status_code=status, headers=headers, media_type="application/json")`, made without Starlette's
    general rendering of its headers (0.7 µs against 1.6-2.8 in a tight loop, on every write's answer): the same
    status, body and headers in the same order (those given, named in lower case, then its length and type), for a
    status with a body and headers that name neither (`reply_trusted` makes a `Response` of anything else;
    `replies_test` compares the two)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.status_code = status
        self.background = None
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()] \
            if headers else []
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
        raw.append((b"content-type", b"application/json"))
        self.raw_headers = raw


def render_json(model: type[BaseModel], data: Any) -> bytes:
    """`data` serialized as `model` would be, with each configuration document (`jsontext.Raw`, the text
    PostgreSQL returned) spliced in verbatim, so its numbers are exactly the stored ones."""
    held = _ONE_DOCUMENT.get(model)
    if held is not None and type(data) is dict and type(data.get(held)) is jsontext.Raw:
        # A configuration's or an override's row, as every write answers: its one document written as the mark by a
        # serializer that calls nothing back (the document's `PlainSerializer` did, for each), then spliced in. 2.9
        # µs against 4.1 in a tight loop; `replies_test` compares the two.
        head, _, tail = _serializer(model, str).dump_json({**data, held: "\x00"}).partition(_MARK)
        return b"".join((head, data[held].encode(), tail))
    return _rendered(model, data)


# The models of rows with one document, and its member.
_ONE_DOCUMENT = {models.ConfigurationResource: "config", models.Override: "patch"}


def _rendered(model: type[BaseModel], data: Any) -> bytes:
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
def _serializer(model: type[BaseModel], document: Any = _Document) -> TypeAdapter:
    """A serializer for plain dicts that writes exactly what `model` writes (`replies_test` compares them), each
    configuration document as `document` (`_mirror`)."""
    return TypeAdapter(_mirror(model, document))


def _mirror(annotation: Any, document: Any = _Document) -> Any:
    """`annotation` with each generated model replaced by a TypedDict of the same fields, each root model by its
    root type and each enum by the literal values it names, so that rows (which hold the enum's text, as stored)
    serialize without being turned into model instances first; each configuration document as `document`."""
    if annotation is models.ConfigDocument:
        return document
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return typing.Literal[tuple(member.value for member in annotation)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_mirror(a, document) for a in typing.get_args(annotation))]
    if origin is list:
        (item,) = typing.get_args(annotation)
        return list[_mirror(item, document)]
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        return _field(annotation.model_fields["root"], document)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {name: _field(field, document) for name, field in annotation.model_fields.items()}
        return typing.TypedDict(f"{annotation.__name__}Row", fields)  # type: ignore[operator]
    return annotation


def _field(field: FieldInfo, document: Any) -> Any:
    # Keep the field's own serializers (the ULID's PlainSerializer); drop nothing that changes the output.
    inner = _mirror(field.annotation, document)
    return typing.Annotated[inner, *field.metadata] if field.metadata else inner
