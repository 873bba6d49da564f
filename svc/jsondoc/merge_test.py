"""The merge and its provenance against straightforward references, on thousands of seeded random documents."""

import random
from decimal import Decimal

from jsondoc.merge import applied, effective
from jsondoc.pointer import join, split
from jsondoc.patch import canonical

KEYS = ["a", "b", "c", "x/y", "t~0", "", "ü"]


def document(rng: random.Random, depth: int = 0, *, patch: bool = False):
    """A random JSON value (an object at the top): objects, arrays, strings, exact numbers, booleans, nulls."""
    kind = rng.random()
    if depth == 0 or (depth < 4 and kind < 0.35):
        return {key: document(rng, depth + 1, patch=patch) for key in rng.sample(KEYS, rng.randint(0, 4))}
    if kind < 0.45:
        return [document(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind < 0.6 or (patch and kind < 0.75):
        return None
    return rng.choice([0, 1, -7, Decimal("1.0"), Decimal("1.00"), Decimal("3.14159265358979323846"), True, False,
                       "", "s", "null", 12345678901234567890])


def rfc7396(target, patch):
    """RFC 7396 section 2, as written."""
    if isinstance(patch, dict):
        if not isinstance(target, dict):
            target = {}
        target = dict(target)
        for name, value in patch.items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = rfc7396(target.get(name), value)
        return target
    return patch


def flat_provenance(base: dict, layers) -> dict:
    """Another way to the provenance: a flat map from the pointer of each leaf to its layer, patched in place."""
    leaves = {}

    def adopt(value, pointer, layer):
        if isinstance(value, dict) and value:
            for key, item in value.items():
                adopt(item, join(pointer, key), layer)
        else:
            leaves[pointer] = layer

    def under(pointer):
        return [p for p in leaves if p == pointer or p.startswith(pointer + "/")]

    def is_object(pointer):  # an object stands at pointer when something is below it or an empty object is there
        return any(p.startswith(pointer + "/") for p in leaves) or (pointer in leaves and pointer in empty)

    empty = set()

    def merge(pointer, patch, layer):
        if not is_object(pointer):
            for p in under(pointer):
                del leaves[p]
                empty.discard(p)
            leaves[pointer], _ = layer, empty.add(pointer)
        for key, value in patch.items():
            child = join(pointer, key)
            if value is None:
                if under(child):
                    for p in under(child):
                        del leaves[p]
                        empty.discard(p)
                    if not any(p.startswith(pointer + "/") for p in leaves):
                        leaves[pointer], _ = layer, empty.add(pointer)
            elif isinstance(value, dict):
                merge(child, value, layer)
            else:
                for p in under(child):
                    del leaves[p]
                    empty.discard(p)
                leaves[child] = layer
            if any(p.startswith(pointer + "/") for p in leaves) and pointer in leaves:
                del leaves[pointer]
                empty.discard(pointer)

    def adopt_all(value, pointer):
        if isinstance(value, dict):
            if not value:
                leaves[pointer] = "config"
                empty.add(pointer)
            for key, item in value.items():
                adopt_all(item, join(pointer, key))
        else:
            leaves[pointer] = "config"

    adopt_all(base, "")
    for layer, patch in layers:
        merge("", patch, layer)
    return leaves


def removals(base: dict, layers) -> dict:
    """Another way to what layers removed: after each layer, the pointers its nulls removed (present before it), and
    those of earlier layers still missing with an object still holding their place."""
    def at(document, pointer):  # the value at pointer, or a marker when nothing is there
        for token in split(pointer):
            if not isinstance(document, dict) or token not in document:
                return missing
            document = document[token]
        return document

    def nulls(patch, pointer, out):
        for key, value in patch.items():
            if value is None:
                out.append(join(pointer, key))
            elif isinstance(value, dict):
                nulls(value, join(pointer, key), out)
        return out

    missing = object()
    removed, document = {}, base
    for layer, patch in layers:
        before, document = document, rfc7396(document, patch)
        removed = {pointer: by for pointer, by in removed.items() if at(document, pointer) is missing
                   and isinstance(at(document, pointer.rsplit("/", 1)[0]), dict)}
        for pointer in nulls(patch, "", []):
            if at(before, pointer) is not missing and at(document, pointer) is missing:
                removed[pointer] = layer
    return removed


def leaves_of(value, pointer="", out=None):
    out = [] if out is None else out
    if isinstance(value, dict) and value:
        for key, item in value.items():
            leaves_of(item, join(pointer, key), out)
    else:
        out.append(pointer)
    return out


def test_the_effective_document_is_rfc7396_applied_root_first_and_every_leaf_has_the_layer_that_wrote_it_last():
    rng = random.Random(20261202)
    seen = 0
    for _ in range(3000):
        base = document(rng)
        layers = [(f"env{n}", document(rng, patch=True)) for n in range(rng.randint(0, 4))]
        expected = base
        for _, patch in layers:
            expected = rfc7396(expected, patch)
        got, provenance, removed = effective(base, layers, base_layer="config")
        assert canonical(got) == canonical(expected)
        assert sorted(provenance) == sorted(leaves_of(got))
        assert provenance == flat_provenance(base, layers), (base, layers)
        assert removed == removals(base, layers), (base, layers)
        seen += bool(removed)
    assert seen > 900  # (946 of them remove something: enough to tell)


def test_a_layer_owns_what_it_writes_even_when_it_writes_the_same_value():
    document, provenance, _ = effective({"timeout": 30, "db": {"host": "a", "port": 5432}},
                                     [("prod", {"timeout": 30, "db": {"host": "b"}})], base_layer="config")
    assert document == {"timeout": 30, "db": {"host": "b", "port": 5432}}
    assert provenance == {"/timeout": "prod", "/db/host": "prod", "/db/port": "config"}


def test_null_removes_a_key_and_an_emptied_object_belongs_to_the_layer_that_emptied_it():
    document, provenance, removed = effective({"db": {"host": "a"}, "keep": None},
                                              [("dev", {"db": {"host": None}, "gone": None})], base_layer="config")
    assert document == {"db": {}, "keep": None}  # a null in config is a value; in a patch, a removal
    assert provenance == {"/db": "dev", "/keep": "config"}
    assert removed == {"/db/host": "dev"}  # ("gone" was not there: nothing removed)


def test_a_removal_is_named_until_a_later_layer_sets_it_again_or_takes_its_place():
    base = {"debug": True, "db": {"host": "a", "pool": 5}, "tls": {"verify": True}}
    layers = [("prod", {"debug": None, "db": {"pool": None}, "tls": {"verify": None}}),
              ("prod-eu", {"debug": None, "db": {"pool": 9}, "tls": "off"})]
    document, provenance, removed = effective(base, layers[:1], base_layer="config")
    assert document == {"db": {"host": "a"}, "tls": {}}
    assert removed == {"/db/pool": "prod", "/tls/verify": "prod", "/debug": "prod"}
    document, provenance, removed = effective(base, layers, base_layer="config")
    # prod-eu's null finds nothing to remove (prod's removal stands); it sets /db/pool again, and replaces /tls.
    assert document == {"db": {"host": "a", "pool": 9}, "tls": "off"}
    assert removed == {"/debug": "prod"}
    assert provenance == {"/db/host": "config", "/db/pool": "prod-eu", "/tls": "prod-eu"}


def test_an_array_is_replaced_whole_and_pointers_escape_slash_and_tilde():
    document, provenance, _ = effective({"a/b": [1, 2, 3], "m~n": {"x": 1}}, [("qa", {"a/b": [None]})],
                                        base_layer="config")
    assert document == {"a/b": [None], "m~n": {"x": 1}}
    assert provenance == {"/a~1b": "qa", "/m~0n/x": "config"}


def test_neither_the_base_nor_a_patch_is_changed():
    base, patch = {"a": {"b": 1}}, {"a": {"b": None, "c": [1]}}
    effective(base, [("x", patch)])
    assert base == {"a": {"b": 1}} and patch == {"a": {"b": None, "c": [1]}}


def test_applied_is_rfc7396_on_thousands_of_random_documents_and_changes_neither():
    rng = random.Random(7396)
    for _ in range(3000):
        target, patch = document(rng), document(rng, patch=True)
        before = (canonical(target), canonical(patch))
        assert canonical(applied(target, patch)) == canonical(rfc7396(target, patch))
        assert (canonical(target), canonical(patch)) == before
    # RFC 7396 appendix A, the cases with an object patch and target
    for target, patch, result in (({"a": "b"}, {"a": "c"}, {"a": "c"}), ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
                                  ({"a": "b"}, {"a": None}, {}), ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
                                  ({"a": ["b"]}, {"a": "c"}, {"a": "c"}), ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
                                  ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
                                  ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}), ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
                                  ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}})):
        assert applied(target, patch) == result
