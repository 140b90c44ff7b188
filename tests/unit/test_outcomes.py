"""What finished requests leave for the status page: today's books against the baseline, the recent list."""

from __future__ import annotations

import pytest

from routing_fixtures import policy, snapshot, tier
from tiergate_api.enums import LatencyClass, Task
from tiergate_gateway.core.decision import Decision
from tiergate_gateway.core.routing import RequestFacts, plan_request
from tiergate_gateway.runtime.health import HealthBook
from tiergate_gateway.runtime.outcomes import Outcomes
from tiergate_gateway.telemetry.accesslog import AccessEntry

DAY = 86_400.0


def decision() -> Decision:
    """Policy over small (1 per million in and out) and big (70B, 10 per million): Chat goes to small."""
    shot = snapshot(
        [tier("small", "1B", price_in="1", price_out="1"), tier("big", "70B", price_in="10", price_out="10")],
        policy(["small", "big"]),
    )
    view = shot.policies["auto"]
    plan = plan_request(view, RequestFacts(Task.CHAT, LatencyClass.BATCH, 10, 20), HealthBook())
    return Decision(plan, "header", None, False)


def finish(outcomes: Outcomes, routed: Decision, status: int = 200, cost: int | None = 30 * 10**9) -> AccessEntry:
    entry = AccessEntry(
        "req-1", "/v1/chat/completions", 0.0, status=status, policy="auto", tier="small", cost_femto=cost
    )
    outcomes.finished(entry, routed, None, {}, (10, 20) if status < 400 else None, (10, 20), 12.5)
    return entry


def test_answers_are_booked_with_what_the_baseline_would_have_cost() -> None:
    """10 + 20 tokens: 30e-6 USD on small (booked as the cost), 300e-6 on big, the policy's largest tier."""
    now = [5 * DAY + 100]
    outcomes = Outcomes(clock=lambda: now[0])
    routed = decision()
    finish(outcomes, routed)
    finish(outcomes, routed)
    books = outcomes.books(routed.plan.policy.key, now[0])
    assert (books.requests, books.cost, books.baseline) == (2, 60 * 10**9, 600 * 10**9)
    assert outcomes.baseline_of(routed.plan.policy).name == "big"  # type: ignore[union-attr]


def test_failed_requests_are_listed_but_not_booked() -> None:
    outcomes = Outcomes(clock=lambda: 1.0)
    finish(outcomes, decision(), status=503, cost=None)
    assert outcomes.books(decision().plan.policy.key, 1.0).requests == 0
    (at, latency, entry) = outcomes.recent[0]
    assert (at, latency, entry.status) == (1.0, 12.5, 503)


def test_the_books_start_again_at_midnight_utc() -> None:
    now = [DAY - 1]
    outcomes = Outcomes(clock=lambda: now[0])
    finish(outcomes, decision())
    now[0] = DAY + 1
    assert outcomes.books(decision().plan.policy.key, now[0]).requests == 0


@pytest.mark.parametrize("count", [1, 5])
def test_only_the_most_recent_are_kept(count: int) -> None:
    outcomes = Outcomes(recent=3, clock=lambda: 1.0)
    for _ in range(count):
        finish(outcomes, decision())
    assert len(outcomes.recent) == min(count, 3)
