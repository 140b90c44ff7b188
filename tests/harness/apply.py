"""Server-side apply (`PATCH application/apply-patch+yaml?fieldManager=...`), with field ownership.

What `kubectl apply --server-side` relies on, done as the apiserver's
structured-merge-diff does it, for appliers:

- the applied configuration is merged into the live object following the
  schema's list and map types (`x-kubernetes-list-type: map` items merge by
  their keys, `set` items are unioned, other lists and atomic maps are replaced);
- each applier's fields are recorded in `metadata.managedFields` (FieldsV1,
  operation `Apply`); a field the same manager applied last time and leaves out
  now is removed, unless another applier also owns it; a struct field goes
  whole, defaults included, so switching `spec.vllm` for `spec.endpoint` works;
- applying a value different from one another applier owns is a 409 conflict
  naming both, unless `force=true`, which takes the field over.

Left out: ownership by non-apply writers (POST/PUT/PATCH record no
`Update` entries, so they never conflict with an applier), and conversion
between versions. Built-in kinds have no schema here: their lists are atomic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]
FieldPath = tuple[str, ...]  # FieldsV1 elements: "f:spec", 'k:{"name":"a"}', 'v:"x"', and "." (the item itself)

# The ObjectMeta fields an applier can own, with their merge types; the rest belong to the server.
_METADATA_SCHEMA: Schema = {"type": "object", "properties": {
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
    "ownerReferences": {"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["uid"]},
}}


@dataclass(frozen=True)
class Conflict:
    manager: str
    path: FieldPath

    @property
    def field(self) -> str:
        """The path as the apiserver shows it: `.spec.tiers[name="a"].name`."""
        parts = []
        for element in self.path:
            kind, _, value = element.partition(":")
            if kind == "f":
                parts.append(f".{value}")
            elif kind == "k":
                parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(value).items()) + "]")
            elif kind == "v":
                parts.append(f"[={value}]")
        return "".join(parts)


class ApplyConflicts(Exception):
    """Fields other appliers own with other values; `force=true` takes them over."""

    def __init__(self, conflicts: list[Conflict], api_version: str) -> None:
        self.conflicts = conflicts
        self.api_version = api_version
        super().__init__(self.message)

    @property
    def message(self) -> str:
        count = len(self.conflicts)
        if count == 1:
            only = self.conflicts[0]
            return (f'Apply failed with 1 conflict: conflict with "{only.manager}" using {self.api_version}: '
                    f"{only.field}")
        lines = [f"- {c.field}" for c in self.conflicts]
        managers = ", ".join(sorted({f'"{c.manager}"' for c in self.conflicts}))
        return f"Apply failed with {count} conflicts: conflicts with {managers} using {self.api_version}:\n" + \
            "\n".join(lines)


# -- schema navigation -----------------------------------------------------------------------------

def _child(schema: Schema | None, key: str) -> Schema | None:
    if schema is None:
        return None
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    return properties.get(key) or (additional if isinstance(additional, Mapping) else None)


def _items(schema: Schema | None) -> Schema | None:
    items = (schema or {}).get("items")
    return items if isinstance(items, Mapping) else None


def _list_type(schema: Schema | None) -> str:
    return (schema or {}).get("x-kubernetes-list-type", "atomic")


def _map_keys(schema: Schema | None) -> list[str]:
    return list((schema or {}).get("x-kubernetes-list-map-keys") or [])


def _is_atomic_map(schema: Schema | None) -> bool:
    return (schema or {}).get("x-kubernetes-map-type") == "atomic"


def _key_element(item: Any, keys: list[str]) -> str:
    identity = {key: item.get(key) for key in keys} if isinstance(item, dict) else {}
    return "k:" + json.dumps(identity, separators=(",", ":"), sort_keys=True)


def _value_element(item: Any) -> str:
    return "v:" + json.dumps(item, separators=(",", ":"), sort_keys=True)


# -- field sets ------------------------------------------------------------------------------------

def field_set(obj: Mapping[str, Any], schema: Schema | None) -> set[FieldPath]:
    """The fields an applied configuration sets (its leaves, and its list items as `.`)."""
    found: set[FieldPath] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            if isinstance(value, dict):
                _collect({k: v for k, v in value.items() if k in _METADATA_SCHEMA["properties"]},
                         _METADATA_SCHEMA, ("f:metadata",), found)
            continue
        _collect_field(value, _child(schema, key), ("f:" + key,), found)
    return found


def _collect(value: dict[str, Any], schema: Schema | None, prefix: FieldPath, found: set[FieldPath]) -> None:
    for key, item in value.items():
        _collect_field(item, _child(schema, key), (*prefix, "f:" + key), found)


def _collect_field(value: Any, schema: Schema | None, path: FieldPath, found: set[FieldPath]) -> None:
    if isinstance(value, dict) and value and not _is_atomic_map(schema):
        _collect(value, schema, path, found)
    elif isinstance(value, list) and value and _list_type(schema) == "map" and _map_keys(schema):
        for item in value:
            item_path = (*path, _key_element(item, _map_keys(schema)))
            found.add((*item_path, "."))
            if isinstance(item, dict):
                _collect(item, _items(schema), item_path, found)
    elif isinstance(value, list) and value and _list_type(schema) == "set":
        found.update((*path, _value_element(item)) for item in value)
    else:
        found.add(path)


def to_fields_v1(paths: set[FieldPath]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def from_fields_v1(tree: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    paths: set[FieldPath] = set()
    for element, children in tree.items():
        path = (*prefix, element)
        if isinstance(children, Mapping) and children:
            paths |= from_fields_v1(children, path)
        else:
            paths.add(path)
    return paths


# -- reading, merging and removing values ----------------------------------------------------------

_ABSENT = object()


def _step(value: Any, element: str) -> Any:
    kind, _, arg = element.partition(":")
    if kind == "f" and isinstance(value, dict):
        return value.get(arg, _ABSENT)
    if kind == "k" and isinstance(value, list):
        identity = json.loads(arg)
        return next((item for item in value if isinstance(item, dict)
                     and all(item.get(k) == v for k, v in identity.items())), _ABSENT)
    if kind == "v" and isinstance(value, list):
        return json.loads(arg) if json.loads(arg) in value else _ABSENT
    return value if element == "." else _ABSENT


def value_at(obj: Any, path: FieldPath) -> Any:
    for element in path:
        obj = _step(obj, element)
        if obj is _ABSENT:
            return _ABSENT
    return obj


def merge(live: Any, applied: Any, schema: Schema | None) -> Any:
    """The live value with the applied configuration merged in, by the schema's merge types."""
    if isinstance(live, dict) and isinstance(applied, dict) and not _is_atomic_map(schema):
        result = copy.deepcopy(live)
        for key, value in applied.items():
            result[key] = merge(live.get(key), value, _child(schema, key))
        return result
    if isinstance(live, list) and isinstance(applied, list):
        if _list_type(schema) == "map" and _map_keys(schema):
            keys, items = _map_keys(schema), copy.deepcopy(live)
            for item in applied:
                index = next((i for i, old in enumerate(items)
                              if _key_element(old, keys) == _key_element(item, keys)), None)
                if index is None:
                    items.append(copy.deepcopy(item))
                else:
                    items[index] = merge(items[index], item, _items(schema))
            return items
        if _list_type(schema) == "set":
            return copy.deepcopy(live) + [copy.deepcopy(item) for item in applied if item not in live]
    return copy.deepcopy(applied)


def remove(obj: Any, path: FieldPath) -> None:
    """Remove one field or list item in place (nothing if it is not there)."""
    if not path:
        return
    parent = value_at(obj, path[:-1])
    element = path[-1]
    if element == "." and len(path) >= 2:
        container, item = value_at(obj, path[:-2]), parent
        if isinstance(container, list) and item is not _ABSENT:
            container.remove(item)
    elif element.startswith("f:") and isinstance(parent, dict):
        parent.pop(element[2:], None)
    elif element.startswith("v:") and isinstance(parent, list) and json.loads(element[2:]) in parent:
        parent.remove(json.loads(element[2:]))


def _node(path: FieldPath) -> FieldPath:
    """The field or list item a path stands for (a list item's `.` marks the item itself)."""
    return path[:-1] if path[-1:] == (".",) else path


def _with_named_fields(paths: set[FieldPath], schema: Schema | None) -> set[FieldPath]:
    """The paths plus every struct field (a schema property, not a map key) they pass through.

    structured-merge-diff's `EnsureNamedFieldsAreMembers`: when an applier stops
    applying `spec.vllm`, the whole `vllm` goes, defaulted fields included.
    """
    root: Schema = {"properties": {**((schema or {}).get("properties") or {}), "metadata": _METADATA_SCHEMA}}
    result = set(paths)
    for path in paths:
        node: Schema | None = root
        for depth, element in enumerate(path[:-1], start=1):
            kind, _, key = element.partition(":")
            if kind == "f":
                if key in ((node or {}).get("properties") or {}):
                    result.add(path[:depth])
                node = _child(node, key)
            elif kind == "k":
                node = _items(node)
            else:
                break
    return result


# -- the apply operation ---------------------------------------------------------------------------

def _owned(live: Mapping[str, Any] | None) -> dict[str, set[FieldPath]]:
    """Fields per applier, from `metadata.managedFields` (Apply entries of the main resource)."""
    owners: dict[str, set[FieldPath]] = {}
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("operation") == "Apply" and not entry.get("subresource"):
            owners.setdefault(entry.get("manager", ""), set()).update(from_fields_v1(entry.get("fieldsV1") or {}))
    return owners


def apply(live: dict[str, Any] | None, applied: dict[str, Any], schema: Schema | None, *, manager: str,
          api_version: str, force: bool, timestamp: str) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None: it does not exist yet).

    Raises `ApplyConflicts` when another applier owns a field with another value and not `force`.
    """
    owners = _owned(live)
    previous = owners.pop(manager, set())
    applying = field_set(applied, schema)

    live_body = {key: value for key, value in (live or {}).items() if key != "metadata"}
    result = merge(live_body, {key: value for key, value in applied.items() if key != "metadata"}, schema)
    result["metadata"] = merge(copy.deepcopy((live or {}).get("metadata") or {}),
                               applied.get("metadata") or {}, _METADATA_SCHEMA)

    # A conflict is a field another applier owns that this apply changes (an empty map changes nothing).
    conflicts = [Conflict(other, path) for other, paths in sorted(owners.items()) for path in sorted(paths & applying)
                 if value_at(live, path) != value_at(result, path)]
    if conflicts and not force:
        raise ApplyConflicts(conflicts, api_version)
    for conflict in conflicts:
        owners[conflict.manager].discard(conflict.path)

    kept = _with_named_fields(applying.union(*owners.values()), schema)
    dropped = {path for path in _with_named_fields(previous, schema) - kept
               if not any(other[:len(path)] == path for other in kept)}  # others' fields inside it stay
    nodes = {_node(path) for path in dropped}
    for path in dropped:
        node = _node(path)
        if not any(node[:depth] in nodes for depth in range(1, len(node))):  # not inside a removed node
            remove(result, path)

    owners[manager] = applying
    entries = [entry for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []
               if entry.get("operation") != "Apply" or entry.get("subresource")]
    for name, paths in owners.items():
        if paths:
            entries.append({"manager": name, "operation": "Apply", "apiVersion": api_version,
                            "time": timestamp if name == manager else _time_of(live, name, timestamp),
                            "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)})
    result["metadata"]["managedFields"] = entries
    return result


def _time_of(live: Mapping[str, Any] | None, manager: str, default: str) -> str:
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            return str(entry.get("time", default))
    return default
