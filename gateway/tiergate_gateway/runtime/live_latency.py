"""Expected latency that includes the queue a tier's replicas report now.

Routing ranks by expected latency (the Latency and Hybrid strategies) from averages of past
answers and the tier's priors (`runtime/health.py`). Those say nothing of a tier that is
saturated right now; its vLLM replicas do (`vllm:num_requests_waiting`). This view of live health
scales a tier's expected latency by `1 + waiting / running` over its replicas' current signals,
so a tier with a long queue ranks as the slow tier it is until the queue drains. Tiers without
scraped replicas (external APIs, servers without metrics) are unchanged.
"""

from __future__ import annotations

from tiergate_gateway.core.health_view import BlockReason, HealthView
from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.replicas import ReplicaBook


class QueueAwareHealth:
    """A `HealthView` whose expected latencies include the replicas' queues."""

    def __init__(self, health: HealthView, replicas: ReplicaBook) -> None:
        self.health = health
        self.replicas = replicas

    def blocked(self, key: str, now: float) -> BlockReason | None:
        """As live health says."""
        return self.health.blocked(key, now)

    def usable_at(self, key: str, now: float) -> float:
        """As live health says."""
        return self.health.usable_at(key, now)

    def congestion(self, key: str) -> float:
        """The tier's replicas' queue factor (`ReplicaPool.queue_factor`)."""
        return self.replicas.queue_factor(key)

    def expected_ms(self, tier: TierView, output_tokens: int) -> float:
        """Live health's expectation, times one plus the tier's queue factor."""
        return self.health.expected_ms(tier, output_tokens) * (1.0 + self.replicas.queue_factor(tier.key))

    def expected_ms_many(self, tiers: list[TierView], output_tokens: int) -> list[float]:
        """`expected_ms` for many tiers (the planner's hot loop: one dict lookup per tier)."""
        base = self.health.expected_ms_many(tiers, output_tokens)
        factor = self.replicas.queue_factor
        return [ms * (1.0 + factor(tier.key)) for ms, tier in zip(base, tiers, strict=True)]
