"""Autoscaling: GPU capacity that follows demand, down to zero, with KEDA doing the scaling.

An in-cluster tier with `spec.vllm.autoscaling` gets a KEDA `ScaledObject` from the operator
instead of a fixed replica count: KEDA scales the vLLM Deployment from 1 to `maxReplicas` on the
replicas' own queue (`vllm:num_requests_waiting`, and optionally their KV-cache use), and from 0
to 1 on the gateway's demand for the tier. The gateway also starts a cold tier itself, within a
second of the first request that wanted it, and routes around it (`ScaledToZero`, `Starting`)
until a replica is ready (docs/autoscaling.md).

Who writes the Deployment's `spec.replicas`, so that no two controllers fight:
- the operator, never while KEDA is installed (it writes `max(minReplicas, 1)` when it is not);
- KEDA (its HPA from 1 up, its own loop for 0 and 1);
- the gateway, only from 0 to 1, and only while KEDA will see the demand that justified it.

Routing's half of cold starts (wait or fall back, per latency class) is the policy's
`spec.coldStart` (tiergate_api.routingpolicy).
"""

from __future__ import annotations

from typing import Annotated, Final, Self

from pydantic import ConfigDict, Field, model_validator

from tiergate_api.base import ApiModel, Int
from tiergate_api.schema_extras import RuleViolationError, cel, validations

MIN_GREATER_THAN_MAX: Final = "minReplicas must not exceed maxReplicas"

DEFAULT_TARGET_WAITING_REQUESTS: Final = 4
DEFAULT_TARGET_KV_CACHE_PERCENT: Final = 55
"""Measured with `make bench-capacity`: the waiting queue alone keeps one replica until requests queue, and a
replica that takes 60-300 s to start then comes too late for a burst (docs/performance.md, "Capacity")."""
DEFAULT_IDLE_SECONDS: Final = 600
DEFAULT_POLLING_SECONDS: Final = 15
DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: Final = 300
DEFAULT_SCALE_DOWN_PODS_PER_MINUTE: Final = 1
MIN_DEMAND_WINDOW_SECONDS: Final = 60
"""The shortest demand window: a Prometheus scrape (15-30 s) and a KEDA poll must fit in it."""


class ScaleDown(ApiModel):
    """How fast the tier sheds replicas above one (the HPA's scale-down behaviour)."""

    stabilization_seconds: Annotated[Int, Field(ge=0, le=3600)] = DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS
    """The highest replica count wanted over this window is kept, so a short lull removes no pod."""
    pods_per_minute: Annotated[Int, Field(ge=1, le=128)] = DEFAULT_SCALE_DOWN_PODS_PER_MINUTE
    """Most pods removed per minute."""


class Autoscaling(ApiModel):
    """Scale the vLLM Deployment with demand (KEDA); `spec.vllm.replicas` is then ignored."""

    min_replicas: Annotated[Int, Field(ge=0, le=128)] = 0
    """Fewest replicas; 0 lets an idle tier scale to zero (its requests fall back meanwhile)."""
    max_replicas: Annotated[Int, Field(ge=1, le=128)]
    """Most replicas."""
    target_waiting_requests: Annotated[Int, Field(ge=1, le=10_000)] = DEFAULT_TARGET_WAITING_REQUESTS
    """Requests waiting per replica (vllm:num_requests_waiting) above which a replica is added."""
    target_kv_cache_percent: Annotated[Int, Field(ge=0, le=100)] = DEFAULT_TARGET_KV_CACHE_PERCENT
    """KV-cache use per replica (vllm:kv_cache_usage_perc, in percent) above which a replica is added (default 55);
    0 scales on the waiting queue alone. It adds replicas before requests queue: a new one takes minutes to load."""
    idle_seconds_before_zero: Annotated[Int, Field(ge=30, le=86_400)] = DEFAULT_IDLE_SECONDS
    """How long the tier stays up after the last request that wanted it (KEDA's cooldownPeriod), give or take
    the demand window (up to twice pollingIntervalSeconds, at least a minute)."""
    polling_interval_seconds: Annotated[Int, Field(ge=1, le=300)] = DEFAULT_POLLING_SECONDS
    """How often KEDA reads the triggers (KEDA's pollingInterval)."""
    scale_down: ScaleDown = Field(default_factory=ScaleDown, json_schema_extra={"default": {}})
    """The pace of scaling down between maxReplicas and one."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.minReplicas <= self.maxReplicas", MIN_GREATER_THAN_MAX, field_path=".minReplicas")
        )
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise RuleViolationError(MIN_GREATER_THAN_MAX, "minReplicas")
        return self

    @property
    def demand_window_seconds(self) -> int:
        """How long a request counts as demand for the tier: long enough for KEDA to see it at its next poll
        (through Prometheus: a scrape, then the poll), short enough to add little to the idle time."""
        return min(self.idle_seconds_before_zero, max(MIN_DEMAND_WINDOW_SECONDS, 2 * self.polling_interval_seconds))

    @property
    def floor_without_scaler(self) -> int:
        """Replicas the operator runs when no scaler is installed: never zero (nothing would wake it)."""
        return max(self.min_replicas, 1)
