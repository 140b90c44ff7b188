"""KEDA's scale loop for a ScaledObject and the HorizontalPodAutoscaler it drives, as a pure model.

What a real cluster does to a Deployment that a KEDA `ScaledObject` targets, step by step and
with the same rules, so that a simulation (bench/capacity_bench.py) or a test can put TierGate's
gateway next to "KEDA" without a cluster. Nothing here reads a clock or does I/O: the caller
says what time it is, the triggers are callables, and the Deployment is a `ScaleTarget` (an
in-memory one in the simulation; one that speaks to a Kubernetes API over HTTP in a test).

KEDA's own loop (`KedaModel.poll`, every `pollingInterval`), after
pkg/scaling/executor/scale_scaledobjects.go (`RequestScale`, KEDA 2.x):

- the ScaledObject is active when any trigger's value is above its activation threshold;
- active and at 0 replicas: scale to `max(minReplicaCount, 1)` and set `lastActiveTime`;
- active with replicas: `lastActiveTime = now` (nothing else: the HPA scales from 1 to N);
- inactive with replicas and `minReplicaCount == 0`: scale straight to 0 once
  `lastActiveTime + cooldownPeriod` has passed, or, when `lastActiveTime` was never set (the
  target was scaled by someone else), once `creationTimestamp + initialCooldownPeriod` has;
- inactive below `minReplicaCount`: scale to `minReplicaCount`.

The HPA that KEDA creates (`KedaModel.hpa_sync`, every 15 s, the controller manager's
`--horizontal-pod-autoscaler-sync-period`), after the Kubernetes HPA controller
(pkg/controller/podautoscaler: horizontal.go, replica_calculator.go):

- at 0 replicas it does nothing (scaling is disabled while `spec.replicas` is 0; its
  `minReplicas` is `max(minReplicaCount, 1)`), and a count outside [min, max] is clamped first;
- per trigger, an `AverageValue` external metric: `usage = sum of the metric`,
  `ratio = usage / (target * replicas)`; within 10% of 1 it proposes the current count, else
  `ceil(usage / target)`; the highest proposal wins;
- stabilization: scale-down takes the highest recommendation of its window
  (`stabilizationWindowSeconds`), scale-up the lowest of its own (0 s by default: at once);
- rate policies (`Pods` or `Percent` per `periodSeconds`, counted from the HPA's own scale
  events in the period; `selectPolicy` Max by default), then the [min, max] clamp.

Simplifications, each harmless for a Deployment whose pods are created at once: the HPA's
`status.replicas` is taken as `spec.replicas` (pods still starting count as replicas, as they do
for the real HPA); trigger errors, `fallback`, `idleReplicaCount`, pause annotations and the
Job scaler are not modelled.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from tiergate_api.autoscaling import Autoscaling

HPA_SYNC_SECONDS: Final = 15.0
"""The HPA controller's sync period (kube-controller-manager default)."""
HPA_TOLERANCE: Final = 0.1
"""A metric within this fraction of its target leaves the replica count alone."""
KEDA_DEFAULT_POLLING_SECONDS: Final = 30.0
KEDA_DEFAULT_COOLDOWN_SECONDS: Final = 300.0
KEDA_DEFAULT_INITIAL_COOLDOWN_SECONDS: Final = 0.0
KEDA_DEFAULT_MAX_REPLICAS: Final = 100


class ScaleTarget(Protocol):
    """The `/scale` subresource of what the ScaledObject targets (a Deployment)."""

    async def get_replicas(self) -> int:
        """`spec.replicas` now."""
        ...

    async def set_replicas(self, replicas: int) -> None:
        """Write `spec.replicas`."""
        ...


class PolicyKind(StrEnum):
    """An HPA scaling policy's unit."""

    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    """Which policy wins when several apply."""

    MAX = "Max"
    """The one that allows the largest change (the default)."""
    MIN = "Min"
    DISABLED = "Disabled"


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """At most `value` pods (or percent of the count) per `period_seconds`."""

    kind: PolicyKind
    value: int
    period_seconds: float


@dataclass(frozen=True, slots=True)
class ScalingRules:
    """One direction of an HPA's `behavior`."""

    stabilization_seconds: float
    policies: tuple[ScalingPolicy, ...]
    select: SelectPolicy = SelectPolicy.MAX


DEFAULT_SCALE_UP: Final = ScalingRules(
    0.0, (ScalingPolicy(PolicyKind.PERCENT, 100, 15), ScalingPolicy(PolicyKind.PODS, 4, 15))
)
"""The HPA's default scale-up: at once, doubling or adding 4 pods per 15 s, whichever is more."""
DEFAULT_SCALE_DOWN: Final = ScalingRules(300.0, (ScalingPolicy(PolicyKind.PERCENT, 100, 15),))
"""The HPA's default scale-down: the highest recommendation of the last 5 minutes, no rate limit."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """One scaler of the ScaledObject, read through `value` (what its query returns now).

    `target` is the metric's `AverageValue` per replica (the HPA's input); `activation` is KEDA's
    `activationThreshold` (the trigger is active while the value is above it).
    """

    name: str
    value: Callable[[], float]
    target: float
    activation: float = 0.0


@dataclass(frozen=True, slots=True)
class ScaledObjectSpec:
    """What the model needs of a ScaledObject (and the behaviour it passes to its HPA)."""

    triggers: tuple[Trigger, ...]
    min_replicas: int = 0
    max_replicas: int = KEDA_DEFAULT_MAX_REPLICAS
    polling_interval: float = KEDA_DEFAULT_POLLING_SECONDS
    cooldown_period: float = KEDA_DEFAULT_COOLDOWN_SECONDS
    initial_cooldown_period: float = KEDA_DEFAULT_INITIAL_COOLDOWN_SECONDS
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    hpa_sync_period: float = HPA_SYNC_SECONDS

    @classmethod
    def from_autoscaling(
        cls, autoscaling: Autoscaling, triggers: tuple[Trigger, ...], *, initial_cooldown_period: float | None = None
    ) -> ScaledObjectSpec:
        """The ScaledObject a ModelTier's `spec.vllm.autoscaling` asks for, with these triggers.

        As tiergate_operator.scaling renders it: the cooldown and (unless given) the initial
        cooldown are `idleSecondsBeforeZero`; scale-down is limited to `podsPerMinute` per minute.
        """
        down = autoscaling.scale_down
        idle = float(autoscaling.idle_seconds_before_zero)
        return cls(
            triggers=triggers,
            min_replicas=autoscaling.min_replicas,
            max_replicas=autoscaling.max_replicas,
            polling_interval=float(autoscaling.polling_interval_seconds),
            cooldown_period=idle,
            initial_cooldown_period=idle if initial_cooldown_period is None else initial_cooldown_period,
            scale_down=ScalingRules(
                float(down.stabilization_seconds), (ScalingPolicy(PolicyKind.PODS, down.pods_per_minute, 60),)
            ),
        )

    @property
    def hpa_min_replicas(self) -> int:
        """The HPA's `minReplicas`: KEDA never lets its HPA go below one."""
        return max(self.min_replicas, 1)


class Actor(StrEnum):
    """Who changed the replica count."""

    KEDA = "keda"
    HPA = "hpa"


@dataclass(frozen=True, slots=True)
class ScaleChange:
    """One write of `spec.replicas` by the model."""

    at: float
    actor: Actor
    before: int
    after: int
    reason: str

    @property
    def move(self) -> tuple[float, int, int]:
        """(at, before, after), as `flaps` reads writes."""
        return (self.at, self.before, self.after)


@dataclass(slots=True)
class _HpaEvent:
    at: float
    change: int
    """Pods added (> 0) or removed (< 0)."""


@dataclass(slots=True)
class KedaModel:
    """One ScaledObject and its HPA over one scale target; call `poll` and `hpa_sync` on their periods.

    `run` does both on an asyncio clock (a real one, or `tiergate_sim.virtual_time`).
    """

    spec: ScaledObjectSpec
    target: ScaleTarget
    created_at: float
    """The ScaledObject's `creationTimestamp` (the initial cooldown counts from it)."""
    last_active_time: float | None = None
    """`status.lastActiveTime`: None until a trigger was seen active (or after a fresh install)."""
    changes: list[ScaleChange] = field(default_factory=list)
    """Every replica count the model wrote, in order."""
    _recommendations: list[tuple[float, int]] = field(default_factory=list)
    _hpa_events: list[_HpaEvent] = field(default_factory=list)

    # ---- KEDA's loop ----------------------------------------------------------------------------

    def active_triggers(self) -> list[str]:
        """Names of the triggers above their activation threshold now."""
        return [t.name for t in self.spec.triggers if t.value() > t.activation]

    async def poll(self, now: float) -> None:
        """One pass of KEDA's scale loop (`RequestScale`) at `now`."""
        spec = self.spec
        active = self.active_triggers()
        replicas = await self.target.get_replicas()
        if active:
            if replicas == 0:
                await self._write(now, Actor.KEDA, replicas, spec.hpa_min_replicas, "activated: " + ",".join(active))
            self.last_active_time = now
            return
        if replicas > 0 and spec.min_replicas == 0:
            if self._cooled_down(now):
                await self._write(now, Actor.KEDA, replicas, 0, self._deactivation_reason())
        elif replicas < spec.min_replicas:
            await self._write(now, Actor.KEDA, replicas, spec.min_replicas, "below minReplicaCount")

    def _cooled_down(self, now: float) -> bool:
        # KEDA compares with time.Before: the period must have passed strictly.
        if self.last_active_time is None:
            return self.created_at + self.spec.initial_cooldown_period < now
        return self.last_active_time + self.spec.cooldown_period < now

    def _deactivation_reason(self) -> str:
        if self.last_active_time is None:
            return "deactivated: never active (lastActiveTime unset)"
        return "deactivated: inactive for cooldownPeriod"

    # ---- the HPA ----------------------------------------------------------------------------------

    def hpa_proposal(self, replicas: int) -> int:
        """The count the metrics ask for at `replicas` (the highest over the triggers)."""
        proposals = []
        for trigger in self.spec.triggers:
            usage = max(0.0, trigger.value())
            ratio = usage / (trigger.target * replicas)
            proposals.append(replicas if abs(1.0 - ratio) <= HPA_TOLERANCE else math.ceil(usage / trigger.target))
        return max(proposals, default=replicas)

    async def hpa_sync(self, now: float) -> None:
        """One sync of the HPA at `now`."""
        spec = self.spec
        replicas = await self.target.get_replicas()
        if replicas == 0:
            return  # ScalingDisabled: scale to zero is KEDA's business, and so is the way back
        low, high = spec.hpa_min_replicas, spec.max_replicas
        if replicas > high:
            desired, reason = high, "above maxReplicas"
        elif replicas < low:
            desired, reason = low, "below minReplicas"
        else:
            proposal = self.hpa_proposal(replicas)
            desired = self._normalized(now, replicas, proposal)
            reason = f"metrics ask for {proposal}"
        if desired != replicas:
            self._hpa_events.append(_HpaEvent(now, desired - replicas))
            await self._write(now, Actor.HPA, replicas, desired, reason)

    def _normalized(self, now: float, replicas: int, proposal: int) -> int:
        """Stabilized, rate-limited and clamped (`normalizeDesiredReplicasWithBehaviors`)."""
        spec = self.spec
        up_cutoff = now - spec.scale_up.stabilization_seconds
        down_cutoff = now - spec.scale_down.stabilization_seconds
        up, down = proposal, proposal
        for at, recommended in self._recommendations:
            if at > up_cutoff:
                up = min(up, recommended)
            if at > down_cutoff:
                down = max(down, recommended)
        keep = now - max(spec.scale_up.stabilization_seconds, spec.scale_down.stabilization_seconds)
        self._recommendations = [(at, r) for at, r in self._recommendations if at > keep]
        self._recommendations.append((now, proposal))
        stabilized = min(max(replicas, up), down)
        if stabilized > replicas:
            ceiling = max(self._up_limit(now, replicas), replicas)
            return min(stabilized, ceiling, spec.max_replicas)
        if stabilized < replicas:
            floor = min(self._down_limit(now, replicas), replicas)
            return max(stabilized, floor, spec.hpa_min_replicas)
        return stabilized

    def _changed_within(self, now: float, period: float) -> tuple[int, int]:
        """Pods the HPA added and removed in the last `period` seconds."""
        added = removed = 0
        for event in self._hpa_events:
            if event.at > now - period:
                if event.change > 0:
                    added += event.change
                else:
                    removed -= event.change
        return added, removed

    def _up_limit(self, now: float, replicas: int) -> int:
        rules = self.spec.scale_up
        if rules.select is SelectPolicy.DISABLED:
            return replicas
        limits = []
        for policy in rules.policies:
            added, removed = self._changed_within(now, policy.period_seconds)
            start = replicas - added + removed
            if policy.kind is PolicyKind.PODS:
                limits.append(start + policy.value)
            else:
                limits.append(math.ceil(start * (1 + policy.value / 100)))
        return (max if rules.select is SelectPolicy.MAX else min)(limits, default=replicas)

    def _down_limit(self, now: float, replicas: int) -> int:
        rules = self.spec.scale_down
        if rules.select is SelectPolicy.DISABLED:
            return replicas
        limits = []
        for policy in rules.policies:
            added, removed = self._changed_within(now, policy.period_seconds)
            start = replicas - added + removed
            if policy.kind is PolicyKind.PODS:
                limits.append(start - policy.value)
            else:
                limits.append(int(start * (1 - policy.value / 100)))
        # For scaling down, the largest change is the lowest count.
        return (min if rules.select is SelectPolicy.MAX else max)(limits, default=replicas)

    # ---- both ---------------------------------------------------------------------------------------

    async def _write(self, now: float, actor: Actor, before: int, after: int, reason: str) -> None:
        await self.target.set_replicas(after)
        self.changes.append(ScaleChange(now, actor, before, after, reason))
        self._prune(now)

    def _prune(self, now: float) -> None:
        policies = (*self.spec.scale_up.policies, *self.spec.scale_down.policies)
        longest = max((p.period_seconds for p in policies), default=0.0)
        self._hpa_events = [e for e in self._hpa_events if e.at > now - longest]

    async def run(self, now: Callable[[], float]) -> None:
        """KEDA's loop and the HPA on their periods, forever (cancel to stop); `now` reads the clock.

        KEDA polls at once when it starts; the HPA first syncs one period later.
        """
        async with asyncio.TaskGroup() as group:
            group.create_task(_every(self.spec.polling_interval, now, self.poll, 0.0))
            group.create_task(_every(self.spec.hpa_sync_period, now, self.hpa_sync, self.spec.hpa_sync_period))


async def _every(
    period: float, now: Callable[[], float], tick: Callable[[float], Awaitable[None]], first: float
) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time() + first
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        await tick(now())
        due += period


def flaps(moves: Iterable[tuple[float, int, int]], window: float) -> int:
    """Reversals within `window` seconds: a count that went up and came down again, or the reverse.

    `moves` are (at, before, after) writes of `spec.replicas` in time order: the model's
    (`ScaleChange.move`) merged with any other writer's, so a test can count the fights between
    the gateway, KEDA and the HPA.
    """
    ordered = list(moves)
    count = 0
    for (at, before, after), (next_at, next_before, next_after) in itertools.pairwise(ordered):
        if (after - before) * (next_after - next_before) < 0 and next_at - at <= window:
            count += 1
    return count
