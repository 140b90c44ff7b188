"""Parse TierGate resources from plain dicts (YAML documents or API objects).

Errors name the field the way `kubectl` users read them (`spec.vllm.gpu.count`), so a
broken file in local mode and a rejected apply say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tiergate_api.constants import API_VERSION, MODEL_TIER_KIND, ROUTING_POLICY_KIND
from tiergate_api.modeltier import ModelTier
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_api.schema_extras import RuleViolationError

Resource = ModelTier | RoutingPolicy
_KINDS: dict[str, type[ModelTier] | type[RoutingPolicy]] = {
    MODEL_TIER_KIND: ModelTier,
    ROUTING_POLICY_KIND: RoutingPolicy,
}


class InvalidResourceError(ValueError):
    """A document is not a valid TierGate resource; `problems` lists (field path, message)."""

    def __init__(self, name: str, problems: list[tuple[str, str]]) -> None:
        self.name = name
        self.problems = problems
        detail = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(f"{name} is invalid: {detail}")


def is_tiergate_document(document: Mapping[str, Any]) -> bool:
    """Whether a document claims to be one of our kinds (others are skipped, not errors)."""
    return document.get("apiVersion") == API_VERSION and document.get("kind") in _KINDS


def parse_resource(document: Mapping[str, Any]) -> Resource:
    """Validate a ModelTier or RoutingPolicy document, raising InvalidResourceError."""
    kind = document.get("kind")
    name = _describe(document)
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None or document.get("apiVersion") != API_VERSION:
        raise InvalidResourceError(
            name, [("kind", f"expected apiVersion {API_VERSION} and kind ModelTier or RoutingPolicy")]
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidResourceError(name, field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """pydantic errors as (dotted field path, message) pairs, without pydantic's noise."""
    problems = []
    for error in exc.errors(include_url=False):
        parts = [str(part) for part in error["loc"] if not _is_union_tag(part)]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, RuleViolationError) and cause.field:
            parts.append(cause.field)
        path = ".".join(parts)
        message = error["msg"].removeprefix("Value error, ")
        problems.append((path, message))
    return problems


def _is_union_tag(part: object) -> bool:
    # pydantic names union members in locations ("function-after[...]", "int", "str").
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "constrained-str"})


def _describe(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return f"{document.get('kind', 'resource')} {name!r}" if name else str(document.get("kind", "resource"))
