"""The KEDA model against KEDA's and the HPA's documented behaviour (sim/tiergate_sim/keda.py).

Each test sets the triggers, calls `poll` (KEDA's loop) or `hpa_sync` (the HPA) at chosen
moments, and checks what the Deployment's `spec.replicas` became and who wrote it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from tiergate_api.autoscaling import Autoscaling, ScaleDown
from tiergate_sim.keda import (
    Actor,
    KedaModel,
    PolicyKind,
    ScaledObjectSpec,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    Trigger,
    flaps,
)
from tiergate_sim.virtual_time import VirtualClock


@dataclass
class Deployment:
    """A scale target in memory; every write is kept."""

    replicas: int = 0
    writes: list[int] = field(default_factory=list)

    async def get_replicas(self) -> int:
        return self.replicas

    async def set_replicas(self, replicas: int) -> None:
        self.replicas = replicas
        self.writes.append(replicas)


@dataclass
class Signal:
    """A trigger's current value, set by the test."""

    value: float = 0.0

    def __call__(self) -> float:
        return self.value


def model(
    deployment: Deployment,
    *signals: tuple[Signal, float],
    created_at: float = 0.0,
    **spec: Any,
) -> KedaModel:
    """A model with one trigger per (signal, target), activation threshold 0."""
    triggers = tuple(Trigger(f"t{index}", signal, target) for index, (signal, target) in enumerate(signals))
    return KedaModel(ScaledObjectSpec(triggers=triggers, **spec), deployment, created_at=created_at)


def run(step: Coroutine[Any, Any, None]) -> None:
    """One call of the model, on an event loop of its own."""
    asyncio.run(step)


# ---- KEDA's loop: 0 <-> 1 ------------------------------------------------------------------------


def test_an_active_trigger_scales_from_zero_to_one_and_sets_last_active_time() -> None:
    demand, deployment = Signal(1), Deployment(0)
    keda = model(deployment, (demand, 1))
    run(keda.poll(100))
    assert deployment.replicas == 1
    assert keda.last_active_time == 100
    assert keda.changes[0].actor is Actor.KEDA and keda.changes[0].reason.startswith("activated")


def test_scale_from_zero_goes_to_min_replicas_when_it_is_above_one() -> None:
    deployment = Deployment(0)
    keda = model(deployment, (Signal(1), 1), min_replicas=3, max_replicas=5)
    run(keda.poll(0))
    assert deployment.replicas == 3


def test_a_trigger_at_its_activation_threshold_is_not_active() -> None:
    signal, deployment = Signal(2), Deployment(0)
    keda = KedaModel(ScaledObjectSpec(triggers=(Trigger("q", signal, 5, activation=2),)), deployment, created_at=0)
    run(keda.poll(10))
    assert deployment.replicas == 0 and keda.last_active_time is None
    signal.value = 2.5
    run(keda.poll(20))
    assert deployment.replicas == 1


def test_an_active_trigger_with_replicas_only_refreshes_last_active_time() -> None:
    deployment = Deployment(3)
    keda = model(deployment, (Signal(1), 1), max_replicas=5)
    run(keda.poll(50))
    assert deployment.writes == [] and keda.last_active_time == 50


def test_inactive_scales_to_zero_only_after_the_cooldown_period() -> None:
    demand, deployment = Signal(1), Deployment(0)
    keda = model(deployment, (demand, 1), cooldown_period=300)
    run(keda.poll(0))
    demand.value = 0
    run(keda.poll(300))  # exactly the cooldown: KEDA needs it to have passed
    assert deployment.replicas == 1
    run(keda.poll(301))
    assert deployment.replicas == 0
    assert keda.changes[-1].reason == "deactivated: inactive for cooldownPeriod"


def test_scale_to_zero_goes_straight_from_many_replicas_to_zero() -> None:
    deployment = Deployment(4)
    keda = model(deployment, (Signal(0), 1), cooldown_period=60, max_replicas=8)
    keda.last_active_time = 0
    run(keda.poll(61))
    assert deployment.writes == [0]


def test_an_externally_woken_target_with_no_active_trigger_goes_back_to_zero_at_once() -> None:
    # The fight the gateway must avoid: it scaled 0 -> 1 itself, KEDA has never seen a trigger active
    # (lastActiveTime unset), initialCooldownPeriod defaults to 0, so the next poll undoes the wake-up.
    deployment = Deployment(0)
    keda = model(deployment, (Signal(0), 1), created_at=0)
    run(keda.poll(15))
    deployment.replicas = 1  # the gateway's wake-up write
    run(keda.poll(30))
    assert deployment.replicas == 0
    assert keda.changes[-1].reason == "deactivated: never active (lastActiveTime unset)"


def test_an_externally_woken_target_is_undone_when_the_last_activity_is_older_than_the_cooldown() -> None:
    demand, deployment = Signal(1), Deployment(0)
    keda = model(deployment, (demand, 1), cooldown_period=600)
    run(keda.poll(0))
    demand.value = 0
    run(keda.poll(700))  # scaled to zero
    deployment.replicas = 1  # woken from outside an hour later, while the trigger still reads 0
    run(keda.poll(4300))
    assert deployment.replicas == 0


def test_an_externally_woken_target_stays_when_the_demand_trigger_is_active_at_the_next_poll() -> None:
    demand, deployment = Signal(0), Deployment(0)
    keda = model(deployment, (demand, 1), created_at=0)
    run(keda.poll(15))
    deployment.replicas = 1
    demand.value = 1  # the demand that justified the wake-up is visible to KEDA
    run(keda.poll(30))
    assert deployment.replicas == 1 and keda.last_active_time == 30
    demand.value = 0
    run(keda.poll(45))  # now KEDA's own cooldown protects the replica
    assert deployment.replicas == 1


def test_the_initial_cooldown_protects_a_new_scaled_object_whose_target_already_runs() -> None:
    deployment = Deployment(2)
    keda = model(deployment, (Signal(0), 1), created_at=1000, initial_cooldown_period=120, max_replicas=4)
    run(keda.poll(1100))
    assert deployment.replicas == 2
    run(keda.poll(1121))
    assert deployment.replicas == 0


def test_inactive_below_min_replicas_is_raised_to_the_minimum() -> None:
    deployment = Deployment(0)
    keda = model(deployment, (Signal(0), 1), min_replicas=2, max_replicas=4)
    run(keda.poll(0))
    assert deployment.replicas == 2
    assert keda.last_active_time is None


def test_inactive_with_a_minimum_never_scales_to_zero() -> None:
    deployment = Deployment(2)
    keda = model(deployment, (Signal(0), 1), min_replicas=1, max_replicas=4)
    run(keda.poll(10_000))
    assert deployment.writes == []


# ---- the HPA: 1 <-> N ----------------------------------------------------------------------------


def test_the_hpa_does_nothing_at_zero_replicas() -> None:
    deployment = Deployment(0)
    keda = model(deployment, (Signal(100), 4))
    run(keda.hpa_sync(15))
    assert deployment.writes == []


def test_the_hpa_asks_for_the_sum_over_the_target_rounded_up() -> None:
    waiting, deployment = Signal(17), Deployment(1)
    keda = model(deployment, (waiting, 4), max_replicas=10)
    run(keda.hpa_sync(15))
    assert deployment.replicas == 5  # ceil(17 / 4)
    assert keda.changes[-1].actor is Actor.HPA


def test_the_hpa_leaves_the_count_alone_within_ten_percent_of_the_target() -> None:
    waiting, deployment = Signal(8.7), Deployment(2)  # ratio 1.0875
    keda = model(deployment, (waiting, 4), max_replicas=10)
    run(keda.hpa_sync(15))
    assert deployment.writes == []
    waiting.value = 8.9  # ratio 1.1125
    run(keda.hpa_sync(30))
    assert deployment.replicas == 3


def test_the_highest_proposal_over_the_triggers_wins() -> None:
    deployment = Deployment(1)
    keda = model(deployment, (Signal(4), 4), (Signal(30), 10), max_replicas=10)
    run(keda.hpa_sync(15))
    assert deployment.replicas == 3


def test_the_hpa_clamps_to_max_replicas_and_never_below_one() -> None:
    waiting, deployment = Signal(1000), Deployment(2)
    keda = model(deployment, (waiting, 1), max_replicas=6)
    run(keda.hpa_sync(15))
    assert deployment.replicas == 6
    waiting.value = 0
    prompt = ScalingRules(0, (ScalingPolicy(PolicyKind.PERCENT, 100, 15),))
    low = Deployment(2)
    run(model(low, (waiting, 1), max_replicas=6, scale_down=prompt).hpa_sync(15))
    assert low.writes == [1]


def test_scale_up_is_limited_to_doubling_or_four_pods_per_fifteen_seconds() -> None:
    waiting, deployment = Signal(400), Deployment(1)
    keda = model(deployment, (waiting, 1), max_replicas=100)
    run(keda.hpa_sync(15))
    assert deployment.replicas == 5  # max(1 * 2, 1 + 4)
    run(keda.hpa_sync(30))
    assert deployment.replicas == 10  # max(5 * 2, 5 + 4): the first event has left the period
    run(keda.hpa_sync(45))
    assert deployment.replicas == 20


def test_scale_down_keeps_the_highest_recommendation_of_the_stabilization_window() -> None:
    waiting, deployment = Signal(20), Deployment(5)
    keda = model(deployment, (waiting, 4), max_replicas=10)  # default: 300 s window, no rate limit
    run(keda.hpa_sync(0))  # recommends 5
    waiting.value = 4
    for now in range(15, 300, 15):
        run(keda.hpa_sync(now))
    assert deployment.writes == []  # the recommendation of 5 made at t=0 is in every window until t=300
    run(keda.hpa_sync(300))
    assert deployment.replicas == 1


def test_scale_down_is_limited_by_a_pods_per_period_policy() -> None:
    waiting, deployment = Signal(0), Deployment(6)
    down = ScalingRules(0, (ScalingPolicy(PolicyKind.PODS, 1, 60),))
    keda = model(deployment, (waiting, 4), max_replicas=10, scale_down=down)
    for now in range(15, 181, 15):
        run(keda.hpa_sync(now))
    assert deployment.writes == [5, 4, 3]  # one pod per minute: at 15, 75 and 135 s


def test_a_disabled_scale_down_never_removes_a_pod() -> None:
    deployment = Deployment(4)
    down = ScalingRules(0, (ScalingPolicy(PolicyKind.PERCENT, 100, 15),), SelectPolicy.DISABLED)
    keda = model(deployment, (Signal(0), 4), max_replicas=10, scale_down=down)
    run(keda.hpa_sync(15))
    assert deployment.writes == []


def test_from_autoscaling_maps_the_tier_spec() -> None:
    autoscaling = Autoscaling(
        min_replicas=0,
        max_replicas=6,
        idle_seconds_before_zero=900,
        polling_interval_seconds=10,
        scale_down=ScaleDown(stabilization_seconds=120, pods_per_minute=2),
    )
    spec = ScaledObjectSpec.from_autoscaling(autoscaling, (Trigger("q", Signal(), 4),))
    assert (spec.min_replicas, spec.max_replicas, spec.hpa_min_replicas) == (0, 6, 1)
    assert (spec.polling_interval, spec.cooldown_period, spec.initial_cooldown_period) == (10, 900, 900)
    assert spec.scale_down == ScalingRules(120, (ScalingPolicy(PolicyKind.PODS, 2, 60),))


# ---- both, on a clock -----------------------------------------------------------------------------


def test_run_polls_and_syncs_on_their_periods_on_virtual_time() -> None:
    clock = VirtualClock()
    waiting, demand, deployment = Signal(0), Signal(1), Deployment(0)
    spec = ScaledObjectSpec(
        triggers=(Trigger("waiting", waiting, 4), Trigger("demand", demand, 1000)),
        max_replicas=4,
        polling_interval=15,
        cooldown_period=300,
    )
    keda = KedaModel(spec, deployment, created_at=0)

    async def scenario() -> None:
        task = asyncio.create_task(keda.run(clock.monotonic))
        await asyncio.sleep(1)
        assert deployment.replicas == 1  # KEDA polled at once
        waiting.value = 12
        await asyncio.sleep(15)
        assert deployment.replicas == 3  # the HPA at 15 s: ceil(12 / 4)
        waiting.value, demand.value = 0, 0
        await asyncio.sleep(600)
        assert deployment.replicas == 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    clock.run(scenario())
    # The HPA's scale-down waits out its 300 s window after the recommendation of 3 (at 15 s); KEDA
    # scales to zero at its first poll after the cooldown from its last active poll (15 + 300 s).
    moves = [(c.at, c.actor, c.after) for c in keda.changes]
    assert moves == [(0, Actor.KEDA, 1), (15, Actor.HPA, 3), (315, Actor.HPA, 1), (330, Actor.KEDA, 0)]


def test_flaps_counts_reversals_within_the_window() -> None:
    moves = [(0.0, 0, 1), (15.0, 1, 0), (100.0, 0, 1), (500.0, 1, 2), (900.0, 2, 1)]
    assert flaps(moves, 60) == 1
    assert flaps(moves, 1000) == 3
