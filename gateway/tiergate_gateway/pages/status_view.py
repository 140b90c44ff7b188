"""What the `/ui` status page shows, as plain data (the server fills it from live state; pure).

Kept apart from the renderer so that the page can be tested from hand-made views and the server
gathers state without knowing HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ReplicaRow:
    """One replica of a tier, as the picker sees it."""

    address: str
    """host:port."""
    in_flight: int
    running: float | None
    """vLLM's `num_requests_running` at the last scrape; None when unknown or stale."""
    waiting: float | None
    kv_cache_percent: float | None
    ejected: bool


@dataclass(frozen=True, slots=True)
class TierRow:
    """One tier's live state."""

    name: str
    namespace: str
    model: str
    size_billions: float
    locality: str
    """Local or Remote."""
    state: str
    """Healthy, CircuitOpen, HalfOpen, CoolingDown, ScaledToZero, Starting or Unavailable."""
    detail: str
    """Why it is not Healthy (the tier's problem, the cool-down's end), or ''."""
    in_flight: int
    max_in_flight: int | None
    error_rate_percent: float
    ttft_ms: float | None
    """Live average time to first token (None before the first answer)."""
    ttft_prior_ms: float
    replicas: tuple[ReplicaRow, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One policy's spend and saving today (UTC)."""

    alias: str
    name: str
    namespace: str
    strategy: str
    spent_usd: float
    daily_limit_usd: float | None
    requests: int
    """Requests answered today by this worker."""
    baseline_tier: str | None
    """The policy's largest tier: what "everything on one model" would have used."""
    baseline_usd: float
    """What today's answers would have cost on the baseline tier (same tokens)."""
    cost_usd: float
    """What today's answers cost (this worker's books)."""

    @property
    def saved_usd(self) -> float:
        """Baseline minus actual (negative when routing cost more)."""
        return self.baseline_usd - self.cost_usd


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One recent request and what routing did with it."""

    at: float
    """Unix seconds when it finished."""
    request_id: str
    policy: str
    task: str
    tier: str
    """The tier that answered ('' when none did)."""
    status: int
    attempts: int
    latency_ms: float
    cost_usd: float | None
    reason: str
    """x-tiergate-fallback-reason ('' when the first-ranked tier answered) or the error code."""


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything on the page."""

    now: float
    version: str
    worker_pid: int
    workers: int
    snapshot_version: int
    snapshot_age_seconds: float | None
    tiers: tuple[TierRow, ...]
    policies: tuple[PolicyRow, ...]
    decisions: tuple[DecisionRow, ...]
    """Newest first."""
    problems: tuple[str, ...] = field(default=())
    """Configuration problems the snapshot reported."""

    @property
    def saved_today_usd(self) -> float:
        """Saved today across policies."""
        return sum(p.saved_usd for p in self.policies)
