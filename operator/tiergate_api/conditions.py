"""Status conditions in the shape of Kubernetes' metav1.Condition, and how to merge them.

Conditions are a list keyed by `type`. Writers set one condition at a time; the merge
keeps `lastTransitionTime` unless the status really changed, so `kubectl describe`
shows when a tier became unready, not when the operator last looked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from tiergate_api.base import ApiModel, Int


class ConditionStatus(StrEnum):
    """Whether a condition holds; Unknown until first evaluated."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """Every condition type TierGate writes."""

    READY = "Ready"
    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    RESOLVED_REFS = "ResolvedRefs"
    LOCAL_FALLBACK = "LocalFallback"
    AUTOSCALING = "Autoscaling"


CAMEL_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(ApiModel):
    """One aspect of the resource's current state, as in metav1.Condition."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=316)]
    """CamelCase kind of condition, for example Ready, Available or ResolvedRefs."""
    status: ConditionStatus
    """True, False or Unknown."""
    observed_generation: Annotated[Int | None, Field(ge=0)] = None
    """The metadata.generation this condition was computed from."""
    last_transition_time: datetime
    """When the status last changed from one value to another."""
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=CAMEL_REASON)]
    """A CamelCase, machine-readable reason for the last transition."""
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    """A human-readable explanation of the condition."""


def now_utc() -> datetime:
    """The current time truncated to seconds, as the API server stores timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """Return the conditions with `type_` set, keeping the transition time if unchanged."""
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    previous = find_condition(conditions, type_)
    transition = (
        previous.last_transition_time if previous is not None and previous.status == status else (now or now_utc())
    )
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        observed_generation=observed_generation,
        last_transition_time=transition,
    )
    result = [c for c in conditions if c.type != type_]
    result.append(updated)
    return sorted(result, key=lambda c: _ORDER.get(c.type, len(_ORDER)))


def merge_conditions(
    conditions: Sequence[Condition], updates: Iterable[Condition], *, now: datetime | None = None
) -> list[Condition]:
    """Apply several updates with `set_condition` semantics."""
    result = list(conditions)
    for update in updates:
        result = set_condition(
            result,
            update.type,
            update.status,
            update.reason,
            update.message,
            observed_generation=update.observed_generation,
            now=now,
        )
    return result


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """Return the condition of that type, or None."""
    return next((c for c in conditions if c.type == type_), None)



_ORDER = {t.value: i for i, t in enumerate(ConditionType)}
