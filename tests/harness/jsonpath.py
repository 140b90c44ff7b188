"""kubectl's JSONPath dialect, as far as CRD printer columns use it.

The apiserver evaluates each `additionalPrinterColumns[].jsonPath` with
client-go's `util/jsonpath` (`.spec.model`, `.spec.tiers[*].name`,
`.status.conditions[?(@.type=="Ready")].status`). That grammar is not the one
general JSONPath libraries implement (no leading `$`, Go-style filters), and
the columns use a small part of it, so this module evaluates that part:

- fields: `.a.b`, `['a.b']`, `.*`, recursive descent `..a`;
- arrays: `[0]`, `[-1]`, `[1:3]`, `[*]`;
- filters: `[?(@.a.b == "x")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` against a
  string, number or boolean, and `[?(@.a)]` (the field exists).

`find` returns every match in document order; the apiserver shows the first.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9_\-/]+")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_FILTER = re.compile(r"^@((?:\.[A-Za-z0-9_\-/]+)+)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


class JsonPathError(ValueError):
    """An expression outside the supported dialect."""


@dataclass(frozen=True)
class _Step:
    kind: str  # "field", "wildcard", "descend", "index", "slice", "filter"
    arg: Any = None


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return json.loads(text)
    except ValueError as e:
        raise JsonPathError(f"unsupported filter value {text!r}") from e


def _bracket(inner: str) -> _Step:
    inner = inner.strip()
    if inner == "*":
        return _Step("wildcard")
    if inner.startswith("?(") and inner.endswith(")"):
        match = _FILTER.match(inner[2:-1])
        if not match:
            raise JsonPathError(f"unsupported filter {inner!r}")
        path, op, value = match.groups()
        return _Step("filter", (tuple(path.strip(".").split(".")), op, None if op is None else _literal(value)))
    if inner[:1] in "\"'":
        return _Step("field", _literal(inner))
    if ":" in inner:
        start, _, end = inner.partition(":")
        return _Step("slice", (int(start) if start.strip() else None, int(end) if end.strip() else None))
    try:
        return _Step("index", int(inner))
    except ValueError as e:
        raise JsonPathError(f"unsupported subscript [{inner}]") from e


def parse(expression: str) -> tuple[_Step, ...]:
    """Split an expression (with or without the `{...}` kubectl puts around it) into steps."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.removeprefix("$")
    steps: list[_Step] = []
    i = 0
    while i < len(text):
        if text.startswith("..", i):
            steps.append(_Step("descend"))
            i += 2
            continue
        char = text[i]
        if char == ".":
            i += 1
            if text.startswith("*", i):
                steps.append(_Step("wildcard"))
                i += 1
                continue
            match = _NAME.match(text, i)
            if not match:
                raise JsonPathError(f"expected a field name at {text[i:]!r} in {expression!r}")
            steps.append(_Step("field", match.group()))
            i = match.end()
        elif char == "[":
            end = _closing_bracket(text, i)
            steps.append(_bracket(text[i + 1:end]))
            i = end + 1
        else:
            match = _NAME.match(text, i)
            if not match or (steps and steps[-1].kind != "descend"):
                raise JsonPathError(f"unexpected {text[i:]!r} in {expression!r}")
            steps.append(_Step("field", match.group()))
            i = match.end()
    return tuple(steps)


def _closing_bracket(text: str, start: int) -> int:
    depth, quote = 0, ""
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth == 0:
                return i
    raise JsonPathError(f"unbalanced brackets in {text!r}")


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _descendants(value: Any) -> Iterator[Any]:
    yield value
    for child in _children(value):
        yield from _descendants(child)


def _lookup(value: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _matches(item: Any, condition: tuple[tuple[str, ...], str | None, Any]) -> bool:
    path, op, expected = condition
    found, actual = _lookup(item, path)
    if op is None:
        return found
    if not found:
        return False
    try:
        return _COMPARE[op](actual, expected)
    except TypeError:  # e.g. "a" < 1: no match, as in client-go
        return False


def _apply(step: _Step, value: Any) -> Iterator[Any]:
    match step.kind:
        case "field":
            if isinstance(value, dict) and step.arg in value:
                yield value[step.arg]
        case "wildcard":
            yield from _children(value)
        case "descend":
            yield from _descendants(value)
        case "index" if isinstance(value, list):
            if -len(value) <= step.arg < len(value):
                yield value[step.arg]
        case "slice" if isinstance(value, list):
            start, end = step.arg
            yield from value[start:end]
        case "filter" if isinstance(value, list):
            yield from (item for item in value if _matches(item, step.arg))


def find(obj: Any, expression: str) -> list[Any]:
    """Every value the expression selects in `obj`, in document order (missing keys select nothing)."""
    current = [obj]
    for step in parse(expression):
        current = [result for value in current for result in _apply(step, value)]
    return current


def to_text(value: Any) -> str:
    """A value as client-go's JSONPath printer writes it: strings bare, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"))
