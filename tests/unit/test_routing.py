"""The routing planner: strategies, filters, budgets and the shape of the attempt plan."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing_fixtures import facts, fresh_health, policy, policy_view, tier
from tiergate_api.enums import Feature, LatencyClass, Task
from tiergate_gateway.core.errors import (
    BudgetExceededError,
    ContextTooLongError,
    NoTierAvailableError,
    UnsupportedFeatureError,
)
from tiergate_gateway.core.routing import Note, Role, SkipReason, plan_request
from tiergate_gateway.core.views import usd_to_femto
from tiergate_gateway.runtime.health import HealthBook

SMALL = tier("small", "1.5B", tasks=["Classification", "Chat"], price_in="0.02", price_out="0.04", ttft=40, tps=200)
MID = tier("mid", "8B", price_in="0.1", price_out="0.2", ttft=90, tps=110)
CODER = tier("coder", "14B", tasks=["CodeGeneration", "Chat"], price_in="0.2", price_out="0.4", ttft=150, tps=70)
BIG = tier("big", "70B", price_in="0.6", price_out="0.8", ttft=400, tps=30)
REMOTE = tier("remote", "200B", local=False, price_in="2.5", price_out="10", ttft=300, tps=90)
ALL = [SMALL, MID, CODER, BIG, REMOTE]
NAMES = ["small", "mid", "coder", "big", "remote"]


def names(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [step.tier.name for step in plan.steps]


def test_capability_picks_smallest_capable_then_next_larger() -> None:
    plan = plan_request(policy_view(ALL, policy(NAMES)), facts(Task.SUMMARIZATION), fresh_health())
    # mid, big, remote by size; the Local fallback (big) then moves last so the plan ends in the cluster.
    assert names(plan) == ["mid", "remote", "big"]
    assert plan.steps[0].role == Role.PRIMARY and plan.ranked_first == "mid"
    assert plan.skip_reason("small").reason == SkipReason.NOT_CAPABLE  # type: ignore[union-attr]


def test_default_capabilities_follow_the_size_bands() -> None:
    view = policy_view(ALL, policy(NAMES))
    mid = next(t for t in view.tiers if t.name == "mid")
    assert mid.tasks == {Task.CLASSIFICATION, Task.SUMMARIZATION, Task.EXTRACTION, Task.CODE_GENERATION, Task.CHAT}
    big = next(t for t in view.tiers if t.name == "big")
    assert Task.CREATIVE_WRITING in big.tasks and Task.REASONING in big.tasks


def test_cost_ranks_cheapest_estimate_first() -> None:
    plan = plan_request(policy_view(ALL, policy(NAMES, strategy="Cost")), facts(Task.CODE_GENERATION), fresh_health())
    assert names(plan) == ["mid", "coder", "big"]


def test_latency_ranks_fastest_expected_first_and_learns_live_figures() -> None:
    view = policy_view(ALL, policy(NAMES, strategy="Latency", max_attempts=5))
    health = fresh_health()
    assert names(plan_request(view, facts(Task.CHAT), health))[:2] == ["small", "mid"]
    for _ in range(30):  # the small tier turns out to be slow
        health.record_success("default/small", 0.0, ttft_ms=5000.0, tokens_per_second=5.0)
    assert names(plan_request(view, facts(Task.CHAT), health))[0] == "mid"


def test_hybrid_weights_change_the_primary() -> None:
    tiers = [MID, REMOTE]
    cheap = policy(["mid", "remote"], strategy="Hybrid", weights={"cost": 100})
    fast = policy(["mid", "remote"], strategy="Hybrid", weights={"latency": 100})
    request = facts(Task.CHAT, max_tokens=1000)
    assert names(plan_request(policy_view(tiers, cheap), request, fresh_health()))[0] == "mid"
    slow_mid = tier("mid", "8B", price_in="0.1", price_out="0.2", ttft=2000, tps=5)
    assert names(plan_request(policy_view([slow_mid, REMOTE], fast), request, fresh_health()))[0] == "remote"


def test_latency_class_prefers_small_tiers_and_keeps_larger_as_fallbacks() -> None:
    view = policy_view(ALL, policy(NAMES, max_attempts=5))
    plan = plan_request(view, facts(Task.CHAT, latency=LatencyClass.REALTIME), fresh_health())
    assert names(plan)[0] == "small" and Note.LATENCY_CLASS_RELAXED not in plan.notes


def test_latency_class_is_relaxed_to_the_fastest_capable_tier_and_recorded() -> None:
    view = policy_view(ALL, policy(NAMES))
    plan = plan_request(view, facts(Task.REASONING, latency=LatencyClass.INTERACTIVE), fresh_health())
    assert Note.LATENCY_CLASS_RELAXED in plan.notes
    assert names(plan)[0] in {"big", "remote"}
    assert all(Task.REASONING in s.tier.tasks for s in plan.steps if s.role != Role.LOCAL_LAST_RESORT)


def test_context_window_and_features_are_hard_filters() -> None:
    short = tier("short", "1B", context=1000)
    toolless = tier("toolless", "8B", features=["Streaming"])
    tools = tier("tools", "70B", features=["Streaming", "Tools"])
    view = policy_view([short, toolless, tools], policy(["short", "toolless", "tools"]))
    plan = plan_request(view, facts(Task.CHAT, prompt_tokens=2000, features=frozenset({Feature.TOOLS})), fresh_health())
    assert names(plan) == ["tools"]
    assert plan.skip_reason("short").reason == SkipReason.CONTEXT_TOO_SMALL  # type: ignore[union-attr]
    assert plan.skip_reason("toolless").reason == SkipReason.MISSING_FEATURE  # type: ignore[union-attr]


def test_a_feature_no_tier_offers_is_a_client_error_naming_the_field() -> None:
    view = policy_view([tier("a", "1B", features=["Streaming"]), tier("b", "8B")], policy(["a", "b"]))
    with pytest.raises(UnsupportedFeatureError) as raised:
        plan_request(view, facts(Task.CHAT, features=frozenset({Feature.TOOLS})), fresh_health())
    assert raised.value.status == 400 and raised.value.param == "tools"
    assert "Tools" in raised.value.message


def test_prompt_longer_than_every_context_is_a_client_error() -> None:
    view = policy_view([tier("a", "1B", context=100)], policy(["a"]))
    with pytest.raises(ContextTooLongError, match="fits no tier"):
        plan_request(view, facts(Task.CHAT, prompt_tokens=50, max_tokens=100), fresh_health())


def test_plan_ends_with_local_even_when_cap_must_grow() -> None:
    remote2 = tier("remote2", "300B", local=False)
    remote3 = tier("remote3", "400B", local=False)
    view = policy_view(
        [REMOTE, remote2, remote3, SMALL], policy(["remote", "remote2", "remote3", "small"], max_attempts=2)
    )
    plan = plan_request(view, facts(Task.REASONING), fresh_health())
    assert names(plan) == ["remote", "remote2", "small"]
    assert plan.steps[-1].role == Role.LOCAL_LAST_RESORT and "Reasoning" in plan.steps[-1].detail


def test_explicit_chain_orders_fallbacks_after_the_primary() -> None:
    view = policy_view(ALL, policy(NAMES, chain=["remote", "big", "small"]))
    plan = plan_request(view, facts(Task.CHAT), fresh_health())
    assert names(plan) == ["small", "remote", "big"]
    assert plan.skip_reason("mid").reason == SkipReason.NOT_IN_CHAIN  # type: ignore[union-attr]


def test_open_circuit_and_cooldown_are_skipped_with_reasons() -> None:
    health = HealthBook()
    for _ in range(5):
        health.record_failure("default/mid", 100.0)
    health.record_failure("default/big", 100.0, retry_after=30)
    view = policy_view(ALL, policy(NAMES, max_attempts=3))
    plan = plan_request(view, facts(Task.SUMMARIZATION), health, now=101.0)
    assert plan.ranked_first == "mid" and names(plan)[0] == "remote"
    assert plan.skip_reason("mid").reason == SkipReason.CIRCUIT_OPEN  # type: ignore[union-attr]
    assert plan.skip_reason("big").reason == SkipReason.COOLING_DOWN  # type: ignore[union-attr]


def test_max_cost_per_request_excludes_expensive_tiers() -> None:
    view = policy_view(ALL, policy(NAMES, strategy="Capability", max_cost="0.0005"))
    plan = plan_request(view, facts(Task.REASONING, prompt_tokens=100, max_tokens=100), fresh_health())
    assert "remote" not in names(plan)
    assert plan.skip_reason("remote").reason == SkipReason.OVER_REQUEST_BUDGET  # type: ignore[union-attr]


def test_budget_downgrade_goes_to_cheapest_local_and_is_recorded() -> None:
    view = policy_view([SMALL, REMOTE], policy(["small", "remote"], max_cost="0.0001"))
    plan = plan_request(view, facts(Task.REASONING, prompt_tokens=500, max_tokens=500), fresh_health())
    assert names(plan) == ["small"] and plan.steps[0].role == Role.BUDGET_DOWNGRADE
    assert Note.BUDGET_DOWNGRADE in plan.notes and plan.ranked_first is None


def test_budget_reject_raises_429() -> None:
    view = policy_view([SMALL, REMOTE], policy(["small", "remote"], max_cost="0.0001", on_exceeded="Reject"))
    with pytest.raises(BudgetExceededError) as caught:
        plan_request(view, facts(Task.REASONING, prompt_tokens=500, max_tokens=500), fresh_health())
    assert caught.value.status == 429


def test_daily_limit_counts_what_was_spent_today() -> None:
    view = policy_view([MID, REMOTE], policy(["mid", "remote"], daily="1", on_exceeded="Reject"))
    request = facts(Task.SUMMARIZATION, prompt_tokens=100, max_tokens=100)
    assert names(plan_request(view, request, fresh_health(), spent_today=0))[0] == "mid"
    with pytest.raises(BudgetExceededError):
        plan_request(view, request, fresh_health(), spent_today=usd_to_femto(Decimal("1")))


def test_a_day_spent_past_its_limit_still_downgrades_to_free_tiers() -> None:
    free = tier("free", "8B", price_in="0", price_out="0")
    view = policy_view([MID, free], policy(["mid", "free"], daily="1"))
    request = facts(Task.SUMMARIZATION, prompt_tokens=100, max_tokens=100)
    over = usd_to_femto(Decimal("1.5"))  # answers cost more than estimated: spend passed the limit
    plan = plan_request(view, request, fresh_health(), spent_today=over)
    assert names(plan) == ["free"]  # not a 429 for the rest of the day
    assert plan.skip_reason("mid").reason == SkipReason.OVER_DAILY_BUDGET  # type: ignore[union-attr]


def test_no_capable_tier_and_no_local_is_503_with_reasons() -> None:
    view = policy_view([tier("r", "1B", local=False, tasks=["Chat"])], policy(["r"]))
    with pytest.raises(NoTierAvailableError, match="NotCapable"):
        plan_request(view, facts(Task.REASONING), fresh_health())


def test_unresolved_tiers_are_reported() -> None:
    view = policy_view([SMALL], policy(["small", "ghost"]))
    assert view.missing_tiers == ("ghost",)


# ---- properties (architecture section 3, "Which rule wins") ----

_SIZES = ["0.5B", "1.5B", "3B", "8B", "14B", "32B", "70B", "405B"]
_PRICES = ["0", "0.02", "0.1", "0.6", "2.5", "10"]
_TASK_NAMES = [t.value for t in Task]


@st.composite
def scenarios(draw):  # type: ignore[no-untyped-def]
    count = draw(st.integers(1, 7) | st.integers(8, 24))  # many tiers: only the top is ranked
    docs = []
    for i in range(count):
        listed = draw(st.none() | st.lists(st.sampled_from(_TASK_NAMES), unique=True, max_size=4))
        docs.append(
            tier(
                f"t{i}",
                draw(st.sampled_from(_SIZES)),
                tasks=listed,
                local=draw(st.booleans()),
                price_in=draw(st.sampled_from(_PRICES)),
                price_out=draw(st.sampled_from(_PRICES)),
                context=draw(st.none() | st.sampled_from([2048, 8192, 131072])),
                features=draw(st.none() | st.lists(st.sampled_from(["Streaming", "Tools", "JSONMode"]), unique=True)),
            )
        )
    chosen = [f"t{i}" for i in range(count)]
    doc = policy(
        chosen,
        strategy=draw(st.sampled_from(["Capability", "Cost", "Latency", "Hybrid"])),
        chain=draw(st.none() | st.permutations(chosen).map(list)),
        max_attempts=draw(st.integers(1, 4)),
        max_cost=draw(st.none() | st.sampled_from(["0.0001", "0.001", "0.01"])),
        on_exceeded=draw(st.sampled_from(["Downgrade", "Reject"])),
        latency_class=draw(st.sampled_from(["Realtime", "Interactive", "Batch"])),
    )
    request = facts(
        draw(st.sampled_from(list(Task))),
        latency=draw(st.sampled_from(list(LatencyClass))),
        prompt_tokens=draw(st.integers(1, 4000)),
        max_tokens=draw(st.none() | st.integers(1, 4000)),
        features=frozenset(draw(st.lists(st.sampled_from([Feature.TOOLS, Feature.JSON_MODE]), max_size=1))),
    )
    blocked = draw(st.lists(st.sampled_from(chosen), unique=True, max_size=count))
    return docs, doc, request, blocked


def _cost(t, request) -> int:  # type: ignore[no-untyped-def]
    return t.estimated_cost(request.prompt_tokens, request.output_tokens)


def _health_with(blocked: list[str]) -> HealthBook:
    health = HealthBook()
    for name in blocked:
        for _ in range(5):
            health.record_failure(f"default/{name}", 0.0)
    return health


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_invariants_hold(scenario) -> None:  # type: ignore[no-untyped-def]
    docs, doc, request, blocked = scenario
    view = policy_view(docs, doc)
    health = _health_with(blocked)
    try:
        plan = plan_request(view, request, health, now=1.0)
    except UnsupportedFeatureError:
        assert not any(request.features <= t.features for t in view.all_tiers), "a tier offered every feature"
        return
    except (ContextTooLongError, BudgetExceededError, NoTierAvailableError):
        return
    keys = [s.tier.key for s in plan.steps]
    assert len(keys) == len(set(keys)), "the plan repeats a tier"
    assert plan.steps, "an empty plan must raise instead"
    for step in plan.steps:
        assert health.blocked(step.tier.key, 1.0) is None, "a blocked tier was planned"
        if view.max_cost_femto is not None:
            assert step.estimated_cost <= view.max_cost_femto, "a planned attempt exceeds maxCostPerRequest"
        if step.role not in (Role.LOCAL_LAST_RESORT, Role.BUDGET_DOWNGRADE):
            assert request.task in step.tier.tasks, "an incapable tier was planned outside the two exceptions"
            assert request.features <= step.tier.features
    primary = plan.steps[0]
    if primary.role == Role.BUDGET_DOWNGRADE:
        assert Note.BUDGET_DOWNGRADE in plan.notes
    if primary.role == Role.LOCAL_LAST_RESORT:  # every capable tier must have been skipped, with a reason
        skipped = {s.tier for s in plan.skipped}
        assert all(t.name in skipped for t in view.all_tiers if request.task in t.tasks and t.key != primary.tier.key)
    cap = {"Realtime": 7, "Interactive": 14, "Batch": None}[request.latency_class.value]
    if cap is not None and primary.role == Role.PRIMARY and primary.tier.billions >= cap:
        # either the filter was relaxed, or the in-class tiers were skipped (health), both recorded
        relaxed = Note.LATENCY_CLASS_RELAXED in plan.notes
        assert relaxed or plan.ranked_first != primary.tier.name, "a relaxation is not recorded"
    healthy_local_fits = [
        t
        for t in view.all_tiers
        if t.is_local
        and health.blocked(t.key, 1.0) is None
        and (t.max_context_tokens is None or request.prompt_tokens + (request.max_tokens or 0) <= t.max_context_tokens)
        and request.features <= t.features
        and (view.max_cost_femto is None or _cost(t, request) <= view.max_cost_femto)
    ]
    if healthy_local_fits:
        only_local_is_primary = [t.key for t in healthy_local_fits] == [primary.tier.key]
        assert plan.steps[-1].tier.is_local or only_local_is_primary, "the plan does not end with a Local tier"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_partial_ranking_plans_what_a_full_ranking_plans(scenario) -> None:  # type: ignore[no-untyped-def]
    """Ranking only the top candidates is an optimisation: it must not change any plan."""
    from tiergate_gateway.core import routing

    docs, doc, request, blocked = scenario
    view = policy_view(docs, doc)
    results = []
    for spare in (routing._SPARE_CANDIDATES, 10_000):
        original = routing._SPARE_CANDIDATES
        routing._SPARE_CANDIDATES = spare  # type: ignore[misc]
        try:
            plan = plan_request(view, request, _health_with(blocked), now=1.0)
            results.append(([s.tier.name for s in plan.steps], plan.notes, plan.ranked_first))
        except (ContextTooLongError, BudgetExceededError, NoTierAvailableError, UnsupportedFeatureError) as exc:
            results.append(type(exc).__name__)
        finally:
            routing._SPARE_CANDIDATES = original  # type: ignore[misc]
    assert results[0] == results[1]
