"""A write's body, once validated against the contract: refused with a pointer where PostgreSQL could not store it
or the settings' limits do not allow it, else handed on as plain data."""

from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from settings import Settings
from wire import jsontext, names
from wire.problems import NUL_IN_TEXT, SURROGATE_IN_TEXT, Unprocessable


def check_storable(value: Any, max_depth: int) -> None:
    """Refuse what PostgreSQL cannot store, NUL (U+0000) and unpaired surrogates, in keys and values at any
    depth, NaN, Infinity and numbers beyond `numeric`, and documents nested deeper than `max_depth` (the body
    object itself is depth 1)."""
    if not _fine(value, max_depth, 1):
        _refuse(value, max_depth, "", 1)


# An integer within this is storable (numeric holds 131072 digits before the point): no need to count its digits.
_SMALL = 10**18


def _fine(value: Any, max_depth: int, depth: int) -> bool:
    """True when `_refuse` would find nothing to refuse in `value`, found without building a pointer for each key
    and value as `_refuse` does: 2.0 µs for the bench's PUT body against 5.9 (in-process, a CI-sized machine).
    False for anything it is not sure of: `_refuse` then walks it again and says what is wrong, or accepts it."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            return False
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if kind is int:
        return -_SMALL < value < _SMALL
    if kind is dict:
        if depth > max_depth:
            return False
        for key, item in value.items():
            if not (_fine(key, max_depth, depth) and _fine(item, max_depth, depth + 1)):
                return False
        return True
    if kind is list:
        if depth > max_depth:
            return False
        for item in value:
            if not _fine(item, max_depth, depth + 1):
                return False
        return True
    return value is None or kind is bool or kind is float or (kind is Decimal and jsontext.storable(value))


def _refuse(value: Any, max_depth: int, pointer: str, depth: int) -> None:
    """`check_storable`'s walk that raises Unprocessable with the pointer of what PostgreSQL cannot store."""
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
                _refuse(item, max_depth, child, depth + 1)
        else:
            for index, item in enumerate(value):
                _refuse(item, max_depth, f"{pointer}/{index}", depth + 1)


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


def check_body(body: BaseModel, settings: Settings) -> dict[str, Any]:
    """A validated body as plain data, once it is known to be storable and within the settings' limits."""
    data = body.model_dump()
    check_storable(data, settings.max_json_depth)
    if data.get("name") is not None:
        data["name"] = names.canonical(data["name"], "/name")
    for document in ("config", "patch"):  # a configuration's document, an override's patch: the same limits
        if data.get(document) is not None and len(data[document]) > settings.max_config_keys:
            raise Unprocessable.at(f"/{document}", f"A configuration may have at most {settings.max_config_keys} "
                                                   "top-level keys.")
    return data
