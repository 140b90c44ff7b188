"""The cold-start book alone: state, demand over its window, wakes, reversals, start times."""

from __future__ import annotations

from typing import Any

from routing_fixtures import COLD_REPLICA as REPLICA
from routing_fixtures import COLD_SERVICE as SERVICE
from routing_fixtures import COLD_TIER as LOCAL
from routing_fixtures import policy, snapshot, vllm_tier
from tiergate_gateway.core.health_view import BlockReason
from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.runtime.replicas import ReplicaBook

T0 = 1_767_268_800.0


class World:
    """A book over one autoscaled tier at zero, with a waker that records and a clock we move."""

    def __init__(self, **tier_options: Any) -> None:
        self.now = T0
        self.woken: list[str] = []
        self.replicas = ReplicaBook()
        self.book = ColdStarts(self.replicas, waker=lambda t: self.woken.append(t.key), clock=lambda: self.now)
        tiers = snapshot([vllm_tier(**tier_options)], policy(["local"])).tiers.values()
        self.tier: TierView = next(iter(tiers))
        self.replicas.sync(tiers)
        self.book.sync(tiers, self.now)
        self.replicas.discovered(SERVICE, [])

    def at(self, seconds: float) -> float:
        self.now = T0 + seconds
        return self.now


def test_a_tier_at_zero_is_started_once_per_retry_period() -> None:
    world = World()
    assert world.book.state(LOCAL, world.now) == BlockReason.SCALED_TO_ZERO
    world.book.wanted(LOCAL, world.now)
    world.book.wanted(LOCAL, world.at(1))
    assert world.woken == [LOCAL]
    assert world.book.state(LOCAL, world.now) == BlockReason.STARTING


def test_a_report_of_zero_from_before_the_start_landed_is_not_a_reversal() -> None:
    world = World()
    world.book.wanted(LOCAL, world.now)
    world.book.set_desired(LOCAL, 0, world.at(0.2))  # a snapshot built from the old status
    assert world.book.state(LOCAL, world.now) == BlockReason.STARTING
    assert world.book.reversed_wakes == 0


def test_a_scaler_that_undoes_a_start_makes_the_next_start_wait_longer() -> None:
    world = World()
    world.book.wanted(LOCAL, world.now)
    world.book.set_desired(LOCAL, 1, world.at(0.5))  # the write landed
    world.book.set_desired(LOCAL, 0, world.at(15))  # KEDA saw no demand and went back to zero
    assert world.book.reversed_wakes == 1
    assert world.book.state(LOCAL, world.now) == BlockReason.SCALED_TO_ZERO
    world.book.wanted(LOCAL, world.at(31))  # past the usual 30 s, within the 60 s back-off
    assert world.woken == [LOCAL]
    world.book.wanted(LOCAL, world.at(61))
    assert world.woken == [LOCAL, LOCAL]


def test_a_failed_write_leaves_the_tier_at_zero() -> None:
    world = World()
    world.book.wanted(LOCAL, world.now)
    world.book.wake_failed(LOCAL)
    assert world.book.state(LOCAL, world.now) == BlockReason.SCALED_TO_ZERO


def test_discovery_ends_a_start_and_times_it() -> None:
    world = World()
    world.book.wanted(LOCAL, world.now)
    world.at(120)
    world.replicas.discovered(SERVICE, [REPLICA])
    assert world.book.state(LOCAL, world.now) is None
    world.replicas.discovered(SERVICE, [])
    world.book.set_desired(LOCAL, 0, world.at(1000))
    world.book.wanted(LOCAL, world.at(1000))  # a new start: expected to take what the last one took
    assert world.book.ready_at(LOCAL, world.now) == world.now + 120


def test_demand_counts_the_idle_window_and_then_forgets() -> None:
    world = World(desired=1, ready=1)
    world.replicas.discovered(SERVICE, [REPLICA])
    for second in range(5):
        world.book.wanted(LOCAL, world.at(second))
    assert world.book.demand(LOCAL, world.at(5)) == 5
    assert world.book.demand(LOCAL, world.at(50)) == 5  # within the window (a minute: 2 x the 15 s poll, at least 60)
    assert world.book.demand(LOCAL, world.at(70)) == 0
    assert world.book.demand("default/unknown", world.now) is None


def test_a_tier_discovery_does_not_know_is_judged_by_the_operators_report() -> None:
    world = World(desired=2, ready=2)
    world.replicas.discovered(SERVICE, None)
    assert world.book.state(LOCAL, world.now) is None
    cold = World(desired=1, ready=0)
    cold.replicas.discovered(SERVICE, None)
    assert cold.book.state(LOCAL, cold.now) == BlockReason.STARTING


def test_a_start_is_held_up_for_those_who_wanted_it_and_no_longer_than_the_idle_time() -> None:
    created = World(desired=1, ready=0)  # the operator's first replica, loading: nobody asked for it
    assert created.book.state(LOCAL, created.now) == BlockReason.STARTING
    assert created.book.demand(LOCAL, created.now) == 0  # KEDA may take it to zero after its initial cooldown

    wanted = World()
    wanted.book.wanted(LOCAL, wanted.now)
    assert wanted.book.demand(LOCAL, wanted.at(120)) == 1  # past the minute of demand: the start itself holds
    assert wanted.book.demand(LOCAL, wanted.at(601)) == 0  # pods that never get ready do not hold a GPU forever
