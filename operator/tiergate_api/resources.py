"""Parse TierGate resources from plain dicts (YAML documents or API objects).

Errors name the field the way `kubectl` users read them (`spec.vllm.gpu.count`), so a
broken file in local mode and a rejected apply say the same thing. They are logged, so they
never carry the rejected values (a misplaced API key would land in the log) and their size
is bounded whatever the document holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from tiergate_api.constants import API_VERSION, MODEL_TIER_KIND, ROUTING_POLICY_KIND
from tiergate_api.modeltier import ModelTier
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_api.schema_extras import RuleViolationError

Resource = ModelTier | RoutingPolicy
MAX_PROBLEMS: Final = 10
"""Problems listed per invalid document; the rest are counted."""
_MAX_MESSAGE: Final = 200
_MAX_PATH_PART: Final = 64
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
    kind = document.get("kind")
    return document.get("apiVersion") == API_VERSION and isinstance(kind, str) and kind in _KINDS


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
    errors = exc.errors(include_url=False, include_input=False)
    for error in errors[:MAX_PROBLEMS]:
        parts = [_clip(str(part), _MAX_PATH_PART) for part in error["loc"] if not _is_union_tag(part)]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, RuleViolationError) and cause.field:
            parts.append(cause.field)
        path = ".".join(parts)
        message = _clip(error["msg"].removeprefix("Value error, "), _MAX_MESSAGE)
        problems.append((path, message))
    if len(errors) > MAX_PROBLEMS:
        problems.append(("", f"and {len(errors) - MAX_PROBLEMS} more problems"))
    return problems


def _clip(text: str, limit: int) -> str:
    """One printable line of at most `limit` characters (map keys and messages can be anything)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_union_tag(part: object) -> bool:
    # pydantic names union members in locations ("function-after[...]", "int", "str").
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "constrained-str"})


def _describe(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    kind = document.get("kind")
    kind = _clip(kind, _MAX_PATH_PART) if isinstance(kind, str) and kind else "resource"
    return f"{kind} {_clip(name, _MAX_PATH_PART)!r}" if isinstance(name, str) and name else kind
