"""JSON Patch (RFC 6902): the difference between two documents, and applying one.

`diff(a, b)` is a patch a person can read: objects are compared key by key, arrays element by element along their
longest common subsequence, so one changed key is one operation, never "replace the whole document". Values are
compared exactly as JSON: numbers by the text PostgreSQL stores them as (`jsontext.written`: 3.14159265358979323846
and 3.14159265358979323847 differ, nothing goes through a binary float; `1e21` is the stored
`1000000000000000000000`, while `0.1` and `0.10` differ as stored), object members in any order, `1` never equal to
`true`.
"""

from copy import deepcopy
from typing import Any

from jsondoc.pointer import PointerError, index, join, split
from wire import jsontext

# Arrays whose differing middles are longer than this (elements of one times the other) are compared position by
# position instead of along their longest common subsequence, which costs that many steps.
LCS_CELLS = 250_000


class PatchError(ValueError):
    """A patch that cannot be applied: `operation` is the index of the first operation that fails."""

    def __init__(self, operation: int, message: str) -> None:
        super().__init__(message)
        self.operation = operation


def canonical(value: Any) -> str:
    """`value` as JSON text that is the same exactly when two values are the same JSON (object members sorted)."""
    if isinstance(value, dict):
        members = ",".join(f"{jsontext.dumps(key)}:{canonical(value[key])}" for key in sorted(value))
        return "{" + members + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    return jsontext.dumps(value)


def same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


def diff(a: Any, b: Any, pointer: str = "") -> list[dict[str, Any]]:
    """Operations that turn `a` into `b`, in order, addressed below `pointer`."""
    out: list[dict[str, Any]] = []
    _diff(a, b, pointer, out)
    return out


def _diff(a: Any, b: Any, pointer: str, out: list[dict[str, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if key not in b:
                out.append({"op": "remove", "path": join(pointer, key)})
            else:
                _diff(value, b[key], join(pointer, key), out)
        for key, value in b.items():
            if key not in a:
                out.append({"op": "add", "path": join(pointer, key), "value": value})
    elif isinstance(a, list) and isinstance(b, list):
        _diff_array(a, b, pointer, out)
    elif not same(a, b):
        out.append({"op": "replace", "path": pointer, "value": b})


def _diff_array(a: list, b: list, pointer: str, out: list[dict[str, Any]]) -> None:
    ka, kb = [canonical(item) for item in a], [canonical(item) for item in b]
    start = 0
    while start < len(a) and start < len(b) and ka[start] == kb[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and ka[end_a - 1] == kb[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    removed, added = list(range(start, end_a)), list(range(start, end_b))
    if len(removed) * len(added) <= LCS_CELLS:
        runs = _runs(ka, kb, removed, added)
    else:
        runs = [(0, (removed, added))]
    # Runs are (elements of a removed, elements of b added) between kept elements, in order; `at` is where the
    # array being patched stands. Within a run, pairs become a (recursive) change in place.
    at = start
    for kept_before, (gone, new) in runs:
        at += kept_before
        for old, fresh in zip(gone, new):
            _diff(a[old], b[fresh], join(pointer, at), out)
            at += 1
        for _ in gone[len(new):]:
            out.append({"op": "remove", "path": join(pointer, at)})
        for fresh in new[len(gone):]:
            out.append({"op": "add", "path": join(pointer, at), "value": b[fresh]})
            at += 1


def _runs(ka: list[str], kb: list[str], removed: list[int], added: list[int]) -> list:
    """The longest common subsequence of `ka[removed]` and `kb[added]`, as runs of (kept before, (removed, added))."""
    if not removed or not added:
        return [(0, (removed, added))]
    n, m = len(removed), len(added)
    # lengths[i][j]: the LCS of removed[i:] and added[j:]
    lengths = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = lengths[i], lengths[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if ka[removed[i]] == kb[added[j]] else max(below[j], row[j + 1])
    runs, gone, new, kept = [], [], [], 0
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and ka[removed[i]] == kb[added[j]]:
            if gone or new:
                runs.append((kept, (gone, new)))
                gone, new, kept = [], [], 0
            kept += 1
            i, j = i + 1, j + 1
        elif j < m and (i == n or lengths[i][j + 1] >= lengths[i + 1][j]):
            new.append(added[j])
            j += 1
        else:
            gone.append(removed[i])
            i += 1
    if gone or new:
        runs.append((kept, (gone, new)))
    return runs


def apply(document: Any, patch: list[dict[str, Any]]) -> Any:
    """`document` with `patch` applied (RFC 6902: add, remove, replace, move, copy, test), as a new value; the
    first operation that cannot be applied raises `PatchError` and nothing is returned."""
    root = [deepcopy(document)]
    for number, operation in enumerate(patch):
        try:
            _apply(root, operation)
        except (PointerError, KeyError, TypeError) as error:
            message = error.args[0] if isinstance(error, PointerError | TypeError) else f"no member {error.args[0]!r}"
            raise PatchError(number, message) from None
    return root[0]




def _parent(root: list, pointer: str) -> tuple[Any, str]:
    """The container holding what `pointer` names (the root list for the whole document), and the last token."""
    tokens = split(pointer)
    if not tokens:
        return root, "0"
    node = root[0]
    for token in tokens[:-1]:
        node = _child(node, token)
    if not isinstance(node, dict | list):
        raise TypeError(f"{pointer!r} goes through a value that is neither an object nor an array")
    return node, tokens[-1]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node[token]
    if isinstance(node, list):
        return node[index(token, len(node))]
    raise TypeError("a path goes through a value that is neither an object nor an array")


def _get(root: list, pointer: str) -> Any:
    container, token = _parent(root, pointer)
    return _child(container, token)


def _remove(root: list, pointer: str) -> Any:
    container, token = _parent(root, pointer)
    if container is root:
        raise TypeError("the whole document cannot be removed")
    if isinstance(container, dict):
        return container.pop(token)
    return container.pop(index(token, len(container)))


def _add(root: list, pointer: str, value: Any) -> None:
    container, token = _parent(root, pointer)
    if isinstance(container, dict):
        container[token] = value
    elif container is root:
        root[0] = value
    else:
        container.insert(index(token, len(container), end=True), value)


def _apply(root: list, operation: dict[str, Any]) -> None:
    kind, path = operation.get("op"), operation.get("path")
    if not isinstance(path, str):
        raise TypeError("an operation needs a 'path' that is a string")
    if kind == "add":
        _add(root, path, deepcopy(_required(operation)))
    elif kind == "remove":
        _remove(root, path)
    elif kind == "replace":
        _get(root, path)
        container, token = _parent(root, path)
        value = deepcopy(_required(operation))
        if container is root:
            root[0] = value
        elif isinstance(container, dict):
            container[token] = value
        else:
            container[index(token, len(container))] = value
    elif kind in ("move", "copy"):
        source = operation.get("from")
        if not isinstance(source, str):
            raise TypeError(f"a {kind} needs a 'from' that is a string")
        if kind == "move" and (path + "/").startswith(source + "/") and path != source:
            raise TypeError("a value cannot be moved into itself")
        value = _remove(root, source) if kind == "move" else deepcopy(_get(root, source))
        _add(root, path, value)
    elif kind == "test":
        if not same(_get(root, path), _required(operation)):
            raise TypeError(f"the value at {path!r} is not the one tested")
    else:
        raise TypeError(f"{kind!r} is not an operation")


def _required(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise TypeError(f"a {operation['op']} needs a 'value'")
    return operation["value"]
