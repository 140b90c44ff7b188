"""Read-only, routing-ready views of tiers and policies (pure data, no behaviour).

A snapshot holds these instead of the API models: prices are integers in femto-USD per
token (exact for every price the CRD accepts, and cheap to add up on the hot path), task
sets are resolved, and secret values are wrapped so they never print.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from pydantic import SecretStr

from tiergate_api.enums import (
    ClassifierMode,
    Feature,
    LatencyClass,
    Locality,
    OnBudgetExceeded,
    RetryOn,
    Strategy,
    Task,
)
from tiergate_api.routingpolicy import LowConfidence
from tiergate_gateway.core.replicas import DEFAULT_WEIGHTS, PickWeights

FEMTO_PER_USD: Final = 10**15


def usd_to_femto(usd: Decimal) -> int:
    """USD as integer femto-USD."""
    return int(usd * FEMTO_PER_USD)


def price_per_million_to_femto_per_token(price: Decimal) -> int:
    """A per-million-token price as femto-USD per token (exact for up to 9 decimals)."""
    return int(price * (FEMTO_PER_USD // 10**6))


def femto_to_usd(femto: int) -> Decimal:
    """Femto-USD back to USD, for display and status."""
    return Decimal(femto) / FEMTO_PER_USD


@dataclass(frozen=True, slots=True)
class TierView:
    """One tier as routing sees it."""

    key: str
    """namespace/name: unique across the snapshot."""
    name: str
    namespace: str
    model: str
    """The model id sent upstream in place of the alias."""
    billions: float
    log_billions: float
    """log of `billions`, precomputed for the Hybrid score."""
    tasks: frozenset[Task]
    max_context_tokens: int | None
    features: frozenset[Feature]
    declares_features: bool
    input_femto_per_token: int
    output_femto_per_token: int
    locality: Locality
    url: str | None
    """Base URL without a trailing slash; None when the tier cannot be reached yet."""
    api_key: SecretStr | None = field(repr=False)
    timeout_seconds: float
    ttft_ms: float
    tokens_per_second: float
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_in_flight: int | None = None
    problem: str | None = None
    """Why the tier cannot take requests now (for example a missing Secret), or None."""
    replica_urls: tuple[str, ...] = ()
    """Base URLs of its replicas as the spec gives them (`url` alone is one replica)."""
    service: str | None = None
    """`namespace/name` of the Service whose EndpointSlices list its replicas (in-cluster tiers)."""
    picking: PickWeights = DEFAULT_WEIGHTS
    """How a replica is picked (`spec.replicaPicking`)."""
    scrape_interval_seconds: float = 1.0
    """How often its replicas' vLLM metrics are read (Local tiers only)."""
    autoscaled: bool = False
    """An in-cluster tier whose replicas follow demand (`spec.vllm.autoscaling`): the gateway may start it."""
    desired_replicas: int | None = None
    """Replicas its Deployment wants, as the operator last reported (`status.replicas`); None: unknown."""
    ready_replicas: int | None = None
    """Replicas ready, as the operator last reported (`status.readyReplicas`); None: unknown."""
    demand_window_seconds: float = 60.0
    """How long a request counts as demand for an autoscaled tier (`Autoscaling.demand_window_seconds`)."""
    idle_seconds: float = 600.0
    """How long an autoscaled tier stays up after its last demand; also how long a start it was wanted for is
    held up (reported as demand) while its pods come up."""

    @property
    def is_local(self) -> bool:
        """Whether the tier runs in the cluster (a safe last resort)."""
        return self.locality == Locality.LOCAL

    def estimated_cost(self, prompt_tokens: int, output_tokens: int) -> int:
        """Estimated femto-USD for a request of this size."""
        return prompt_tokens * self.input_femto_per_token + output_tokens * self.output_femto_per_token


@dataclass(frozen=True, slots=True)
class ExternalClassifierView:
    """`spec.classifier.external` resolved: where to ask, how long to wait, and the key (never printed)."""

    url: str
    timeout_seconds: float
    api_key: SecretStr | None = None
    problem: str | None = None
    """Why the service cannot be asked at all (its Secret is missing); the built-in classifier decides."""


@dataclass(frozen=True, slots=True)
class PolicyView:
    """One policy with its tier references resolved."""

    key: str
    name: str
    namespace: str
    alias: str
    strategy: Strategy
    weights: tuple[int, int, int]
    tiers: tuple[TierView, ...]
    chain: tuple[TierView, ...] | None
    missing_tiers: tuple[str, ...]
    default_latency_class: LatencyClass
    max_cost_femto: int | None
    daily_limit_femto: int | None
    on_exceeded: OnBudgetExceeded
    retry_on: frozenset[RetryOn]
    max_attempts: int
    attempt_timeout_seconds: float
    require_local_last: bool
    request_timeout_seconds: float | None
    classifier_header: str
    classifier_mode: ClassifierMode
    all_tiers: tuple[TierView, ...] = ()
    """Candidates then chain-only tiers, each once."""
    capable: Mapping[Task, tuple[TierView, ...]] = field(default_factory=dict)
    """Per task, the candidate tiers that list it, in Capability order (size, then price, then name)."""
    local_tiers: tuple[TierView, ...] = ()
    """The Local tiers among all_tiers, largest first (last-resort options)."""
    capable_local: Mapping[Task, tuple[TierView, ...]] = field(default_factory=dict)
    """Per task, the Local tiers that list it, largest first."""
    direct: bool = False
    """A one-tier stand-in for a request that named a tier instead of a policy alias."""
    cold_start_wait: Mapping[LatencyClass, float] = field(default_factory=dict)
    """Per latency class, how long a request waits for a cold tier (`spec.coldStart`); absent: 0."""
    route_hard_up: bool = False
    """`spec.classifier.difficulty: RouteHardUp`: hard requests prefer the upper part of the task's range."""
    low_confidence: LowConfidence | None = None
    """What to do with a task the classifier is unsure of (`spec.classifier.lowConfidence`); None: nothing."""
    external_classifier: ExternalClassifierView | None = None
    """The team's own classifier service (`spec.classifier.external`); None: the built-in classifier only."""

    @property
    def label(self) -> str:
        """How messages name what the request asked for: `policy 'auto'` or `tier 'qwen-1-5b'`."""
        return f"tier {self.alias!r}" if self.direct else f"policy {self.alias!r}"


def with_index(policy: PolicyView) -> PolicyView:
    """The policy with its routing index filled in (all tiers, capable tiers per task, Local tiers)."""
    seen = {t.key for t in policy.tiers}
    all_tiers = policy.tiers + tuple(t for t in (policy.chain or ()) if t.key not in seen)
    ordered = sorted(
        policy.tiers,
        key=lambda t: (t.billions, t.input_femto_per_token + t.output_femto_per_token, t.name),
    )
    capable = {task: tuple(t for t in ordered if task in t.tasks) for task in Task}
    local = tuple(sorted((t for t in all_tiers if t.is_local), key=lambda t: (-t.billions, t.name)))
    capable_local = {task: tuple(t for t in local if task in t.tasks) for task in Task}
    return dataclasses.replace(
        policy, all_tiers=all_tiers, capable=capable, local_tiers=local, capable_local=capable_local
    )
