"""A placeholder instance of a JSON schema: what a structured-output model would answer.

Pure and bounded. Schemas arrive in requests, so nothing here may loop or allocate without
limit: nesting past `MAX_DEPTH`, more than `MAX_NODES` values, lists longer than
`MAX_ITEMS` and strings longer than `MAX_STRING` are cut (to null, or to fewer items),
which may break the schema but never the server. Past `SHALLOW_DEPTH` instances turn
minimal (required properties only, the fewest items, the null branch of a union), so
recursive models such as a pydantic tree end in valid leaves.

Understood: `type` (one or a list), object `properties`/`required`/`additionalProperties`,
array `items`/`prefixItems`/`minItems`/`maxItems`, `enum`, `const`, string
`minLength`/`maxLength`/a few `format`s, number bounds (inclusive and exclusive) and
integer `multipleOf`, `anyOf`/`oneOf` (the first branch), `allOf` (merged), and `$ref`
to a JSON pointer in the same document (`#/$defs/...`, `#/definitions/...`, `#`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

MAX_DEPTH: Final = 24
SHALLOW_DEPTH: Final = 8
MAX_NODES: Final = 1024
MAX_ITEMS: Final = 16
MAX_STRING: Final = 256
MAX_PROPERTIES: Final = 128
"""Properties and required names read per object; later ones are ignored."""
MAX_BRANCHES: Final = 16
"""Entries of `allOf` merged, and of `anyOf`/`oneOf` searched for a null branch."""
MAX_POINTER_PARTS: Final = 32
"""Segments of a `$ref` pointer followed; a longer pointer finds nothing."""
_INT_RANGE: Final = (-(2**63), 2**63 - 1)
"""Integers orjson can write (schema bounds may be any float)."""

_TEXT: Final = "text"
_FORMATS: Final[Mapping[str, str]] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "PT1S",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uri": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_OBJECT_WORDS: Final = ("properties", "required", "additionalProperties")
_ARRAY_WORDS: Final = ("items", "prefixItems", "minItems", "maxItems")
_NUMBER_WORDS: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING_WORDS: Final = ("minLength", "maxLength", "format", "pattern")


def sample(schema: object) -> Any:
    """A JSON-ready value shaped like `schema` (a decoded JSON schema), within the bounds."""
    return _Sampler(schema).value(schema, 0)


class _Sampler:
    """One walk over one schema document; `left` counts the values it may still make."""

    __slots__ = ("left", "root")

    def __init__(self, root: object) -> None:
        self.root = root
        self.left = MAX_NODES

    def value(self, schema: object, depth: int) -> Any:
        if self.left <= 0 or depth > MAX_DEPTH or not isinstance(schema, dict):
            return None  # out of budget, or a boolean schema (true accepts null; false accepts nothing)
        self.left -= 1
        ref = schema.get("$ref")
        if isinstance(ref, str):
            self.left -= len(ref) // 64  # a long pointer costs its length at every visit
            return self.value(self._resolve(ref), depth + 1)
        if "const" in schema:
            return self._charged(schema["const"])
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return self._charged(enum[0])
        for word in ("anyOf", "oneOf"):
            branches = schema.get(word)
            if isinstance(branches, list) and branches:
                return self.value(_pick(branches, deep=depth >= SHALLOW_DEPTH), depth + 1)
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            return self.value(self._merge(schema, parts), depth + 1)
        match _type_of(schema, deep=depth >= SHALLOW_DEPTH):
            case "object":
                return self._object(schema, depth)
            case "array":
                return self._array(schema, depth)
            case "string":
                return _string(schema)
            case "integer":
                return _integer(schema)
            case "number":
                return _number(schema)
            case "boolean":
                return True
        return None

    def _charged(self, value: object) -> object:
        """A value copied from the schema (`const`, `enum`), paid for by its size."""
        if isinstance(value, str):
            self.left -= len(value) // 64
        elif isinstance(value, list | dict):
            self.left -= len(orjson.dumps(value)) // 64
        return value if self.left >= 0 else None

    def _resolve(self, ref: str) -> object:
        """The schema a same-document `$ref` points to, or None (other refs are not fetched)."""
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        node: object = self.root
        for part in ref[2:].split("/", MAX_POINTER_PARTS):
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node

    def _merge(self, schema: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
        """`allOf` as one schema: properties and required names joined, other words first-wins."""
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        properties = dict(merged.get("properties") or {})
        required = list(merged.get("required") or [])
        copied = len(merged)
        for part in parts[:MAX_BRANCHES]:
            if isinstance(part, dict) and isinstance(part.get("$ref"), str):
                self.left -= len(part["$ref"]) // 64
                part = self._resolve(part["$ref"])
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("properties"), dict):
                properties.update(itertools.islice(part["properties"].items(), MAX_PROPERTIES))
            if isinstance(part.get("required"), list):
                required.extend(part["required"][:MAX_PROPERTIES])
            for key, value in itertools.islice(part.items(), MAX_PROPERTIES):
                if key not in ("properties", "required", "$ref"):
                    merged.setdefault(key, value)
            copied += min(len(part), MAX_PROPERTIES)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        self.left -= (copied + len(properties) + len(required)) // 8  # merging is work too
        return merged

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        required = schema.get("required")
        names = (
            [name for name in required[:MAX_PROPERTIES] if isinstance(name, str)] if isinstance(required, list) else []
        )
        if depth < SHALLOW_DEPTH:  # every declared property, then required names left undeclared
            names = [*itertools.islice(properties, MAX_PROPERTIES), *(name for name in names if name not in properties)]
        extra = schema.get("additionalProperties")
        undeclared = extra if isinstance(extra, dict) else True  # the schema of a required but undeclared name
        result: dict[str, Any] = {}
        for name in names:
            if self.left <= 0:
                break
            if name not in result:
                result[name] = self.value(properties.get(name, undeclared), depth + 1)
        return result

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = _count(schema.get("minItems"), 0)
        high = _count(schema.get("maxItems"), MAX_ITEMS)
        wanted = min(low if depth >= SHALLOW_DEPTH else max(low, 1), high, MAX_ITEMS)
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft 4 to 2019-09 tuples
            prefix, items = items, schema.get("additionalItems")
        if not isinstance(prefix, list):
            prefix = []
        if items is False:
            wanted = min(wanted, len(prefix))
        result: list[Any] = []
        for index in range(wanted):
            if self.left <= 0:
                break
            result.append(self.value(prefix[index] if index < len(prefix) else items, depth + 1))
        return result


def _pick(branches: list[Any], *, deep: bool) -> object:
    """The first branch; deep in a document, a null branch when there is one (ends recursion)."""
    if deep:
        for branch in branches[:MAX_BRANCHES]:
            if isinstance(branch, dict) and branch.get("type") == "null":
                return branch
    return branches[0]


def _type_of(schema: dict[str, Any], *, deep: bool) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list) and kind:
        if deep and "null" in kind[:MAX_BRANCHES]:
            return "null"
        return kind[0] if isinstance(kind[0], str) else None
    for words, inferred in (
        (_OBJECT_WORDS, "object"),
        (_ARRAY_WORDS, "array"),
        (_NUMBER_WORDS, "number"),
        (_STRING_WORDS, "string"),
    ):
        if any(word in schema for word in words):
            return inferred
    return None


def _count(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _string(schema: dict[str, Any]) -> str:
    form = schema.get("format")
    text = _FORMATS.get(form, _TEXT) if isinstance(form, str) else _TEXT
    shortest = min(_count(schema.get("minLength"), 0), MAX_STRING)
    if len(text) < shortest:
        text += "x" * (shortest - len(text))
    longest = schema.get("maxLength")
    if isinstance(longest, int) and not isinstance(longest, bool) and 0 <= longest < len(text):
        text = text[:longest]
    return text


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _bounds(schema: dict[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive), in draft 4's style or draft 6's."""
    low, high = _finite(schema.get("minimum")), _finite(schema.get("maximum"))
    low_open = high_open = False
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if exclusive_low is True:
        low_open = low is not None
    elif (value := _finite(exclusive_low)) is not None and (low is None or value >= low):
        low, low_open = value, True
    if exclusive_high is True:
        high_open = high is not None
    elif (value := _finite(exclusive_high)) is not None and (high is None or value <= high):
        high, high_open = value, True
    return low, low_open, high, high_open


def _integer(schema: dict[str, Any]) -> int:
    low, low_open, high, high_open = _bounds(schema)
    value = 0
    if low is not None:
        smallest = math.floor(low) + 1 if low_open else math.ceil(low)
        value = max(value, smallest)
    if high is not None:
        largest = math.ceil(high) - 1 if high_open else math.floor(high)
        value = min(value, largest)
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0 and value % step:
        value = -(-value // step) * step
    return min(max(value, _INT_RANGE[0]), _INT_RANGE[1])


def _number(schema: dict[str, Any]) -> float:
    low, low_open, high, high_open = _bounds(schema)
    value = 0.0
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high:
        if low is not None and high is not None:
            value = low + (high - low) / 2
        elif low is not None:
            value = low + 1
        elif high is not None:
            value = high - 1
    return value
