from wire import headers

SCOPE = {"headers": [(b"host", b"a"), (b"x-request-id", b"one"), (b"host", b"b"), (b"x-request-id", b"two")]}


def test_lines_are_every_line_of_the_name_in_order():
    assert headers.lines(SCOPE, b"host") == [b"a", b"b"]
    assert headers.lines(SCOPE, b"authorization") == []


def test_first_is_the_first_line_only():
    assert headers.first(SCOPE, b"x-request-id") == b"one"
    assert headers.first(SCOPE, b"authorization") is None



def cache_control(*values: bytes) -> dict:
    return {"headers": [(b"cache-control", value) for value in values]}


def test_staleness_reads_max_stale_and_stale_if_error_as_rfc_9111_and_5861_write_them():
    staleness = headers.staleness
    S = headers.Staleness
    assert staleness(SCOPE) is None and staleness(cache_control(b"no-store, max-age=5")) is None
    assert staleness(cache_control(b"max-stale=60")) == S(always=60)
    assert staleness(cache_control(b"Max-Stale")) == S(always=float("inf"))  # no value: any; names ignore case
    assert staleness(cache_control(b'stale-if-error="300"')) == S(if_error=300)  # quoted-string accepted
    assert staleness(cache_control(b"max-stale=60, stale-if-error=300")) == S(60, 300)
    assert staleness(cache_control(b"max-stale=60", b"max-stale=10")) == S(always=10)  # lines are one list
    assert staleness(cache_control(b"max-stale=300, max-age=20")) == S(always=20)  # max-age caps max-stale
    assert staleness(cache_control(b"max-stale, max-age=soon")) == S(always=0)  # a bad max-age: 0
    assert staleness(cache_control(b"stale-if-error=300, max-age=0")) == S(if_error=300)  # RFC 5861: whatever
    assert staleness(cache_control(b"max-stale=0000000000005")) == S(always=5)  # leading zeros are no digits
    assert staleness(cache_control(b'ext=", max-stale", private')) is None  # a comma in quotes separates nothing
    assert staleness(cache_control(b'ext="a\\", no-cache", max-stale')) == S(always=float("inf"))  # quoted pair
    assert staleness(cache_control(b'ext="a\\"", no-cache, max-stale')) is None
    assert staleness(cache_control(b"max-stale=60, no-cache")) is None
    assert staleness(cache_control(b"max-stale=99999999999999999999")) == S(always=2**31)  # RFC 9111 1.2.2
    assert staleness(cache_control(b"max-stale=" + b"9" * 5000)) == S(always=2**31)  # no int() of it
    for ignored in (b"max-stale=-1", b"max-stale=1.5", b"max-stale=", b"stale-if-error", b"max-stale=\xd9\xa3",
                    b"max-stale=\"", b",,,", b"", b"=5", b"private, must-revalidate"):
        assert staleness(cache_control(ignored)) is None, ignored
