"""JSON Patch: diffs that apply back exactly and stay small, and RFC 6902's own examples."""

import random
from decimal import Decimal

import pytest

from jsondoc.merge_test import document
from jsondoc.patch import LCS_CELLS, PatchError, apply, canonical, diff, same


def mutate(rng: random.Random, value):
    """`value` with a few random edits: keys added, removed or changed, array elements inserted or dropped."""
    if isinstance(value, dict):
        value = dict(value)
        for key in list(value):
            if rng.random() < 0.2:
                del value[key]
            elif rng.random() < 0.4:
                value[key] = mutate(rng, value[key])
        if rng.random() < 0.3:
            value[rng.choice(["new", "a", "x/y"])] = document(rng, 3)
        return value
    if isinstance(value, list):
        value = [mutate(rng, item) if rng.random() < 0.3 else item for item in value if rng.random() > 0.15]
        if rng.random() < 0.4:
            value.insert(rng.randint(0, len(value)), document(rng, 3))
        return value
    return document(rng, 3) if rng.random() < 0.5 else value


def test_a_diff_applied_to_its_source_gives_its_target_exactly_on_thousands_of_random_pairs():
    rng = random.Random(6902)
    for _ in range(3000):
        a = document(rng)
        b = mutate(rng, a) if rng.random() < 0.8 else document(rng)
        patch = diff(a, b)
        assert canonical(apply(a, patch)) == canonical(b), (a, b, patch)
        assert diff(a, a) == [] and diff(b, b) == []
        assert bool(patch) == (not same(a, b))


def test_one_changed_key_deep_in_a_document_is_one_operation():
    a = {"db": {"host": "a", "pool": {"min": 1, "max": 10}}, "flags": list(range(50))}
    b = {"db": {"host": "a", "pool": {"min": 1, "max": 20}}, "flags": list(range(50))}
    assert diff(a, b) == [{"op": "replace", "path": "/db/pool/max", "value": 20}]


def test_an_element_inserted_into_a_long_array_is_one_add_and_a_removed_one_one_remove():
    a = {"hosts": [f"h{n}" for n in range(100)]}
    inserted = {"hosts": a["hosts"][:57] + ["new"] + a["hosts"][57:]}
    assert diff(a, inserted) == [{"op": "add", "path": "/hosts/57", "value": "new"}]
    removed = {"hosts": a["hosts"][:10] + a["hosts"][11:]}
    assert diff(a, removed) == [{"op": "remove", "path": "/hosts/10"}]


def test_a_changed_object_inside_an_array_is_diffed_in_place():
    a = {"routes": [{"path": "/a", "to": "x"}, {"path": "/b", "to": "y"}]}
    b = {"routes": [{"path": "/a", "to": "x"}, {"path": "/b", "to": "z"}]}
    assert diff(a, b) == [{"op": "replace", "path": "/routes/1/to", "value": "z"}]


def test_numbers_compare_as_written_never_through_a_float_and_one_is_not_true():
    a = {"pi": Decimal("3.14159265358979323846"), "flag": 1, "big": 12345678901234567890}
    b = {"pi": Decimal("3.14159265358979323847"), "flag": True, "big": 12345678901234567891}
    assert [op["path"] for op in diff(a, b)] == ["/pi", "/flag", "/big"]
    assert diff({"a": [1, {"b": 2, "c": 3}]}, {"a": [1, {"c": 3, "b": 2}]}) == []  # member order is not content


def test_keys_with_slash_and_tilde_are_escaped_and_applied_back():
    a, b = {"a/b": 1, "m~n": 2}, {"a/b": 2}
    patch = diff(a, b)
    assert patch == [{"op": "replace", "path": "/a~1b", "value": 2}, {"op": "remove", "path": "/m~0n"}]
    assert apply(a, patch) == b


def test_arrays_past_the_lcs_budget_are_compared_position_by_position_and_still_apply_back():
    n = int(LCS_CELLS ** 0.5) + 10
    a, b = list(range(n)), [x + 1 for x in range(n)][::-1]
    assert apply(a, diff(a, b)) == b


def test_rfc6902_examples():
    assert apply({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}]) == {"foo": "bar", "baz": "qux"}
    assert apply({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}]) == \
        {"foo": ["bar", "qux", "baz"]}
    assert apply({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc"]}]) == {"foo": ["bar", ["abc"]]}
    assert apply({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}]) == {"foo": "bar"}
    assert apply({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
                 [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]) == \
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}
    assert apply({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}]) == \
        {"foo": ["all", "cows", "eat", "grass"]}
    assert apply({"a": 1}, [{"op": "copy", "from": "/a", "path": "/b"}]) == {"a": 1, "b": 1}
    assert apply({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}]) == {"/": 9, "~1": 10}
    assert apply({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]


@pytest.mark.parametrize("patch", [
    [{"op": "add", "path": "/a/b", "value": 1}],                   # the parent does not exist
    [{"op": "remove", "path": "/nope"}],                           # nothing to remove
    [{"op": "replace", "path": "/nope", "value": 1}],              # nothing to replace
    [{"op": "add", "path": "/list/5", "value": 1}],                # past the end
    [{"op": "add", "path": "/list/01", "value": 1}],               # not an index as RFC 6901 writes one
    [{"op": "test", "path": "/list/0", "value": True}],            # 1 is not true
    [{"op": "move", "from": "/obj", "path": "/obj/inner"}],        # into itself
    [{"op": "add", "path": "nope", "value": 1}],                   # not a pointer
    [{"op": "add", "path": "/a~2", "value": 1}],                   # not an escape
    [{"op": "frobnicate", "path": "/a"}],                          # not an operation
    [{"op": "add", "path": "/a"}],                                 # no value
    [{"op": "remove", "path": ""}],                                # the whole document
])
def test_a_patch_that_cannot_apply_names_its_operation_and_changes_nothing(patch):
    document = {"list": [1, 2], "obj": {"x": 1}}
    with pytest.raises(PatchError) as raised:
        apply(document, [{"op": "add", "path": "/fine", "value": 0}, *patch])
    assert raised.value.operation == 1
    assert document == {"list": [1, 2], "obj": {"x": 1}}
