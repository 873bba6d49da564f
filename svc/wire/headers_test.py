from wire import headers

SCOPE = {"headers": [(b"host", b"a"), (b"x-request-id", b"one"), (b"host", b"b"), (b"x-request-id", b"two")]}


def test_lines_are_every_line_of_the_name_in_order():
    assert headers.lines(SCOPE, b"host") == [b"a", b"b"]
    assert headers.lines(SCOPE, b"authorization") == []


def test_first_is_the_first_line_only():
    assert headers.first(SCOPE, b"x-request-id") == b"one"
    assert headers.first(SCOPE, b"authorization") is None

