"""Cold starts of in-cluster tiers: which have no ready replica, who wants them, and waking them.

An in-cluster tier is cold when it has no ready replica: `ScaledToZero` while its Deployment
wants none, `Starting` while pods come up. Routing skips a cold tier with that reason, or plans it
with a wait when the request's latency class waits (`spec.coldStart`), and this book answers:

- **state**: cold or not, from the replicas discovery sees (EndpointSlices, fresh) and what the
  operator reported (`status.replicas`, `status.readyReplicas`) when discovery knows nothing;
- **demand**: requests that routing ranked first on an autoscaled tier, per tier, over the tier's
  demand window (`Autoscaling.demand_window_seconds`); KEDA reads it from `GET /scaling/demand/...` and the
  counter `tiergate_tier_demand_total`, and keeps the tier up while it is not zero;
- **waking**: the first request that wants a tier scaled to zero asks `waker` to scale its
  Deployment from 0 to 1, at once, instead of waiting a Prometheus scrape and a KEDA poll. The
  demand that request adds is what KEDA sees at its next poll, so KEDA keeps the replica rather
  than undoing the write (docs/autoscaling.md, "Who writes replicas"). If the tier is nonetheless
  back at zero soon after a wake, the wake was reversed: the book waits longer before the next one
  (doubling, up to `max_wake_backoff`) and says so, so a misconfigured scaler and the gateway
  cannot flap a GPU pool;
- **waiting**: `wait_ready` lets a request wait for the tier's first ready replica, bounded;
- **start time**: how long starts took (the time from wanting a tier at zero to its first ready
  replica, averaged), so routing need not wait for a tier that will not be ready in time.

Time is the caller's `now` (the dispatcher's wall clock), or `clock` when discovery reports a change;
nothing here sleeps except `wait_ready`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from tiergate_gateway.core.health_view import BlockReason, HealthView
from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.replicas import ReplicaBook

log = logging.getLogger(__name__)

DEMAND_BUCKETS: Final = 60
"""A tier's demand window is counted in this many buckets (a sliding window, 1/60 of it coarse)."""
START_ESTIMATE_WEIGHT: Final = 0.5
"""Weight of the latest start in the running estimate of how long a start takes."""

Waker = Callable[[TierView], None]
"""Asks the cluster to scale a tier's Deployment from 0 to 1 (sources/scaler.py); must not block."""
DemandListener = Callable[[TierView, BlockReason | None], None]
"""Told of each request that wanted a tracked tier, with the tier's state then (the metric)."""


@dataclass(slots=True)
class _Tier:
    """What the book knows of one in-cluster tier."""

    view: TierView
    desired: int | None = None
    """Replicas its Deployment wants (operator's report, or 1 after a wake); None: unknown."""
    woken_at: float = -math.inf
    """When this gateway last asked for a replica (-inf: no start of ours is under way)."""
    confirmed: bool = False
    """The cluster reported a replica wanted since that wake (a later 0 is then a reversal, not a stale report)."""
    last_wake: float = -math.inf
    """When this gateway last asked for a replica, whatever came of it (the back-off counts from it)."""
    wake_backoff: float = 0.0
    """Seconds to leave between wakes; grows when a wake is reversed."""
    wanted_cold_at: float = -math.inf
    """When a request last wanted the tier while it was cold (its start is then held up, see `demand`)."""
    cold_since: float | None = None
    """When a start this gateway is timing began (the first want at zero, or a wake)."""
    start_seconds: float | None = None
    """Running estimate of how long a start takes, from the starts this gateway saw."""
    buckets: list[int] = field(default_factory=lambda: [0] * DEMAND_BUCKETS)
    bucket_at: int = 0
    """Index (in bucket widths since the epoch) of the newest bucket."""
    ready_event: asyncio.Event | None = None


class ColdStarts:
    """The cold state, demand and wake-ups of every in-cluster tier."""

    def __init__(
        self,
        replicas: ReplicaBook | None = None,
        *,
        waker: Waker | None = None,
        on_demand: DemandListener | None = None,
        wake_retry_seconds: float = 30.0,
        max_wake_backoff: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.replicas = replicas
        self.clock = clock
        self.waker = waker
        self.on_demand = on_demand
        self.wake_retry_seconds = wake_retry_seconds
        self.max_wake_backoff = max_wake_backoff
        self._tiers: dict[str, _Tier] = {}
        self.any_autoscaled = False
        """Whether any tier follows demand (routing counts demand only then)."""
        self.reversed_wakes = 0
        """Wakes the scaler undid (a reason to check the ScaledObject's gateway trigger)."""
        if replicas is not None:
            replicas.listeners.append(self._discovery_changed)

    # ---- what the cluster says ------------------------------------------------------------------

    def sync(self, tiers: Iterable[TierView], now: float) -> None:
        """A new snapshot: track its in-cluster tiers, with what the operator reported of them."""
        seen: set[str] = set()
        for view in tiers:
            if view.service is None:
                continue
            seen.add(view.key)
            entry = self._tiers.get(view.key)
            if entry is None:
                entry = self._tiers[view.key] = _Tier(view)
            entry.view = view
            if view.desired_replicas is not None:
                self.set_desired(view.key, view.desired_replicas, now)
        for gone in set(self._tiers) - seen:
            entry = self._tiers.pop(gone)
            if entry.ready_event is not None:
                entry.ready_event.set()  # nobody waits for a tier that left
        self.any_autoscaled = any(entry.view.autoscaled for entry in self._tiers.values())

    def set_desired(self, key: str, replicas: int, now: float) -> None:
        """The replicas a tier's Deployment wants now (the operator's status, or a scale read)."""
        entry = self._tiers.get(key)
        if entry is None:
            return
        if replicas > 0:
            entry.confirmed = True
        elif entry.woken_at > -math.inf:
            if not entry.confirmed and now - entry.woken_at < self.wake_retry_seconds:
                return  # a report from before our write landed: the tier is starting
            if entry.confirmed and entry.cold_since is not None:
                self._reversed(entry, now)
            entry.woken_at = -math.inf
        entry.desired = replicas
        if replicas > 0 and entry.cold_since is None and self._ready(entry) == 0:
            entry.cold_since = now
        if replicas == 0:
            entry.cold_since = None
        self._wake_waiters(entry, now)

    def _reversed(self, entry: _Tier, now: float) -> None:
        """The tier went back to zero before it finished the start we asked for: the scaler did not
        see the demand. Wait longer before the next start, so that the two cannot flap a GPU pool."""
        entry.wake_backoff = min(max(2 * entry.wake_backoff, 2 * self.wake_retry_seconds), self.max_wake_backoff)
        self.reversed_wakes += 1
        log.warning(
            "tier %s went back to zero %.0fs after the gateway started it; next start in %.0fs at the earliest "
            "(does its ScaledObject read the gateway's demand?)",
            entry.view.key,
            now - entry.woken_at,
            entry.wake_backoff,
        )

    def _discovery_changed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        for key in keys:
            entry = self._tiers.get(key)
            if entry is not None:
                self._wake_waiters(entry, now)

    def _wake_waiters(self, entry: _Tier, now: float) -> None:
        """Time a start that just ended, and release the requests waiting for it."""
        if self._ready(entry) == 0:
            return
        if entry.cold_since is not None:
            took = max(0.0, now - entry.cold_since)
            previous = entry.start_seconds
            entry.start_seconds = took if previous is None else previous + START_ESTIMATE_WEIGHT * (took - previous)
            entry.cold_since = None
            entry.wake_backoff = 0.0
        if entry.ready_event is not None:
            entry.ready_event.set()
            entry.ready_event = None

    def _ready(self, entry: _Tier) -> int | None:
        """Ready replicas: discovery's count when it knows the Service, else the operator's; None: unknown."""
        if self.replicas is not None:
            found = self.replicas.ready_count(entry.view.key)
            if found is not None:
                return found
        return entry.view.ready_replicas

    # ---- what routing reads ---------------------------------------------------------------------

    def state(self, key: str, now: float) -> BlockReason | None:
        """ScaledToZero or Starting for a tier with no ready replica; None when it has one (or is untracked)."""
        entry = self._tiers.get(key)
        if entry is None:
            return None
        ready = self._ready(entry)
        if ready is None or ready > 0:
            return None
        if entry.desired == 0:
            return BlockReason.SCALED_TO_ZERO
        if entry.view.autoscaled:
            return BlockReason.STARTING
        return None  # a fixed tier whose pods are all unready: the dispatcher's NoReadyReplica

    def ready_at(self, key: str, now: float) -> float:
        """When a cold tier is expected to have a ready replica (`now` when warm or when nobody knows)."""
        entry = self._tiers.get(key)
        if entry is None or entry.start_seconds is None or self.state(key, now) is None:
            return now
        began = entry.cold_since if entry.cold_since is not None else now
        return max(now, began + entry.start_seconds)

    def wanted(self, key: str, now: float) -> None:
        """A request that routing ranked first on this tier: count it, and start the tier if it is at zero."""
        entry = self._tiers.get(key)
        if entry is None or not entry.view.autoscaled:
            return
        self._count(entry, now)
        state = self.state(key, now)
        if self.on_demand is not None:
            self.on_demand(entry.view, state)
        if state is not None:
            entry.wanted_cold_at = now
        if state != BlockReason.SCALED_TO_ZERO:
            return
        if entry.cold_since is None:
            entry.cold_since = now
        if self.waker is not None and now - entry.last_wake >= max(self.wake_retry_seconds, entry.wake_backoff):
            entry.woken_at = entry.last_wake = now
            entry.confirmed = False
            entry.desired = 1  # the write is on its way; a report of 0 from before it is ignored
            self.waker(entry.view)

    def wake_failed(self, key: str) -> None:
        """The scale write did not happen (no permission, a conflict): the tier is still at zero."""
        entry = self._tiers.get(key)
        if entry is not None:
            entry.woken_at = -math.inf
            entry.desired = 0

    def demand(self, key: str, now: float) -> int | None:
        """Requests that wanted the tier over its demand window, plus one while a start it was wanted for runs
        (for at most its idle time after that want: a tier whose pods never get ready still goes to zero);
        None: untracked."""
        entry = self._tiers.get(key)
        if entry is None:
            return None
        self._count(entry, now, add=0)
        held = (
            entry.view.autoscaled
            and now - entry.wanted_cold_at < entry.view.idle_seconds
            and self.state(key, now) == BlockReason.STARTING
        )
        return sum(entry.buckets) + (1 if held else 0)

    def window_seconds(self, key: str) -> float:
        """How long a request counts as demand for the tier."""
        entry = self._tiers.get(key)
        return entry.view.demand_window_seconds if entry is not None else 0.0

    def _count(self, entry: _Tier, now: float, add: int = 1) -> None:
        """Slide the tier's window to `now` and add to its newest bucket."""
        width = entry.view.demand_window_seconds / DEMAND_BUCKETS
        index = int(now // width)
        step = index - entry.bucket_at
        if step > 0:
            buckets = entry.buckets
            if step >= DEMAND_BUCKETS:
                buckets[:] = [0] * DEMAND_BUCKETS
            else:
                del buckets[:step]
                buckets.extend([0] * step)
            entry.bucket_at = index
        entry.buckets[-1] += add  # a clock that stepped back counts in the newest bucket

    async def wait_ready(self, key: str, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the tier's first ready replica; whether it has one."""
        entry = self._tiers.get(key)
        if entry is None:
            return True
        if self._ready(entry) != 0:
            return True
        if timeout <= 0:
            return False
        if entry.ready_event is None:
            entry.ready_event = asyncio.Event()
        event = entry.ready_event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        current = self._tiers.get(key)
        return current is not None and self._ready(current) != 0


class ColdAwareHealth:
    """A `HealthView` that also blocks cold tiers (`ScaledToZero`, `Starting`) until they are ready."""

    def __init__(self, health: HealthView, cold: ColdStarts) -> None:
        self.health = health
        self.cold = cold

    def blocked(self, key: str, now: float) -> BlockReason | None:
        """A cold tier's state, else what live health says."""
        return self.cold.state(key, now) or self.health.blocked(key, now)

    def usable_at(self, key: str, now: float) -> float:
        """Live health's moment, or later when the tier is expected to finish starting."""
        return max(self.health.usable_at(key, now), self.cold.ready_at(key, now))

    def congestion(self, key: str) -> float:
        """As live health says."""
        return self.health.congestion(key)

    def expected_ms(self, tier: TierView, output_tokens: int) -> float:
        """As live health says."""
        return self.health.expected_ms(tier, output_tokens)

    def expected_ms_many(self, tiers: list[TierView], output_tokens: int) -> list[float]:
        """As live health says."""
        return self.health.expected_ms_many(tiers, output_tokens)
