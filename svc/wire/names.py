"""Names are identifiers people read, so two names that look the same must be the same name.

A name is stored in Unicode NFC (a request's name is normalized, so `café` as one code point or as `e` + U+0301 is
one name), is not blank, has no leading or trailing whitespace, and holds no control or format character
(categories Cc and Cf: tabs, zero-width spaces, bidi overrides). `PATTERN` says the same in the contract's regular
expression dialect (ECMA-262, Python and Rust agree on it). It lists the Cc and Cf characters of the Basic
Multilingual Plane; the few Cf characters outside it (`ASTRAL_FORMAT`) cannot be written the same way in every
dialect, so `canonical` refuses them itself and the contract names them in prose.
"""

import unicodedata

from wire.problems import Unprocessable

MAX_LENGTH = 256
# Unicode's White_Space characters that are neither Cc nor Cf.
SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Categories Cc and Cf in the Basic Multilingual Plane (Unicode 15.1).
CONTROL = (r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
           r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb")
PATTERN = rf"^[^{SPACE}{CONTROL}](?:[^{CONTROL}]*[^{SPACE}{CONTROL}])?$"
# Category Cf outside the Basic Multilingual Plane.
ASTRAL_FORMAT = "U+110BD, U+110CD, U+13430-U+1343F, U+1BCA0-U+1BCA3, U+1D173-U+1D17A, U+E0001, U+E0020-U+E007F"
RULE = ("A name is 1 to 256 characters in Unicode NFC, not blank, without leading or trailing whitespace, and "
        "without control or format characters (Unicode categories Cc and Cf).")


def canonical(name: str, pointer: str) -> str:
    """`name` in NFC; 422 at `pointer` when it breaks the rule (the schema's pattern has checked the rest)."""
    if not name.isascii():
        if any(ord(c) > 0xFFFF and unicodedata.category(c) == "Cf" for c in name):
            raise Unprocessable.at(pointer, RULE)
        name = unicodedata.normalize("NFC", name)
        if len(name) > MAX_LENGTH:
            raise Unprocessable.at(pointer, f"{RULE} This one is longer than {MAX_LENGTH} in NFC.")
    return name



def looked_up(name: str | None) -> str | None:
    """The `name` query parameter as stored names are: in NFC."""
    return None if name is None else canonical(name, "#/query/name")
