"""Live per-tier health: latency averages, recent errors, cool-downs and circuit breakers.

Routing only reads it (`blocked`, `expected_ms`); the attempt loop writes it. A tier's
circuit opens after consecutive failures or a high error rate over a sliding window,
lets a limited number of probes through once its open period has passed, and closes on
a successful probe.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tiergate_gateway.core.health_view import BlockReason, CircuitState, HealthView
from tiergate_gateway.core.views import TierView

__all__ = ["BlockReason", "BreakerSettings", "CircuitState", "HealthBook", "HealthView", "TierStats"]


@dataclass(frozen=True)
class BreakerSettings:
    """Circuit-breaker thresholds."""

    consecutive_failures: int = 5
    error_rate: float = 0.5
    window: int = 20
    min_samples: int = 10
    open_seconds: float = 30.0
    half_open_probes: int = 1
    ewma_alpha: float = 0.2


@dataclass
class TierStats:
    """Mutable live figures of one tier."""

    ttft_ms: float | None = None
    tokens_per_second: float | None = None
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=20))
    consecutive_failures: int = 0
    cooldown_until: float = 0.0
    circuit: CircuitState = CircuitState.CLOSED
    opened_at: float = 0.0
    probes_in_flight: int = 0

    def error_rate(self) -> float:
        """Share of failures in the window (0 when empty)."""
        return self.outcomes.count(False) / len(self.outcomes) if self.outcomes else 0.0


class HealthBook:
    """Live health of every tier, keyed by namespace/name; single event loop, no locks."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._stats: dict[str, TierStats] = {}

    def stats(self, key: str) -> TierStats:
        """The live figures of a tier (created on first use)."""
        found = self._stats.get(key)
        if found is None:
            found = self._stats[key] = TierStats(outcomes=deque(maxlen=self.settings.window))
        return found

    def known(self, key: str) -> TierStats | None:
        """The live figures of a tier if any were recorded (a read that creates nothing)."""
        return self._stats.get(key)

    def state(self, key: str, now: float) -> CircuitState:
        """The circuit's position now (an open circuit past its open period counts as half-open)."""
        found = self._stats.get(key)
        if found is None:
            return CircuitState.CLOSED
        if found.circuit == CircuitState.OPEN and now - found.opened_at >= self.settings.open_seconds:
            return CircuitState.HALF_OPEN
        return found.circuit

    def blocked(self, key: str, now: float) -> BlockReason | None:
        """Why the tier must be skipped now, or None."""
        found = self._stats.get(key)
        if found is None:
            return None
        if found.cooldown_until > now:
            return BlockReason.COOLING_DOWN
        state = self.state(key, now)
        if state == CircuitState.OPEN:
            return BlockReason.CIRCUIT_OPEN
        if state == CircuitState.HALF_OPEN and found.probes_in_flight >= self.settings.half_open_probes:
            return BlockReason.CIRCUIT_OPEN
        return None

    def usable_at(self, key: str, now: float) -> float:
        """When the tier stops being blocked: `now` when it is not, else the end of its cool-down or
        open period (a half-open circuit whose probes are out: a second from now, when they will have told)."""
        found = self._stats.get(key)
        if found is None:
            return now
        at = max(now, found.cooldown_until)
        state = self.state(key, now)
        if state == CircuitState.OPEN:
            at = max(at, found.opened_at + self.settings.open_seconds)
        elif state == CircuitState.HALF_OPEN and found.probes_in_flight >= self.settings.half_open_probes:
            at = max(at, now + 1.0)
        return at

    def probe_abandoned(self, key: str) -> None:
        """An attempt ended without an outcome (cancelled, or failed before it reached the tier): free its probe."""
        found = self._stats.get(key)
        if found is not None and found.probes_in_flight:
            found.probes_in_flight -= 1

    def congestion(self, key: str) -> float:
        """Past answers say nothing of a queue now: 0 (`runtime/live_latency.py` knows the replicas')."""
        return 0.0

    def expected_ms(self, tier: TierView, output_tokens: int) -> float:
        """Expected latency of a request: live averages where known, the tier's priors otherwise."""
        found = self._stats.get(tier.key)
        ttft = found.ttft_ms if found and found.ttft_ms is not None else tier.ttft_ms
        speed = found.tokens_per_second if found and found.tokens_per_second else tier.tokens_per_second
        return ttft + 1000.0 * output_tokens / speed

    def expected_ms_many(self, tiers: list[TierView], output_tokens: int) -> list[float]:
        """`expected_ms` for many tiers in one call (the planner's hot loop)."""
        stats = self._stats
        scale = 1000.0 * output_tokens
        if not stats:
            return [t.ttft_ms + scale / t.tokens_per_second for t in tiers]
        found = []
        for tier in tiers:
            live = stats.get(tier.key)
            if live is None:
                found.append(tier.ttft_ms + scale / tier.tokens_per_second)
            else:
                ttft = live.ttft_ms if live.ttft_ms is not None else tier.ttft_ms
                found.append(ttft + scale / (live.tokens_per_second or tier.tokens_per_second))
        return found

    def attempt_started(self, key: str, now: float) -> bool:
        """Count a probe when the attempt goes to a half-open circuit; True when it took one."""
        if self.state(key, now) == CircuitState.HALF_OPEN:
            found = self.stats(key)
            found.circuit = CircuitState.HALF_OPEN
            found.probes_in_flight += 1
            return True
        return False

    def record_success(
        self, key: str, now: float, *, ttft_ms: float | None = None, tokens_per_second: float | None = None
    ) -> CircuitState | None:
        """Feed a success; returns the new circuit state when it changed."""
        found = self.stats(key)
        alpha = self.settings.ewma_alpha
        if ttft_ms is not None:
            found.ttft_ms = ttft_ms if found.ttft_ms is None else (1 - alpha) * found.ttft_ms + alpha * ttft_ms
        if tokens_per_second:
            previous = found.tokens_per_second
            found.tokens_per_second = (
                tokens_per_second if previous is None else (1 - alpha) * previous + alpha * tokens_per_second
            )
        found.outcomes.append(True)
        found.consecutive_failures = 0
        found.probes_in_flight = max(0, found.probes_in_flight - 1)
        if found.circuit != CircuitState.CLOSED:
            found.circuit = CircuitState.CLOSED
            found.outcomes.clear()
            return CircuitState.CLOSED
        return None

    def record_failure(self, key: str, now: float, *, retry_after: float | None = None) -> CircuitState | None:
        """Feed a failure (and a 429's cool-down); returns the new circuit state when it changed."""
        found = self.stats(key)
        found.outcomes.append(False)
        found.consecutive_failures += 1
        found.probes_in_flight = max(0, found.probes_in_flight - 1)
        if retry_after is not None and retry_after > 0:
            found.cooldown_until = max(found.cooldown_until, now + retry_after)
        settings = self.settings
        should_open = found.circuit == CircuitState.HALF_OPEN or found.consecutive_failures >= (
            settings.consecutive_failures
        )
        if not should_open and len(found.outcomes) >= settings.min_samples:
            should_open = found.error_rate() >= settings.error_rate
        if should_open and self.state(key, now) != CircuitState.OPEN:
            found.circuit = CircuitState.OPEN
            found.opened_at = now
            return CircuitState.OPEN
        if should_open:
            found.opened_at = now
        return None

    def cool_down_until(self, key: str, until: float) -> None:
        """Adopt a cool-down another replica saw (a 429 with Retry-After)."""
        found = self.stats(key)
        found.cooldown_until = max(found.cooldown_until, until)

    def open_until(self, key: str, until: float, now: float) -> None:
        """Adopt a circuit another replica opened, half-opening at the same moment."""
        found = self.stats(key)
        opened_at = until - self.settings.open_seconds
        if found.circuit != CircuitState.OPEN or found.opened_at < opened_at:
            found.circuit = CircuitState.OPEN
            found.opened_at = min(opened_at, now)

    def forget_except(self, keys: set[str]) -> None:
        """Drop figures of tiers that no longer exist, so memory follows the snapshot."""
        for key in list(self._stats):
            if key not in keys:
                del self._stats[key]
