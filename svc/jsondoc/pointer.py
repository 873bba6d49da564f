"""JSON Pointers (RFC 6901): a path of object keys and array indices written as one string."""


class PointerError(ValueError):
    """A string that is not a JSON Pointer, or one that names nothing in a document."""


def join(parent: str, token: str | int) -> str:
    """`parent` extended by one key or index, escaped (`~` as `~0`, `/` as `~1`)."""
    return f"{parent}/{str(token).replace('~', '~0').replace('/', '~1')}"


def split(pointer: str) -> list[str]:
    """The unescaped reference tokens of `pointer` (`""` is the whole document: no tokens)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"{pointer!r} is not a JSON Pointer: it must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if "~" in token.replace("~0", "").replace("~1", ""):
            raise PointerError(f"{pointer!r} is not a JSON Pointer: '~' must be followed by 0 or 1")
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def index(token: str, length: int, *, end: bool = False) -> int:
    """An array index as RFC 6901 spells it (no sign, no leading zero), below `length` (or equal to it, and `-`
    for it, when `end`: where an element is added)."""
    if end and token == "-":
        return length
    if not token.isascii() or not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PointerError(f"{token!r} is not an array index")
    position = int(token)
    if position > length or (position == length and not end):
        raise PointerError(f"index {position} is out of range (the array has {length} elements)")
    return position
