"""JSON numbers kept exactly: request bodies parsed without binary floats, documents written and read back as text.

PostgreSQL's `jsonb` keeps numbers as `numeric`, exactly. Python's `json` would round them through a double
(3.1415926535897932384626433832795028 → 3.141592653589793, 1e-400 → 0.0) and accepts NaN and ±Infinity, which
JSON has not. Here fractions and exponents parse as `Decimal`, the non-numbers as `NonNumber` (which the body
checks refuse with a pointer), `dumps` writes `Decimal` as the number it is, and `jsonb` read from the database
stays the text PostgreSQL wrote (`Raw`), which responses carry verbatim.
"""

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

# PostgreSQL's numeric: up to 131072 digits before the decimal point and 16383 after it.
MAX_INTEGER_DIGITS = 131072
MAX_FRACTION_DIGITS = 16383
# Python refuses to turn longer digit strings into int (sys.get_int_max_str_digits); Decimal has no such limit.
_INT_DIGITS = 4000


class NonNumber:
    """`NaN`, `Infinity` or `-Infinity` where a request had it: not JSON, refused by the body checks (and not a
    string or number to any model field)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Raw(str):
    """A JSON document as text, exactly as PostgreSQL returned it."""


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _INT_DIGITS else Decimal(text)


def _parse_float(text: str) -> Decimal:
    """A number with a fraction or an exponent, exactly; one whose exponent is past what `Decimal` holds (10**18 and
    beyond, which JSON allows and no `numeric` stores) as an infinity of its sign, which `storable` refuses."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("-Infinity" if text.startswith("-") else "Infinity")


_decoder = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int, parse_constant=NonNumber)


def loads(text: str | bytes) -> Any:
    """Parse JSON as `json.loads` does, except that numbers with a fraction or exponent are `Decimal` (exact) and
    NaN/Infinity are `NonNumber`. Raises `json.JSONDecodeError` (a `ValueError`) on malformed input."""
    if isinstance(text, bytes | bytearray):
        text = _decoded(text)
    return _decoder.decode(text)


def _decoded(body: bytes | bytearray) -> str:
    """`body` as `json.loads` decodes it: in the encoding `json.detect_encoding` finds, which for a body that opens
    an object with a byte not NUL next (no BOM, no NUL: UTF-8) is not asked."""
    return body.decode("utf-8" if body[:1] == b"{" and body[1:2] != b"\x00" else json.detect_encoding(body),
                       "surrogatepass")


def storable(number: int | Decimal) -> bool:
    """True when PostgreSQL's numeric holds `number` exactly."""
    if isinstance(number, int):
        number = Decimal(number)
    if not number.is_finite():
        return False
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    return number.adjusted() < MAX_INTEGER_DIGITS and -exponent <= MAX_FRACTION_DIGITS


def width(number: Decimal) -> int:
    """The characters of `number` written out in full, as PostgreSQL's `numeric` writes it in every read (`1E+400`
    as `1` and 400 zeros, `1E-3` as `0.001`); -1 when `numeric` cannot hold it (`storable`)."""
    if not number.is_finite():
        return -1
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if number.adjusted() >= MAX_INTEGER_DIGITS or -exponent > MAX_FRACTION_DIGITS:
        return -1
    if exponent >= 0:
        return sign + (1 if digits == (0,) else len(digits) + exponent)
    return sign + max(len(digits) + exponent, 1) + 1 - exponent


def written(number: Decimal) -> str:
    """`number` as JSON text: as PostgreSQL's `numeric` writes it when it holds it, in full and with its scale
    (`1E+3` as `1000`, `1.0E-7` as `0.00000010`, `-0.0` as `0.0`), so that a document reads the same from every
    view of it (a configuration as stored, an export, an effective view, a diff) and two that would be stored alike
    are written alike (`jsondoc.patch.same`); else as `Decimal` writes it (what no read returns: a body's
    number the checks refuse). ValueError for NaN and the infinities, which JSON has not."""
    if not number.is_finite():
        raise ValueError(f"{number} is not a JSON number")
    text = str(number)
    if "E" not in text:  # (nearly every one: already in full, as `format(number, "f")` writes it)
        return text[1:] if text[0] == "-" and number.is_zero() else text
    if not storable(number):
        return text
    return format(number.copy_abs() if number.is_zero() else number, "f")


def dumps(value: Any, *, shortest: bool = False) -> str:
    """`value` as compact JSON, with `Decimal` written as the number it is (never through a float), as PostgreSQL
    writes it (`written`); with `shortest`, as `Decimal` writes it (`1E+300`, not 301 digits): the least a client
    may send it in (the size a PUT of it would have).

    A value without a `Decimal` (nor anything else `json` does not write) is written by `json`'s own encoder, in C,
    exactly as `_encode` writes it (text as `encode_basestring`, integers as `int.__repr__`, no spaces), two to three
    times faster: every write of a configuration writes its document. One with a `Decimal` is written by `_encode`.
    (A key that is a number, a boolean or null, which no parsed document has, is written by `json` as text, where
    `_encode` refuses it.)"""
    try:
        return "".join(_plain(value, 0))
    except _NotPlain:
        pass
    out: list[str] = []
    _encode(value, out, _shortest if shortest else written)
    return "".join(out)


class _NotPlain(Exception):
    """A value `json`'s encoder does not write (a `Decimal`, above all): `_encode` writes it."""


def _not_plain(value: Any) -> Any:
    raise _NotPlain


# `json`'s C encoder as `_encode` writes: no circular check (`_encode` makes none), no key skipped or sorted, no NaN.
_plain = c_make_encoder(None, _not_plain, encode_basestring, None, ":", ",", False, False, False)


def _shortest(number: Decimal) -> str:
    """`number` as `Decimal` writes it; ValueError for NaN and the infinities, as `written`."""
    if not number.is_finite():
        raise ValueError(f"{number} is not a JSON number")
    return str(number)


def _encode(value: Any, out: list[str], number: Callable[[Decimal], str] = written) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        out.append(number(value))  # (ValueError for NaN and the infinities)
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(key))
            out.append(":")
            _encode(item, out, number)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, number)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")
