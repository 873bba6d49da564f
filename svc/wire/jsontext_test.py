import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from wire import jsontext


def test_numbers_parse_exactly_and_write_back_as_the_same_numbers():
    text = '{"pi": 3.1415926535897932384626433832795028, "tiny": 1e-400, "big": 1E+400, "n": -0, "i": 12}'
    value = jsontext.loads(text)
    assert value["pi"] == Decimal("3.1415926535897932384626433832795028") and value["i"] == 12
    assert jsontext.loads(jsontext.dumps(value)) == value
    assert jsontext.dumps(value) == ('{"pi":3.1415926535897932384626433832795028,"tiny":0.' + "0" * 399 + '1,"big":1'
                                     + "0" * 400 + ',"n":0,"i":12}')


NUMBERS = ["1e21", "1.0E+2", "1e-7", "1.0e-7", "0.10", "-0.0", "-0", "0e5", "0.000", "123.456e1", "-12.5e-3", "1.50E-3",
           "1e400", "-1.5e-20", "0E-3", "-0E+5", "5e0", "9.999e-1", "1e-16383", "10E-1", "1" + "0" * 5000,
           "-3.1415926535897932384626433832795028"]


def test_numbers_are_written_as_postgresql_writes_them_so_every_view_of_a_document_reads_alike(sql):
    """A number's text is the one its configuration reads back with (an export, an effective view and a diff wrote
    `1.0E-7` where the configuration read `0.00000010`), and two numbers PostgreSQL would store alike are written
    alike (an import's plan took `1e21` for a change of the stored `1000000000000000000000`)."""
    for number in NUMBERS:
        sql.execute("SELECT (%s::jsonb)::text AS t", (f"[{number}]",))
        assert jsontext.dumps(jsontext.loads(f"[{number}]")) == sql.fetchone()["t"].replace(" ", ""), number
    assert jsontext.written(Decimal("1e131072")) == "1E+131072"  # (what numeric cannot hold, as Decimal writes it)


def test_integers_longer_than_python_converts_are_decimals():
    value = jsontext.loads(b"[1" + b"0" * 5000 + b"]")[0]
    assert value == Decimal(10) ** 5000 and jsontext.dumps([value]) == "[1" + "0" * 5000 + "]"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_kept_apart_for_refusal(constant):
    (value,) = jsontext.loads(f"[{constant}]")
    assert isinstance(value, jsontext.NonNumber) and value.text == constant
    with pytest.raises(TypeError):
        jsontext.dumps(value)


@pytest.mark.parametrize(("number", "storable"), [
    ("1e131071", True), ("1e131072", False), ("1e-16383", True), ("1e-16384", False), ("1.5e-16383", False),
    ("0", True), ("-1e400", True), ("NaN", False),
])
def test_storable_is_what_postgresql_numeric_holds(number, storable):
    # The bounds are PostgreSQL's (checked against it in test_hostile.py).
    assert jsontext.storable(Decimal(number)) is storable
    assert jsontext.storable(10**5000) and jsontext.storable(-(10**131071))


@pytest.mark.parametrize(("number", "written"), [
    ("1e3", "1000"), ("1.5", "1.5"), ("-1.50", "-1.50"), ("1e-3", "0.001"), ("-12.5e-3", "-0.0125"),
    ("0e5", "0"), ("0.000", "0.000"), ("123.456e1", "1234.56"),
])
def test_width_is_the_length_postgresql_writes_the_number_with(number, written):
    # (What PostgreSQL writes for each: checked against it in test_hostile.py.)
    assert jsontext.width(Decimal(number)) == len(written)
    assert jsontext.width(Decimal("1e131071")) == 131072 and jsontext.width(Decimal("1e131072")) == -1
    assert jsontext.width(Decimal("NaN")) == -1


def test_strings_and_structures_write_as_json_does():
    value = {"s": "a\"b\\\u00e9\U0001f422\n", "l": [None, True, False, 1.5, []], "o": {}}
    assert json.loads(jsontext.dumps(value)) == value
    with pytest.raises(ValueError):
        jsontext.loads('{"a": ')


def test_an_exponent_past_what_decimal_holds_parses_as_an_infinity_of_its_sign_which_is_not_storable():
    """JSON allows any exponent; Python's Decimal refuses one of 10**18 or more (InvalidOperation), which had made
    such a body a 400 as if it were not JSON."""
    value = jsontext.loads('[1e9999999999999999999, -2E+1000000000000000000, 0.0e-9999999999999999999]')
    assert [str(v) for v in value] == ["Infinity", "-Infinity", "Infinity"]
    assert not any(jsontext.storable(v) for v in value)


_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**301),
                    st.text(), st.text(alphabet=st.characters(max_codepoint=0x7f)), st.builds(jsontext.Raw, st.text()),
                    st.floats(), st.decimals(allow_nan=False), st.sampled_from([Decimal("NaN"), Decimal("-0.0")]),
                    st.just(jsontext.NonNumber("NaN")), st.just(object()))
_documents = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple), st.dictionaries(st.text(), inner, max_size=4)),
    max_leaves=16)


def _outcome(write):
    try:
        return write()
    except (TypeError, ValueError) as error:
        return type(error)


@hypothesis_settings(max_examples=800, deadline=None)
@given(_documents, st.booleans())
def test_json_writes_what_it_can_exactly_as_the_encoder_of_decimals_does(value, shortest):
    # `dumps` has `json`'s C encoder write a document without a Decimal; the same text, or the same error, as
    # `_encode` writing it whole.
    def ours():
        out = []
        jsontext._encode(value, out, jsontext._shortest if shortest else jsontext.written)
        return "".join(out)
    assert _outcome(lambda: jsontext.dumps(value, shortest=shortest)) == _outcome(ours)


def test_a_document_without_decimals_is_written_by_jsons_encoder():
    import unittest.mock
    with unittest.mock.patch.object(jsontext, "_encode", side_effect=AssertionError("not plain")):
        assert jsontext.dumps({"a": [1, True, None, "ż\n"], "b": {}}) == '{"a":[1,true,null,"ż\\n"],"b":{}}'
    assert jsontext.dumps({"a": [Decimal("1.50")]}) == '{"a":[1.50]}'


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.binary(max_size=6))
def test_a_body_is_decoded_in_the_encoding_json_detects(tail):
    # `loads` takes a body that opens with "{" and no NUL after it as UTF-8 without asking `detect_encoding`: the
    # same text, or the same error, as asking it.
    def outcome(decode, body):
        try:
            return decode(body)
        except UnicodeDecodeError:
            return UnicodeDecodeError
    for body in (b"{" + tail, tail, b"{\x00" + tail):
        assert outcome(jsontext._decoded, body) == outcome(
            lambda b: b.decode(json.detect_encoding(b), "surrogatepass"), body)
