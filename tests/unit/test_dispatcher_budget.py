"""Budgets through the dispatcher: a request over the policy's per-request cost goes to a cheaper
tier, and what answers cost (from the tier's usage) counts against the day."""

from __future__ import annotations

import pytest

from fake_upstream import InProcessGateway, answer
from routing_fixtures import policy, snapshot, tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER
from tiergate_gateway.core.errors import BudgetExceededError


def gateway(**budget: str) -> InProcessGateway:
    """An expensive remote tier (the primary for Reasoning: $10 in, $30 out per million tokens) and a free Local one."""
    tiers = [tier("big", "70B", local=False, price_in="10", price_out="30"), tier("local", "1B")]
    return InProcessGateway(snapshot(tiers, policy(["big", "local"], **budget)))


def test_a_request_over_the_per_request_budget_is_downgraded_to_a_cheaper_tier() -> None:
    gw = gateway(max_cost="0.001")

    result = gw.run(gw.answer(task="Reasoning", max_tokens=1000))  # ~$0.03 on the big tier

    assert gw.tiers.tiers_called == ["local"]
    assert result.headers[HEADER_TIER] == "local"
    assert "BudgetDowngrade" in result.headers[HEADER_FALLBACK_REASON]


def test_a_request_within_the_per_request_budget_goes_to_the_primary() -> None:
    gw = gateway(max_cost="1")

    gw.run(gw.answer(task="Reasoning", max_tokens=1000))

    assert gw.tiers.tiers_called == ["big"]


def test_a_request_over_budget_is_refused_when_the_policy_says_reject() -> None:
    gw = gateway(max_cost="0.001", on_exceeded="Reject")

    with pytest.raises(BudgetExceededError):
        gw.run(gw.answer(task="Reasoning", max_tokens=1000))
    assert gw.tiers.sent == []


def test_what_an_answer_cost_counts_against_the_day_and_later_requests_are_downgraded() -> None:
    gw = gateway(daily="0.05")
    gw.tiers.script("big", answer(prompt_tokens=1000, completion_tokens=1000))  # $0.04 by the tier's usage

    async def scenario() -> list[str]:
        first = await gw.answer(task="Reasoning", max_tokens=1000)  # estimated at ~$0.03: within the day's $0.05
        assert first.trail.cost_femto == 40 * 10**12  # $0.04 in femto-USD, from the usage
        second = await gw.answer(task="Reasoning", max_tokens=1000)  # ~$0.03 no longer fits the $0.01 left
        return [first.headers[HEADER_TIER], second.headers[HEADER_TIER]]

    assert gw.run(scenario()) == ["big", "local"]
