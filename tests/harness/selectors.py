"""Label and field selectors, as `?labelSelector=` and `?fieldSelector=` take them.

Label selectors support the whole grammar clients send: `a=b`, `a==b`, `a!=b`,
`a in (x,y)`, `a notin (x)`, `a` (exists) and `!a` (does not exist), joined
by commas. Field selectors support `metadata.name` and `metadata.namespace`
with `=`, `==` and `!=`, which is what every resource supports on a real
server, plus the fields a resource indexes besides (`EXTRA_FIELDS`: events by
`involvedObject.*`, which `kubectl describe` uses to list an object's events);
other fields are rejected with 400 as a real server rejects fields a resource
does not index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")

SUPPORTED_FIELDS = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = ("reason", "type", "reportingComponent", "source", *(
    f"involvedObject.{key}" for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                                        "fieldPath")))
# Further fields each resource indexes, by (group, plural).
EXTRA_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "events"): _EVENT_FIELDS,
    ("events.k8s.io", "events"): ("reason", "type", "reportingController", *(
        f"regarding.{key}" for key in ("kind", "namespace", "name", "uid", "apiVersion"))),
}


class SelectorError(ValueError):
    """A selector that does not parse; the API answers 400 BadRequest."""


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside `in (...)` value lists."""
    terms, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [term for term in terms if term]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!exists":
                return not present
            case "=" | "in":
                return present and value in self.values
            case _:  # "!=", "notin": also true when the label is absent, as in Kubernetes
                return not present or value not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        requirements = []
        for term in _split_terms(text or ""):
            if match := _EQUALITY.match(term):
                key, op, value = match.groups()
                requirements.append(Requirement(key, "!=" if op == "!=" else "=", frozenset({value})))
            elif match := _SET.match(term):
                key, op, values = match.groups()
                items = frozenset(v.strip() for v in values.split(",") if v.strip())
                requirements.append(Requirement(key, op, items))
            elif match := _EXISTS.match(term):
                negated, key = match.groups()
                requirements.append(Requirement(key, "!exists" if negated else "exists"))
            else:
                raise SelectorError(f"unable to parse requirement: {term!r}")
        return cls(tuple(requirements))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(requirement.matches(labels) for requirement in self.requirements)


def _field_value(obj: Mapping[str, Any], field: str) -> str:
    """A selectable field as the server indexes it: a string, empty when absent (`source` is its component)."""
    value: Any = obj
    for key in (*field.split("."), *(("component",) if field == "source" else ())):
        value = value.get(key) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal?, value)

    @classmethod
    def parse(cls, text: str | None, extra_fields: tuple[str, ...] = ()) -> FieldSelector:
        terms = []
        for term in _split_terms(text or ""):
            match = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", term)
            if not match:
                raise SelectorError(f"invalid selector: {term!r}; can't understand {term!r}")
            field, op, value = match.groups()
            if field not in SUPPORTED_FIELDS and field not in extra_fields:
                raise SelectorError(f'field label not supported: {field}')
            terms.append((field, op != "!=", value))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, field) == value) == equal for field, equal, value in self.terms)

    @property
    def name(self) -> str | None:
        """The single name this selector pins, if any (watches of one object use this)."""
        for field, equal, value in self.terms:
            if field == "metadata.name" and equal:
                return value
        return None
