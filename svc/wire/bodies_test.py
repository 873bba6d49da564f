import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from settings import Settings
from wire import jsontext, models
from wire.bodies import _fine, _refuse, check_body, check_storable
from wire.problems import Unprocessable


@pytest.mark.parametrize(
    ("value", "pointer"),
    [
        ({"a": "x\x00"}, "/a"),
        ({"a": [1, {"b/c": "\x00"}]}, "/a/1/b~1c"),
        ({"k\x00": 1}, "/k\x00"),
        ({"a~": ["\ud800"]}, "/a~0/0"),
    ],
)
def test_unstorable_text_is_refused_with_its_pointer(value, pointer):
    with pytest.raises(Unprocessable) as error:
        check_storable(value, 32)
    assert error.value.errors[0]["pointer"] == pointer


def test_surrogate_in_a_key_gives_an_encodable_pointer():
    with pytest.raises(Unprocessable) as error:
        check_storable({"\udc00": 1}, 32)
    error.value.errors[0]["pointer"].encode("utf-8")


def test_ordinary_json_passes():
    check_storable({"a": [1, 2.5, True, None, {"b": "żółw ✓ 🐢"}], "": ""}, 32)


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_is_limited_counting_the_outermost_container():
    check_storable(nested(32), 32)
    with pytest.raises(Unprocessable) as error:
        check_storable(nested(33), 32)
    assert error.value.errors[0]["pointer"] == "/0" * 32


def test_check_body_limits_top_level_config_keys():
    body = models.ConfigurationUpdate.model_validate({"name": "n", "config": {str(i): i for i in range(5)}})
    assert check_body(body, Settings(max_config_keys=5))["config"]["4"] == 4
    with pytest.raises(Unprocessable) as error:
        check_body(body, Settings(max_config_keys=4))
    assert error.value.errors[0]["pointer"] == "/config"


# Values of every kind a parsed body holds, the unstorable among them: NUL and unpaired surrogates in keys and text,
# non-numbers, integers and decimals beyond numeric, nesting beyond the limit.
_texts = st.text(alphabet=st.sampled_from(["a", "~", "/", "é", "🐢", "\x00", "\ud800", "\udc00"]), max_size=4)
_scalars = st.one_of(st.none(), st.booleans(), _texts, st.integers(), st.sampled_from(
    [10**18, -(10**18), 10**200, Decimal("1.5"), Decimal("1e-16384"), Decimal("1e131072"), Decimal("NaN"),
     jsontext.NonNumber("Infinity"), 2.5]))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_texts, inner, max_size=3)), max_leaves=12)


@hypothesis_settings(max_examples=400, deadline=None)
@given(_values, st.integers(min_value=1, max_value=4))
def test_the_quick_check_passes_only_what_the_full_walk_passes(value, max_depth):
    # An ordinary body is checked by a walk that builds no pointers (`_fine`); what it is not sure of goes through
    # the walk that names what is wrong (`_refuse`). The quick one must never pass what the full one refuses.
    try:
        _refuse(value, max_depth, "", 1)
        refused = None
    except Unprocessable as error:
        refused = error
    if _fine(value, max_depth, 1) >= 0:
        assert refused is None, (value, refused.errors)
    with pytest.raises(Unprocessable) if refused is not None else contextlib.nullcontext():
        check_storable(value, max_depth)


def test_an_integer_beyond_numeric_is_refused_by_both_walks():
    # (Not among the examples above: hypothesis cannot print an integer of 131,073 digits.)
    huge = 10**131072
    assert _fine({"n": huge}, 32, 1) < 0
    with pytest.raises(Unprocessable) as error:
        check_storable({"n": huge}, 32)
    assert error.value.errors[0]["pointer"] == "/n"


def test_numbers_whose_full_writing_is_wider_than_the_budget_are_refused_at_the_one_past_it():
    """A number of a few bytes can read back as many (`1e131071`: 131,072 characters): the numbers with a fraction or
    an exponent, as every read writes them, take at most the budget (MAX_BODY_BYTES) in all."""
    fits = {"a": Decimal("1e999"), "b": [Decimal("1.5"), Decimal("-1e-997")]}  # 1,000 + 3 + 1,000 characters
    assert _fine(fits, 32, 1) == 2003
    check_storable(fits, 32, 2003)
    with pytest.raises(Unprocessable) as error:
        check_storable(fits, 32, 2002)
    assert error.value.errors[0]["pointer"] == "/b/1"
    assert "more than 2,002 characters (MAX_BODY_BYTES)" in error.value.errors[0]["message"]
    check_storable({"n": 10**5000}, 32, 10)  # an integer is written as it was sent: within the body's own size


# Names on both sides of each of `Name`'s rules: printable ASCII (which `plain_update` takes), spaces at either end,
# controls, format characters, non-ASCII (NFC or not), and lengths about the limit.
_names = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=3),
    st.lists(st.sampled_from(["a", " ", "\t", "\x7f", "\x85", "\u00a0", "\u200b", "é", "e\u0301", "🐢",
                              "\U000e0001"]), max_size=4).map("".join),
    st.integers(min_value=250, max_value=260).map(lambda n: "b" * n), st.just("a" * 255 + " "),
    st.none(), st.integers(), st.lists(st.just("a"), max_size=1))
_comments = st.one_of(st.none(), _texts, st.integers(min_value=1022, max_value=1026).map(lambda n: "c" * n),
                      st.booleans())
_configs = st.one_of(st.dictionaries(_texts, _values, max_size=3), _values,
                     st.integers(min_value=999, max_value=1001).map(lambda n: {str(k): k for k in range(n)}))


@hypothesis_settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "comments", "config", "other", "Name"]),
                       st.one_of(_names, _comments, _configs), max_size=4),
       _names, _comments, _configs, st.booleans())
def test_a_plain_update_is_the_models_own_data(document, name, comments, config, whole):
    # `plain_update` takes a PUT's body without the model only where the model would take it, and gives the same
    # data (`model_dump()`): for each body it takes, the model validates it to exactly that; it takes the bodies
    # every client sends.
    from wire.bodies import plain_update

    if whole:
        document = {"name": name, "config": config} | ({"comments": comments} if comments != "" else {})
    plain = plain_update(document)
    if plain is not None:
        assert models.ConfigurationUpdate.model_validate(document).model_dump() == plain
    # An override's body: its patch (here the configuration's document, or its name as a patch), perhaps comments.
    patch = {"patch": document.get("config", document.get("name"))} | (
        {"comments": document["comments"]} if "comments" in document else {}) | (
        {"other": 1} if "other" in document else {})
    plain = plain_update(patch, models.OverrideWrite)
    if plain is not None:
        assert models.OverrideWrite.model_validate(patch).model_dump() == plain


def test_the_bodies_clients_send_are_plain_and_checked_as_the_models():
    from wire.bodies import checked, plain_update

    settings = Settings()
    for document in ({"name": "billing-db.v2", "config": {"host": "db", "port": 5432, "ratio": Decimal("0.5")}},
                     {"name": "a b", "comments": None, "config": {}},
                     {"name": "x" * 256, "comments": "c" * 1024, "config": {"k": [1, {"n": None}]}}):
        plain = plain_update(document)
        assert plain is not None
        assert checked(plain, settings) == check_body(models.ConfigurationUpdate.model_validate(document), settings)
    for document in ({"name": " a", "config": {}}, {"name": "é", "config": {}}, {"name": "a", "config": []},
                     {"name": "a", "config": {}, "extra": 1}, {"config": {}}, {"name": "a"},
                     {"name": "a", "comments": "c" * 1025, "config": {}}, {"name": "a" * 257, "config": {}},
                     {"name": "a", "config": {"\x00": 1}}, {"name": "a", "comments": 1, "config": {}}):
        assert plain_update(document) is None, document  # the model decides these
    for document in ({"patch": {"region": "eu", "n": None}}, {"patch": {}, "comments": None}):
        plain = plain_update(document, models.OverrideWrite)
        assert plain is not None
        assert checked(plain, settings) == check_body(models.OverrideWrite.model_validate(document), settings)
    for document in ({"patch": []}, {"patch": {}, "name": "a"}, {"comments": "c"}, {"patch": {"\ud800": 1}}):
        assert plain_update(document, models.OverrideWrite) is None, document


def test_plain_updates_have_the_contracts_limits():
    import annotated_types

    from wire import bodies, names

    def longest(model):
        return next(m.max_length for m in model.model_fields["root"].metadata if isinstance(m, annotated_types.MaxLen))
    assert (bodies._COMMENTS_MAX, bodies._CONFIG_KEYS_MAX, names.MAX_LENGTH) == (
        longest(models.Comments), longest(models.ConfigDocument), longest(models.Name))
