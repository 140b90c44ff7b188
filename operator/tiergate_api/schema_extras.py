"""Kubernetes schema extensions expressed as pydantic annotations.

Each helper returns what a model needs on both sides: the `x-kubernetes-*` keys the CRD
generator copies into the schema, and (where pydantic cannot infer it) the validator that
makes the model judge a resource as the API server does.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, Field, Strict, WithJsonSchema

T = TypeVar("T")

# The API server's own pattern for resource.Quantity.
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY_RE: Final = re.compile(QUANTITY_PATTERN)


class RuleViolationError(ValueError):
    """A cross-field rule failed; `field` is the CEL rule's fieldPath, relative to the model."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def cel(rule: str, message: str, *, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """`json_schema_extra` carrying CEL rules for a model or field."""
    return {"x-kubernetes-validations": list(rules)}


def _unique(items: Sequence[Hashable]) -> None:
    seen: set[Hashable] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"duplicate entry {item!r}")
        seen.add(item)


def _check_set[T: Hashable](items: list[T]) -> list[T]:
    _unique(items)
    return items


def list_set(max_items: int) -> tuple[Any, ...]:
    """Annotations for a list of scalars that must not repeat (x-kubernetes-list-type set)."""
    return (
        Field(max_length=max_items, json_schema_extra={"x-kubernetes-list-type": "set"}),
        AfterValidator(_check_set),
    )


def list_map(key: str, max_items: int, min_items: int = 0) -> tuple[Any, ...]:
    """Annotations for a list of objects keyed by `key` (x-kubernetes-list-type map)."""

    def check(items: list[Any]) -> list[Any]:
        _unique([getattr(item, key) for item in items])
        return items

    return (
        Field(
            min_length=min_items,
            max_length=max_items,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": [key],
            },
        ),
        AfterValidator(check),
    )


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not _QUANTITY_RE.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity, like 500m, 2 or 16Gi")
    return value


Quantity = Annotated[
    Annotated[int, Strict()] | str,
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A Kubernetes resource quantity: an integer or a string such as "16Gi"."""

FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""An object passed through to Kubernetes as it is (its schema is Kubernetes' own)."""
