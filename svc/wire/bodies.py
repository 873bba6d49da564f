"""A write's body, once validated against the contract: refused with a pointer where PostgreSQL could not store it
or the settings' limits do not allow it, else handed on as plain data."""

import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from settings import Settings
from wire import jsontext, models, names
from wire.problems import NUL_IN_TEXT, SURROGATE_IN_TEXT, Unprocessable


def check_storable(value: Any, max_depth: int, max_width: int | None = None, said: int | None = None) -> None:
    """Refuse what PostgreSQL cannot store, NUL (U+0000) and unpaired surrogates, in keys and values at any
    depth, NaN, Infinity and numbers beyond `numeric`, and documents nested deeper than `max_depth` (the body
    object itself is depth 1). With `max_width`, refuse also numbers with a fraction or an exponent that, written
    out in full as every read returns them (`jsontext.width`), take more than `max_width` characters in all: a
    body of a few bytes (`1e131071`) would otherwise be read back as 131,072, a thousand of them as 131 MB."""
    width = _fine(value, max_depth, 1)
    if width < 0 or (max_width is not None and width > max_width):
        _refuse(value, max_depth, "", 1, _Budget(max_width, said))


class _Budget:
    """What is left of `max_width` as `_refuse` walks the numbers."""

    __slots__ = ("left", "limit", "said")

    def __init__(self, limit: int | None, said: int | None = None) -> None:
        self.limit = limit
        self.left = limit
        self.said = said  # the depth a refusal names, when not the one checked (`check_body`'s `holding`)


# An integer within this is storable (numeric holds 131072 digits before the point): no need to count its digits.
_SMALL = 10**18


def _fine(value: Any, max_depth: int, depth: int) -> int:
    """The width of `value`'s numbers with a fraction or an exponent written out in full (`jsontext.width`), when
    `_refuse` would find nothing else to refuse in it, found without building a pointer for each key and value as
    `_refuse` does: 2.0 µs for the bench's PUT body against 5.9 (in-process, a CI-sized machine). -1 for anything
    it is not sure of: `_refuse` then walks it again and says what is wrong, or accepts it."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            return -1
        if value.isascii():
            return 0
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return -1
        return 0
    if kind is int:
        return 0 if -_SMALL < value < _SMALL else -1
    if kind is dict:
        if depth > max_depth:
            return -1
        total = 0
        for key, item in value.items():
            if _fine(key, max_depth, depth) < 0 or (width := _fine(item, max_depth, depth + 1)) < 0:
                return -1
            total += width
        return total
    if kind is list:
        if depth > max_depth:
            return -1
        total = 0
        for item in value:
            if (width := _fine(item, max_depth, depth + 1)) < 0:
                return -1
            total += width
        return total
    if kind is Decimal:
        return jsontext.width(value)
    return 0 if value is None or kind is bool or kind is float else -1


def _refuse(value: Any, max_depth: int, pointer: str, depth: int, budget: _Budget | None = None) -> None:
    """`check_storable`'s walk that raises Unprocessable with the pointer of what PostgreSQL cannot store, or of
    the number past the budget of widths."""
    if isinstance(value, jsontext.NonNumber):
        raise Unprocessable.at(_encodable(pointer), f"{value.text} is not a JSON number.")
    if isinstance(value, str):
        _check_text(value, pointer)
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        if isinstance(value, Decimal) and value.is_infinite():  # (`jsontext._parse_float`)
            raise Unprocessable.at(_encodable(pointer), "The number's exponent is larger than can be stored.")
        if not jsontext.storable(value):
            raise Unprocessable.at(_encodable(pointer), "The number has more digits than can be stored "
                                   f"({jsontext.MAX_INTEGER_DIGITS} before the decimal point, "
                                   f"{jsontext.MAX_FRACTION_DIGITS} after it).")
        if isinstance(value, Decimal) and budget is not None and budget.left is not None:
            budget.left -= jsontext.width(value)
            if budget.left < 0:
                raise Unprocessable.at(_encodable(pointer), WIDE.format(budget.limit))
    elif isinstance(value, dict | list):
        if depth > max_depth:
            said = budget.said if budget is not None and budget.said is not None else max_depth
            raise Unprocessable.at(_encodable(pointer), f"JSON may nest at most {said} levels deep.")
        if isinstance(value, dict):
            for key, item in value.items():
                child = pointer + "/" + key.replace("~", "~0").replace("/", "~1")
                _check_text(key, child)
                _refuse(item, max_depth, child, depth + 1, budget)
        else:
            for index, item in enumerate(value):
                _refuse(item, max_depth, f"{pointer}/{index}", depth + 1, budget)


WIDE = ("Written out in full, as every read returns them, the body's numbers with a fraction or an exponent take "
        "more than {0:,} characters (MAX_BODY_BYTES) up to this one: write fewer such numbers, or ones with fewer "
        "digits.")


def _check_text(text: str, pointer: str) -> None:
    if "\x00" in text:
        raise Unprocessable.at(pointer, NUL_IN_TEXT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable.at(_encodable(pointer), SURROGATE_IN_TEXT) from None


def _encodable(pointer: str) -> str:
    # A pointer through a key with a surrogate would carry it into the response, which cannot encode it.
    return pointer.encode("utf-8", "backslashreplace").decode("utf-8")


def check_body(body: BaseModel, settings: Settings, holding: int = 0) -> dict[str, Any]:
    """A validated body as plain data, once it is known to be storable and within the settings' limits. `holding`:
    how many levels deeper than in a body of its own the body holds a document (a configuration's `config`, an
    override's `patch`); the body may nest that much deeper, and each document is held to its own depth by
    `check_depth`."""
    return checked(body.model_dump(), settings, holding)


def checked(data: dict[str, Any], settings: Settings, holding: int = 0) -> dict[str, Any]:
    """`check_body` of a body's plain data (`model_dump()`'s, or `plain_update`'s)."""
    # (A document nested too deep is refused naming the depth a body of its own has: `check_depth`'s.)
    check_storable(data, settings.max_json_depth + holding, settings.max_body_bytes,
                   said=settings.max_json_depth if holding else None)
    if data.get("name") is not None:
        data["name"] = names.canonical(data["name"], "/name")
    for document in ("config", "patch"):  # a configuration's document, an override's patch: the same limits
        if data.get(document) is not None and len(data[document]) > settings.max_config_keys:
            raise Unprocessable.at(f"/{document}", f"A configuration may have at most {settings.max_config_keys} "
                                                   "top-level keys.")
    return data


# A name that the contract's `Name` takes as it is and that is already in NFC: printable ASCII, no space at either
# end, at most MAX_LENGTH characters (the pattern refuses only control and format characters, and spaces at the ends).
_PLAIN_NAME = re.compile(r"[!-~](?:[ -~]{0,%d}[!-~])?" % (names.MAX_LENGTH - 2))
_COMMENTS_MAX = 1024  # the contract's `Comments` (`bodies_test` reads them there)
_CONFIG_KEYS_MAX = 1000  # the contract's `ConfigDocument`
# The bodies `plain_update` takes: each model's members in its order, those it requires, and its document's.
_PLAIN = {model: (members, frozenset(members), frozenset(required), held) for model, members, required, held in (
    (models.ConfigurationUpdate, ("name", "comments", "config"), ("name", "config"), "config"),
    (models.OverrideWrite, ("patch", "comments"), ("patch",), "patch"))}


def plain_update(document: Any, model: type[BaseModel] = models.ConfigurationUpdate) -> dict[str, Any] | None:
    """The plain data of a PUT's body (`jsontext.loads`'s `document`) as `model` gives it (`model_validate`, then
    `model_dump`), `ConfigurationUpdate` or `OverrideWrite`, for the bodies nearly every PUT sends: an object of its
    document (an object of at most the contract's keys), perhaps `comments` (null, or text within the contract's
    length), and a configuration's `name` (printable ASCII, `_PLAIN_NAME`). None for any other: the model decides
    it, and refuses it or not as before. What the model leaves to `check_body` (the storable text and numbers, the
    settings' limits) is still to be checked (`checked`). The model costs a PUT 4-5 µs in a tight loop, twice that
    under load (svc/README.md, Where a PUT's time goes); `bodies_test` holds the two to the same answers."""
    members, allowed, required, held = _PLAIN[model]
    if type(document) is not dict or not document.keys() <= allowed or not required <= document.keys():
        return None
    name, inner, comments = document.get("name"), document[held], document.get("comments")
    if "name" in required and (type(name) is not str or _PLAIN_NAME.fullmatch(name) is None) \
            or type(inner) is not dict or len(inner) > _CONFIG_KEYS_MAX \
            or not (comments is None or type(comments) is str and len(comments) <= _COMMENTS_MAX and _text(comments)):
        return None
    try:
        keys = "".join(inner)  # (every key text: checked at once)
    except TypeError:
        return None
    if not _text(keys):
        return None
    return {member: document.get(member) for member in members}


def _text(text: str) -> bool:
    """Whether the model takes `text` where its pattern is "no NUL": it refuses NUL, and an unpaired surrogate, which
    is no Unicode string to it."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_depth(document: Any, max_depth: int, pointer: str) -> None:
    """422 at the first value of `document` (a configuration's `config`, an override's `patch`, at `pointer`) nested
    deeper than in a body of its own (`{"config": ...}`, where its root is at depth 2) it may be. An import holds a
    document four levels deeper than that, a change set two: a configuration that a PUT wrote must round-trip
    through them (an export of one 29 levels deep could not be planned back)."""
    if document is not None and _fine(document, max_depth, 2) < 0:
        _refuse(document, max_depth, pointer, 2)


# The members of a body that may be null (an import's, a change set's, a patch's); any other sent as null is
# refused (the generated models take an absent optional member as None, and so would take a null for one).
NULLABLE = {"comments"}


def refuse_nulls(body: BaseModel, pointer: str = "") -> None:
    """422 at the first member sent as null that the contract does not allow to be null, at any depth."""
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in NULLABLE:
            raise Unprocessable.at(f"{pointer}/{name}", "This member may be omitted, but not null.")
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, BaseModel) and item.model_fields_set:
                refuse_nulls(item, f"{pointer}/{name}" + (f"/{index}" if isinstance(value, list) else ""))
