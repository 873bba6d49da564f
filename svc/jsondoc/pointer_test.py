"""JSON Pointers as RFC 6901 writes them."""

import pytest

from jsondoc.pointer import PointerError, index, join, split


@pytest.mark.parametrize("tokens", [[], [""], ["a/b", "m~n"], ["~01", "/", "~"], ["0", "-"]])
def test_joined_tokens_split_back(tokens):
    pointer = ""
    for token in tokens:
        pointer = join(pointer, token)
    assert split(pointer) == tokens


def test_rfc6901_examples():
    assert split("/a~1b") == ["a/b"] and split("/m~0n") == ["m~n"] and split("/") == [""]
    assert split("/~01") == ["~1"]  # ~0 first undone last: "~01" is "~" then "1"


@pytest.mark.parametrize("pointer", ["a", "/~", "/~2", "/a~"])
def test_what_is_not_a_pointer_is_refused(pointer):
    with pytest.raises(PointerError):
        split(pointer)


def test_array_indices_are_plain_decimals_in_range():
    assert index("0", 1) == 0 and index("1", 1, end=True) == 1 and index("-", 3, end=True) == 3
    for token, length in [("01", 5), ("-1", 5), ("+1", 5), ("1", 1), ("-", 3), ("١", 5)]:
        with pytest.raises(PointerError):
            index(token, length)
