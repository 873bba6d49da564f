"""Layers of a document: RFC 7396 merge patches applied in order, and the layer that set each value.

A configuration's effective view in an environment is its `config` with the overrides of the environment's chain
applied root first. Each override is a merge patch: an object merges key by key, `null` removes a key, anything
else (a string, a number, an array) replaces what was there. The provenance of a value is the last layer that
wrote it, whether or not it wrote what was there already: an override that says `"timeout": 30` owns that value
even while `config` says 30 too, so a later change of `config` does not reach it.

Provenance names the leaves of the effective document: every value that is not an object, and every empty object
(the layer that created it or removed its last key). Arrays are leaves: a merge patch replaces them whole. It also
names what is missing because a layer removed it: the pointer of each value an earlier layer set that a `null` of
a later one removed, with that layer, unless a layer after it set it again (then it is that layer's value) or
replaced or removed what held it (then that is what provenance names). A `null` for a key that is not there
removes nothing, and is not named.
"""

from collections.abc import Hashable, Iterable
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from jsondoc.pointer import join


@dataclass(slots=True)
class _Object:
    """The provenance of an object: its members' and, for when it is empty, the layer that last emptied or made it."""

    layer: Hashable
    members: dict[str, "_Object | Hashable"] = field(default_factory=dict)
    removed: dict[str, Hashable] = field(default_factory=dict)  # keys that a layer's `null` removed, with it




def applied(target: Any, patch: Any) -> Any:
    """`patch` applied to `target` (RFC 7396 section 2), neither changed: what a PATCH of a configuration writes."""
    if not isinstance(patch, dict):
        return deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = applied(merged.get(key), value)
    return merged


def _adopt(value: Any, layer: Hashable) -> tuple[Any, Any]:
    """`value` copied, every part of it set by `layer` (a `null` in it is a value, not a removal)."""
    if isinstance(value, dict):
        origin = _Object(layer)
        document = {}
        for key, item in value.items():
            document[key], origin.members[key] = _adopt(item, layer)
        return document, origin
    return deepcopy(value), layer


def _merge(target: Any, origin: Any, patch: Any, layer: Hashable) -> tuple[Any, Any]:
    if not isinstance(patch, dict):
        return deepcopy(patch), layer
    if not isinstance(target, dict):
        target, origin = {}, _Object(layer)
    for key, value in patch.items():
        if value is None:
            if key in target:
                del target[key]
                del origin.members[key]
                origin.layer = layer
                origin.removed[key] = layer
        else:
            target[key], origin.members[key] = _merge(target.get(key), origin.members.get(key), value, layer)
            origin.removed.pop(key, None)
    return target, origin


def _leaves(origin: Any, pointer: str, out: dict[str, Hashable], removed: dict[str, Hashable]) -> None:
    if isinstance(origin, _Object):
        if not origin.members:
            out[pointer] = origin.layer
        for key, member in origin.members.items():
            _leaves(member, join(pointer, key), out, removed)
        for key, layer in origin.removed.items():
            removed[join(pointer, key)] = layer
    else:
        out[pointer] = origin


def effective(base: dict, layers: Iterable[tuple[Hashable, dict]], *, base_layer: Hashable = None
              ) -> tuple[dict, dict[str, Hashable], dict[str, Hashable]]:
    """`base` with each `(layer, patch)` applied in order (RFC 7396); the provenance of every leaf: a dict from
    JSON Pointer to the layer that set it (`base_layer` for what `base` set), in document order; and what layers
    removed: a dict from the pointer of each value removed (and not set again since) to the layer that removed it.
    Neither argument is changed."""
    document, origin = _adopt(base, base_layer)
    for layer, patch in layers:
        document, origin = _merge(document, origin, patch, layer)
    provenance: dict[str, Hashable] = {}
    removed: dict[str, Hashable] = {}
    _leaves(origin, "", provenance, removed)
    return document, provenance, removed
