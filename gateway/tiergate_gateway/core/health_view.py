"""What routing may read of live health: a read-only view, and the words it is described in.

The runtime's `HealthBook` implements `HealthView`; the core declares it so that routing stays
pure (it never imports live state, it is handed a view of it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from tiergate_gateway.core.views import TierView


class CircuitState(StrEnum):
    """The breaker's position."""

    CLOSED = "Closed"
    OPEN = "Open"
    HALF_OPEN = "HalfOpen"


class BlockReason(StrEnum):
    """Why a tier is skipped without being tried."""

    CIRCUIT_OPEN = "CircuitOpen"
    COOLING_DOWN = "CoolingDown"
    SCALED_TO_ZERO = "ScaledToZero"
    """An in-cluster tier with no replica desired: the gateway starts it, requests fall back meanwhile."""
    STARTING = "Starting"
    """An in-cluster tier whose replicas are coming up (pods scheduled, the model loading)."""


COLD: frozenset[BlockReason] = frozenset({BlockReason.SCALED_TO_ZERO, BlockReason.STARTING})
"""The reasons that mean "no ready replica yet" (a cold start), as opposed to a failing tier."""


class HealthView(Protocol):
    """What routing reads of live health."""

    def blocked(self, key: str, now: float) -> BlockReason | None: ...

    def expected_ms(self, tier: TierView, output_tokens: int) -> float: ...

    def usable_at(self, key: str, now: float) -> float:
        """When the tier stops being blocked (for a cold tier: when it is expected to be ready)."""
        ...

    def expected_ms_many(self, tiers: list[TierView], output_tokens: int) -> list[float]: ...

    def congestion(self, key: str) -> float:
        """Requests waiting per request running on the tier's replicas now (0 when unknown)."""
        ...
