"""Admission limits of one gateway process: requests in flight (gateway-wide and per tier)
and per-tier requests and tokens per minute.

A limit reached for a tier is not an error: the tier is skipped like an open circuit and
the request moves on down its plan. When every planned tier is skipped for its limits,
the request gets 429: `tier_rate_limit_exceeded` with `Retry-After` at the end of the
rate window, or `tier_at_capacity` when tiers are at their in-flight cap. The gateway-wide
cap answers 429 `gateway_overloaded` at once, so a burst far above capacity is refused
quickly instead of queueing without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tiergate_gateway.core.views import TierView


class LimitReason(StrEnum):
    """Why a tier cannot take one more request right now."""

    AT_CAPACITY = "AtCapacity"
    RATE_LIMITED = "TierRateLimit"


@dataclass
class _Window:
    """Fixed one-minute window of requests and tokens."""

    minute: int = -1
    requests: int = 0
    tokens: int = 0


@dataclass
class Limits:
    """In-flight counters and rate windows; single event loop, no locks needed."""

    tier_default_max_in_flight: int = 256
    gateway_max_in_flight: int = 0
    """0 means unlimited."""
    in_flight: int = 0
    _tier_in_flight: dict[str, int] = field(default_factory=dict)
    _windows: dict[str, _Window] = field(default_factory=dict)

    def gateway_full(self) -> bool:
        """Whether the gateway-wide cap is reached."""
        return 0 < self.gateway_max_in_flight <= self.in_flight

    def at_capacity(self, tier: TierView) -> bool:
        """Whether this process already has the tier's cap of requests in flight."""
        cap = tier.max_in_flight or self.tier_default_max_in_flight
        return self._tier_in_flight.get(tier.key, 0) >= cap

    def check_tier_rate(self, tier: TierView, tokens: int, now: float) -> bool:
        """Whether one more request of `tokens` fits the tier's minute (nothing is counted)."""
        if not (tier.requests_per_minute or tier.tokens_per_minute):
            return True
        window = self._window(tier.key, now)
        if tier.requests_per_minute and window.requests + 1 > tier.requests_per_minute:
            return False
        return not (tier.tokens_per_minute and window.tokens + tokens > tier.tokens_per_minute)

    def rate_window_ends(self, now: float) -> float:
        """When the current one-minute window of every tier ends (windows are aligned to the minute)."""
        return (now // 60 + 1) * 60

    def count_rate(self, tier: TierView, tokens: int, now: float) -> None:
        """Count a request and its estimated tokens against the tier's minute."""
        if tier.requests_per_minute or tier.tokens_per_minute:
            window = self._window(tier.key, now)
            window.requests += 1
            window.tokens += tokens

    def tier_in_flight(self, key: str) -> int:
        """Requests in flight on the tier in this worker."""
        return self._tier_in_flight.get(key, 0)

    def tier_cap(self, tier: TierView) -> int:
        """The tier's cap of requests in flight per worker."""
        return tier.max_in_flight or self.tier_default_max_in_flight

    def enter_tier(self, key: str) -> None:
        """A request to the tier starts."""
        self._tier_in_flight[key] = self._tier_in_flight.get(key, 0) + 1

    def leave_tier(self, key: str) -> None:
        """A request to the tier ended (in every outcome)."""
        left = self._tier_in_flight.get(key, 1) - 1
        if left:
            self._tier_in_flight[key] = left
        else:
            self._tier_in_flight.pop(key, None)

    def forget_except(self, keys: set[str]) -> None:
        """Drop the rate windows of tiers that no longer exist (in-flight counts end by themselves)."""
        for key in [key for key in self._windows if key not in keys]:
            del self._windows[key]

    def _window(self, key: str, now: float) -> _Window:
        minute = int(now // 60)
        window = self._windows.get(key)
        if window is None or window.minute != minute:
            window = self._windows[key] = _Window(minute)
        return window
