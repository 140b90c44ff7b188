"""The routing decision: a policy plus request facts in, an ordered attempt plan out (pure).

Rules (docs/routing.md, sections 3 "Filters: which rule wins" and 5 "The attempt plan"):
- capability, context window and features are hard filters for every planned tier, except
  the Local last resort at the end of the plan and a budget downgrade, both recorded;
- the latency class is a soft filter: tiers within it are preferred, the rest follow, and
  when none is within it the filter is relaxed (fastest capable first) and recorded;
- cost limits are hard: no planned tier's estimate exceeds `maxCostPerRequest` or what is
  left of the day's budget; with none left, Downgrade plans the cheapest tiers that fit
  (Local first) and Reject raises a 429;
- the plan skips tiers whose circuit is open or that cool down after a 429, is capped at
  `maxAttempts`, never repeats a tier, and ends with a healthy Local tier when the policy
  has one (the cap grows by one for it).

The fit rules and the cost limits are stated once, in `_screen`; whatever asks whether a tier
can take a request (planning, downgrades, the last resort, explanations) asks it.

Speed: this runs on every request. The snapshot gives each policy its capable tiers per
task, already in Capability order, so the common path looks only at capable tiers, sorts
only for Cost, Latency and Hybrid (and then only the top of the list), builds no object per
tier (`Candidates`), and works out why every other tier was left out only when someone asks
(`Plan.skipped`: explain, error messages).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from typing import Final

from tiergate_api.enums import Feature, LatencyClass, OnBudgetExceeded, Strategy, Task
from tiergate_api.tasks import LATENCY_CLASS_MAX_BILLIONS, TASK_HARD_MIN_BILLIONS
from tiergate_gateway.core.errors import (
    BudgetExceededError,
    ContextTooLongError,
    NoTierAvailableError,
    UnsupportedFeatureError,
)
from tiergate_gateway.core.health_view import COLD, BlockReason, HealthView
from tiergate_gateway.core.views import PolicyView, TierView, femto_to_usd

DEFAULT_OUTPUT_TOKENS: Final = 256
"""Output length assumed for estimates when a request sets no max_tokens."""

_CLASS_CAPS: Final = {c: (None if v is None else float(v)) for c, v in LATENCY_CLASS_MAX_BILLIONS.items()}
_SPARE_CANDIDATES: Final = 6
"""Candidates ranked beyond maxAttempts, for tiers live health passes over (more: rank all)."""
_DAY_SECONDS: Final = 86_400
_BILLIONS: Final = attrgetter("billions")


class Role(StrEnum):
    """Why a tier is in the plan."""

    PRIMARY = "Primary"
    FALLBACK = "Fallback"
    LOCAL_LAST_RESORT = "LocalLastResort"
    BUDGET_DOWNGRADE = "BudgetDowngrade"


class SkipReason(StrEnum):
    """Why a tier of the policy is not in the plan (or not where the strategy put it)."""

    UNAVAILABLE = "Unavailable"
    NOT_CAPABLE = "NotCapable"
    CONTEXT_TOO_SMALL = "ContextTooSmall"
    MISSING_FEATURE = "MissingFeature"
    OVER_REQUEST_BUDGET = "OverRequestBudget"
    OVER_DAILY_BUDGET = "OverDailyBudget"
    CIRCUIT_OPEN = "CircuitOpen"
    COOLING_DOWN = "CoolingDown"
    SCALED_TO_ZERO = "ScaledToZero"
    STARTING = "Starting"
    ATTEMPT_CAP = "AttemptCap"
    NOT_IN_CHAIN = "NotInChain"


class Note(StrEnum):
    """Decisions that bent a rule; each also becomes a fallback reason."""

    LATENCY_CLASS_RELAXED = "LatencyClassRelaxed"
    SATURATED_PASSED = "SaturatedTierPassed"
    BUDGET_DOWNGRADE = "BudgetDowngrade"
    NO_CAPABLE_TIER = "NoCapableTier"
    LOW_CONFIDENCE_ROUTED_UP = "LowConfidenceRoutedUp"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What routing needs to know about one request."""

    task: Task
    latency_class: LatencyClass
    prompt_tokens: int
    max_tokens: int | None
    features: frozenset[Feature] = frozenset()
    stream: bool = False
    route_up: bool = False
    """The classifier was unsure of the task and the policy says RouteUp: the smallest capable size is
    not the primary."""
    hard: bool = False
    """Hard within its task (`core/difficulty.py`) and the policy routes hard requests up: tiers below the
    upper part of the task's range go after the others."""

    @property
    def output_tokens(self) -> int:
        """Output tokens assumed for cost and latency estimates."""
        return self.max_tokens or DEFAULT_OUTPUT_TOKENS


@dataclass(frozen=True, slots=True)
class Step:
    """One planned attempt."""

    tier: TierView
    role: Role
    estimated_cost: int
    expected_ms: float
    detail: str = ""
    cold_wait: float = 0.0
    """Seconds the attempt may wait for the tier's first ready replica (a cold start); 0: it is warm."""


@dataclass(frozen=True, slots=True)
class Skip:
    """A tier left out, with a machine reason and a human detail."""

    tier: str
    reason: SkipReason
    detail: str


class Candidates:
    """Tiers that can take a request within its budget, with their estimates, in the order found.

    One list per field, and a ranking is a list of positions in them: the planner builds no object
    per tier. A large policy has many fitting tiers, of which only the first few ranked are ever
    planned, and a NamedTuple costs about eight times a plain tuple to build: one per fitting tier
    made a plan of 100 tiers (bench/micro.py) about twice as slow.
    """

    __slots__ = ("costs", "latencies", "over_budget", "tiers")

    def __init__(self) -> None:
        self.tiers: list[TierView] = []
        self.costs: list[int] = []
        """Estimated cost of the request on each tier, in femto-USD."""
        self.latencies: list[float] = []
        """Expected latency on each tier in ms; -1 until a ranking needs it (`measure`)."""
        self.over_budget = False
        """Some tier was left out only for its cost."""

    def measure(self, positions: range, health: HealthView, output_tokens: int) -> list[float]:
        """Fill in the expected latencies of a run of positions (asked of live health once); all of them."""
        if positions and self.latencies[positions.start] < 0:  # a run is measured whole or not at all
            self.latencies[positions.start : positions.stop] = health.expected_ms_many(
                self.tiers[positions.start : positions.stop], output_tokens
            )
        return self.latencies


def _screen(
    tiers: Iterable[TierView],
    facts: RequestFacts,
    max_cost: int | None,
    daily_left: int | None,
    skipped: list[Skip] | None = None,
) -> Candidates:
    """The tiers that can take the request within its cost limits, in their order; why each other
    one cannot goes to `skipped`. The fit rules and the budget check, stated once."""
    passed = Candidates()
    fit, costs = passed.tiers, passed.costs
    prompt, out = facts.prompt_tokens, facts.output_tokens
    needed = prompt + (facts.max_tokens or 0)
    features, stream = facts.features, facts.stream
    for tier in tiers:
        limit = tier.max_context_tokens
        if tier.problem:
            skip = Skip(tier.name, SkipReason.UNAVAILABLE, tier.problem)
        elif limit is not None and needed > limit:
            skip = Skip(tier.name, SkipReason.CONTEXT_TOO_SMALL, f"prompt plus max_tokens exceeds {limit}")
        elif features and not features <= tier.features:
            missing = sorted(f.value for f in features - tier.features)
            skip = Skip(tier.name, SkipReason.MISSING_FEATURE, f"lacks {', '.join(missing)}")
        # Streaming is only checked for tiers that declare features at all: most servers stream.
        elif stream and tier.declares_features and Feature.STREAMING not in tier.features:
            skip = Skip(tier.name, SkipReason.MISSING_FEATURE, "lacks Streaming")
        else:
            # TierView.estimated_cost, inlined: a method call per tier adds a fifth to a plan of 100 tiers
            cost = prompt * tier.input_femto_per_token + out * tier.output_femto_per_token
            if max_cost is not None and cost > max_cost:
                skip = Skip(tier.name, SkipReason.OVER_REQUEST_BUDGET, f"estimated ${femto_to_usd(cost):f}")
            # Past the day's limit (an answer can cost more than its estimate), free tiers still fit:
            # a request that costs nothing does not exceed the limit further.
            elif daily_left is not None and cost > max(daily_left, 0):
                skip = Skip(tier.name, SkipReason.OVER_DAILY_BUDGET, f"estimated ${femto_to_usd(cost):f}")
            else:
                fit.append(tier)
                costs.append(cost)
                continue
            passed.over_budget = True
        if skipped is not None:
            skipped.append(skip)
    passed.latencies = [-1.0] * len(fit)
    return passed


@dataclass(frozen=True, slots=True)
class Plan:
    """The ordered attempts for one request and the reasons behind them."""

    policy: PolicyView
    facts: RequestFacts
    steps: tuple[Step, ...]
    notes: tuple[Note, ...]
    ranked_first: str | None
    """The tier the strategy ranked first before health skips (None after a downgrade)."""
    recorded: tuple[Skip, ...] = ()
    """Skips noticed while planning (capable tiers filtered out, health, chain, cap)."""
    _all_skips: list[tuple[Skip, ...]] = field(default_factory=list, repr=False, compare=False)

    @property
    def skipped(self) -> tuple[Skip, ...]:
        """Every tier of the policy that is not planned, with why (worked out on first use)."""
        if not self._all_skips:
            self._all_skips.append(self.recorded + _unrecorded_skips(self))
        return self._all_skips[0]

    def skip_reason(self, tier_name: str) -> Skip | None:
        """The skip of a tier, if any."""
        return next((s for s in self.skipped if s.tier == tier_name), None)


def plan_request(
    policy: PolicyView,
    facts: RequestFacts,
    health: HealthView,
    *,
    spent_today: int = 0,
    now: float = 0.0,
) -> Plan:
    """Build the attempt plan for one request; raise a GatewayError when none is possible."""
    skipped: list[Skip] = []
    notes: list[Note] = []
    out = facts.output_tokens
    max_cost = policy.max_cost_femto
    daily_left = None if policy.daily_limit_femto is None else policy.daily_limit_femto - spent_today

    capable = _screen(policy.capable.get(facts.task, ()), facts, max_cost, daily_left, skipped)
    # Capability order is size order, so the tiers within the latency class come first.
    cap = _CLASS_CAPS[facts.latency_class]
    within = len(capable.tiers) if cap is None else bisect.bisect_left(capable.tiers, cap, key=_BILLIONS)

    role = Role.PRIMARY
    # Only the best few candidates are ever tried: rank the top of the list, unless a chain needs them all.
    limit = None if policy.chain else policy.max_attempts + _SPARE_CANDIDATES
    candidates = capable
    if capable.tiers:
        ranked = _rank_with_latency_class(policy, capable, within, notes, health, out, limit)
        if facts.latency_class != LatencyClass.BATCH:  # Batch waits in the queue of the tier it ranks first
            ranked = _unsaturated_first(ranked, capable, health, notes)
        if facts.route_up:
            ranked = _smallest_last(ranked, capable, notes)
        if facts.hard:
            ranked = _upper_range_first(ranked, capable, float(TASK_HARD_MIN_BILLIONS[facts.task]))
    else:
        _raise_if_context_fits_nowhere(policy, facts)
        _raise_if_features_fit_nowhere(policy, facts)
        candidates = _screen(policy.all_tiers, facts, max_cost, daily_left)  # capable or not
        ranked = []
        if capable.over_budget:
            if policy.on_exceeded == OnBudgetExceeded.REJECT:
                raise BudgetExceededError(
                    f"no tier of {policy.label} can do {facts.task.value} within its budget "
                    f"(maxCostPerRequest or dailyLimit); the policy rejects over-budget requests",
                    headers=_budget_retry_after(skipped, now),
                )
            notes.append(Note.BUDGET_DOWNGRADE)
            ranked = _downgrade_order(candidates)
            role = Role.BUDGET_DOWNGRADE
        elif candidates.tiers:
            notes.append(Note.NO_CAPABLE_TIER)
    ranked_first = candidates.tiers[ranked[0]].name if ranked and role == Role.PRIMARY else None

    order = _apply_chain(policy, candidates, ranked, skipped) if role == Role.PRIMARY else ranked
    planned_skips = list(skipped)
    wait = policy.cold_start_wait.get(facts.latency_class, 0.0)
    cold: list[Step] = []
    steps = _healthy_steps(policy, candidates, order, role, health, now, skipped, out, wait, cold)
    if role == Role.PRIMARY and len(steps) < policy.max_attempts and len(ranked) < len(capable.tiers):
        # live health passed over more of the top than we ranked: rank them all and walk again
        ranked = _rank_with_latency_class(policy, capable, within, [], health, out, None)
        skipped = planned_skips
        cold = []
        steps = _healthy_steps(policy, capable, ranked, role, health, now, skipped, out, wait, cold)
    steps = _end_with_local(policy, facts, steps, health, now, max_cost, daily_left)
    if not steps and cold:
        # Nothing else can answer: waiting for the tier to start beats a refusal.
        steps = [_wait_anyway(cold[0], max(wait, policy.attempt_timeout_seconds))]
        skipped = [s for s in skipped if s.tier != cold[0].tier.name]
    plan = Plan(policy, facts, tuple(steps), tuple(notes), ranked_first, tuple(skipped))
    if not steps:
        _raise_no_tier(plan, capable.over_budget, daily_left, health, now)
    return plan


def _raise_if_context_fits_nowhere(policy: PolicyView, facts: RequestFacts) -> None:
    needed = facts.prompt_tokens + (facts.max_tokens or 0)
    if policy.all_tiers and all(
        t.max_context_tokens is not None and needed > t.max_context_tokens for t in policy.all_tiers
    ):
        where = f"does not fit {policy.label}" if policy.direct else f"fits no tier of {policy.label}"
        raise ContextTooLongError(
            f"the prompt (about {facts.prompt_tokens} tokens) plus max_tokens {where}; "
            "shorten the prompt or lower max_tokens"
        )


_FEATURE_PARAMS: Final = {"Tools": "tools", "JSONMode": "response_format", "Vision": "messages"}


def _raise_if_features_fit_nowhere(policy: PolicyView, facts: RequestFacts) -> None:
    """A feature no tier of the policy offers (tools, JSON mode, images) is the request's problem: 400, not 503."""
    features = facts.features
    if not features or not policy.all_tiers or any(features <= t.features for t in policy.all_tiers):
        return
    wanted = sorted(f.value for f in features)
    subject = f"{policy.label} does not" if policy.direct else f"no tier of {policy.label} does"
    raise UnsupportedFeatureError(
        f"the request uses {', '.join(wanted)}: {subject} offer all of them", param=_FEATURE_PARAMS.get(wanted[0])
    )


def _unsaturated_first(ranked: list[int], candidates: Candidates, health: HealthView, notes: list[Note]) -> list[int]:
    """Realtime and Interactive requests go to a tier whose replicas are not queueing first (docs/routing.md, 6a).

    A tier is saturated when its replicas report at least as many requests waiting as running: a
    request would wait about one service time behind them before its first token, which neither class
    can afford (an autoscaled tier adds replicas meanwhile; Batch requests wait for them). Saturated
    tiers keep their order after the others; when that changes the first tier, the plan says so
    (`SaturatedTierPassed`).
    """
    congestion = health.congestion
    tiers = candidates.tiers
    saturated = [position for position in ranked if congestion(tiers[position].key) >= SATURATION]
    if not saturated or len(saturated) == len(ranked):
        return ranked
    reordered = [position for position in ranked if position not in saturated] + saturated
    if reordered[0] != ranked[0]:
        notes.append(Note.SATURATED_PASSED)
    return reordered


SATURATION: Final = 1.0
"""Requests waiting per request running at which a tier counts as saturated for Realtime and Interactive traffic."""


def _upper_range_first(ranked: list[int], candidates: Candidates, hard_from: float) -> list[int]:
    """A hard request: tiers of the upper part of the task's range first, in their order; the rest after."""
    tiers = candidates.tiers
    upper = [i for i in ranked if tiers[i].billions >= hard_from]
    if not upper or len(upper) == len(ranked):
        return ranked
    return upper + [i for i in ranked if tiers[i].billions < hard_from]


def _smallest_last(ranked: list[int], candidates: Candidates, notes: list[Note]) -> list[int]:
    """Unsure of the task: the tiers of the smallest capable size go after the larger ones (they stay in the plan)."""
    tiers = candidates.tiers
    smallest = min(tiers[i].billions for i in ranked)
    larger = [i for i in ranked if tiers[i].billions > smallest]
    if not larger:
        return ranked
    notes.append(Note.LOW_CONFIDENCE_ROUTED_UP)
    return larger + [i for i in ranked if tiers[i].billions == smallest]


def _rank_with_latency_class(
    policy: PolicyView,
    candidates: Candidates,
    within: int,
    notes: list[Note],
    health: HealthView,
    output_tokens: int,
    limit: int | None,
) -> list[int]:
    """Positions of the tiers within the latency class (the first `within`) in strategy order, then
    the others; with none within it, the class is relaxed and the fastest go first."""
    count = len(candidates.tiers)
    if not within:
        notes.append(Note.LATENCY_CLASS_RELAXED)
        every = range(count)
        return _smallest(every, candidates.measure(every, health, output_tokens).__getitem__, limit)
    if policy.strategy == Strategy.CAPABILITY:  # both groups are in Capability order already
        return list(range(count if limit is None else min(count, limit)))
    ranked = _rank(policy, candidates, range(within), health, output_tokens, limit)
    if limit is not None and len(ranked) >= limit:
        return ranked
    return ranked + _rank(policy, candidates, range(within, count), health, output_tokens, limit)


def _rank(
    policy: PolicyView,
    candidates: Candidates,
    positions: range,
    health: HealthView,
    output_tokens: int,
    limit: int | None,
) -> list[int]:
    """Positions in the order of the policy's Cost, Latency or Hybrid strategy (the first `limit` only,
    when given); Capability order, the order they come in, breaks ties."""
    strategy = policy.strategy
    if strategy != Strategy.COST:
        candidates.measure(positions, health, output_tokens)
    if len(positions) < 2:
        return list(positions)
    key: Callable[[int], float]
    if strategy == Strategy.COST:
        key = candidates.costs.__getitem__
    elif strategy == Strategy.LATENCY:
        key = candidates.latencies.__getitem__
    else:
        key = _hybrid_key(policy.weights, candidates, positions)
    return _smallest(positions, key, limit)


def _smallest(positions: range, key: Callable[[int], float], limit: int | None) -> list[int]:
    """Positions sorted by key (stable), or just the first `limit` (heapq is stable too: ties keep input order)."""
    if limit is None or len(positions) <= 2 * limit:
        ordered = sorted(positions, key=key)
        return ordered if limit is None else ordered[:limit]
    return heapq.nsmallest(limit, positions, key=key)


def _hybrid_key(weights: tuple[int, int, int], candidates: Candidates, positions: range) -> Callable[[int], float]:
    """The Hybrid order as one linear key, lowest first.

    Hybrid puts the highest weighted score first, each of size, cost and expected latency normalised
    over the candidates to 0..1 with the lowest best (docs/routing.md, section 4): a score is
    sum(w * (1 - (x - min) / span)), so ordering by sum(w / span * x) ascending is the same order.
    """
    tiers, costs, latencies = candidates.tiers, candidates.costs, candidates.latencies
    sizes = [tiers[i].log_billions for i in positions]
    span_costs = costs[positions.start : positions.stop]
    span_latencies = latencies[positions.start : positions.stop]
    w_cap, w_cost, w_lat = weights
    size_span, cost_span, latency_span = (
        max(sizes) - min(sizes),
        max(span_costs) - min(span_costs),
        max(span_latencies) - min(span_latencies),
    )
    a = w_cap / size_span if size_span > 1e-12 else 0.0
    b = w_cost / cost_span if cost_span else 0.0
    c = w_lat / latency_span if latency_span > 1e-12 else 0.0
    return lambda i: a * tiers[i].log_billions + b * costs[i] + c * latencies[i]


def _downgrade_order(candidates: Candidates) -> list[int]:
    """Positions of the cheapest tiers that fit; Local ones only, when there are any."""
    tiers, costs = candidates.tiers, candidates.costs
    every = range(len(candidates.tiers))
    local = [i for i in every if tiers[i].is_local]
    return sorted(local or every, key=lambda i: (costs[i], tiers[i].billions, tiers[i].name))


def _apply_chain(policy: PolicyView, candidates: Candidates, ranked: list[int], skipped: list[Skip]) -> list[int]:
    """The strategy's order, or the primary then `fallback.chain` when the policy gives one."""
    if not policy.chain or not ranked:
        return ranked
    tiers = candidates.tiers
    primary = ranked[0]
    by_key = {tiers[i].key: i for i in ranked}
    order = [primary]
    for tier in policy.chain:
        position = by_key.get(tier.key)
        if position is not None and position != primary:
            order.append(position)
    in_order = set(order)
    skipped.extend(
        Skip(tiers[i].name, SkipReason.NOT_IN_CHAIN, "fallback.chain sets the order")
        for i in ranked
        if i not in in_order
    )
    return order


def _healthy_steps(
    policy: PolicyView,
    candidates: Candidates,
    order: list[int],
    role: Role,
    health: HealthView,
    now: float,
    skipped: list[Skip],
    output_tokens: int,
    cold_wait: float = 0.0,
    cold: list[Step] | None = None,
) -> list[Step]:
    """The planned steps in `order`, past tiers live health blocks, up to maxAttempts.

    A cold tier (no ready replica) is planned with a wait when the request's latency class waits
    (`cold_wait`) and it is expected to be ready within it; otherwise it is skipped, and noted in
    `cold` for the case where nothing else can answer.
    """
    steps: list[Step] = []
    tiers, costs, latencies = candidates.tiers, candidates.costs, candidates.latencies
    for position in order:
        if len(steps) >= policy.max_attempts:
            break  # the rest are AttemptCap skips, worked out only if someone asks
        tier = tiers[position]
        blocked = health.blocked(tier.key, now)
        wait = 0.0
        if blocked is not None:
            if blocked not in COLD:
                skipped.append(Skip(tier.name, SkipReason(blocked.value), "skipped by live health"))
                continue
            ready_in = health.usable_at(tier.key, now) - now
            if cold is not None:
                cold.append(Step(tier, Role.PRIMARY, costs[position], health.expected_ms(tier, output_tokens)))
            if not cold_wait or ready_in > cold_wait:
                skipped.append(Skip(tier.name, SkipReason(blocked.value), _cold_detail(blocked, ready_in, cold_wait)))
                continue
            wait = cold_wait
        step_role = role if role == Role.BUDGET_DOWNGRADE else (Role.PRIMARY if not steps else Role.FALLBACK)
        latency = latencies[position]
        expected = latency if latency >= 0 else health.expected_ms(tier, output_tokens)
        detail = f"waits up to {wait:g}s for its cold start" if wait else ""
        steps.append(Step(tier, step_role, costs[position], expected, detail, wait))
    return steps


def _cold_detail(reason: BlockReason, ready_in: float, wait: float) -> str:
    """Why a cold tier is skipped, in words."""
    state = "scaled to zero" if reason == BlockReason.SCALED_TO_ZERO else "starting"
    if not wait:
        return f"{state}, no ready replica; this latency class does not wait for a cold start"
    return f"{state}, expected ready in {ready_in:.0f}s, past the {wait:g}s this latency class waits"


def _wait_anyway(step: Step, wait: float) -> Step:
    """A cold tier planned because nothing else can answer: wait up to `wait` for it."""
    return Step(
        step.tier,
        step.role,
        step.estimated_cost,
        step.expected_ms,
        "nothing else can answer: waits for it to start",
        wait,
    )


def _end_with_local(
    policy: PolicyView,
    facts: RequestFacts,
    steps: list[Step],
    health: HealthView,
    now: float,
    max_cost: int | None,
    daily_left: int | None,
) -> list[Step]:
    """Make the plan end with a healthy Local tier when the policy has one.

    A Local tier already planned as a fallback moves to the end (the cap holds); otherwise the best
    unplanned healthy Local tier is appended (the cap grows by one). When the only Local tier is the
    primary, it has been tried first and the plan is left as it is.
    """
    if not policy.require_local_last or not policy.local_tiers or (steps and steps[-1].tier.is_local):
        return steps
    local_fallbacks = [i for i, s in enumerate(steps) if i > 0 and s.tier.is_local]
    if local_fallbacks:
        index = local_fallbacks[-1]
        return steps[:index] + steps[index + 1 :] + [steps[index]]
    planned = {s.tier.key for s in steps}
    task = facts.task
    # A capable Local tier first; otherwise the largest, the likeliest to cope.
    for pool in (policy.capable_local.get(task, ()), policy.local_tiers):
        for tier in pool:
            if tier.key in planned or health.blocked(tier.key, now) is not None:
                continue
            affordable = _screen((tier,), facts, max_cost, daily_left)
            if not affordable.tiers:
                continue
            detail = "" if task in tier.tasks else f"not listed for {task.value}; last resort"
            expected = health.expected_ms(tier, facts.output_tokens)
            return [*steps, Step(tier, Role.LOCAL_LAST_RESORT, affordable.costs[0], expected, detail)]
    return steps


def _unrecorded_skips(plan: Plan) -> tuple[Skip, ...]:
    """Why the tiers the planner never looked at closely were left out (explain, errors)."""
    seen = {s.tier for s in plan.recorded} | {s.tier.name for s in plan.steps}
    unseen = [tier for tier in plan.policy.all_tiers if tier.name not in seen]
    unfit: list[Skip] = []
    _screen(unseen, plan.facts, None, None, unfit)  # the fit rules only: no cost limits
    why = {s.tier: s for s in unfit}
    task = plan.facts.task
    found = []
    for tier in unseen:
        reason = why.get(tier.name)
        if reason is not None:
            found.append(reason)
        elif task not in tier.tasks:
            found.append(Skip(tier.name, SkipReason.NOT_CAPABLE, f"does not list {task.value}"))
        else:
            found.append(Skip(tier.name, SkipReason.ATTEMPT_CAP, f"maxAttempts is {plan.policy.max_attempts}"))
    return tuple(found)


def _raise_no_tier(plan: Plan, over_budget: bool, daily_left: int | None, health: HealthView, now: float) -> None:
    policy = plan.policy
    if over_budget and not _screen(policy.all_tiers, plan.facts, policy.max_cost_femto, daily_left).tiers:
        raise BudgetExceededError(
            f"no tier of {policy.label} fits its budget for this request; try a smaller max_tokens",
            headers=_budget_retry_after(plan.skipped, now),
        )
    detail = "; ".join(f"{s.tier}: {s.reason.value} ({s.detail})" for s in plan.skipped) or "the policy has no tiers"
    missing = f"; missing tiers: {', '.join(policy.missing_tiers)}" if policy.missing_tiers else ""
    subject = f"{policy.label} cannot" if policy.direct else f"no tier of {policy.label} can"
    raise NoTierAvailableError(
        f"{subject} take this request: {detail}{missing}",
        headers=_health_retry_after(plan, health, now),
    )


def _health_retry_after(plan: Plan, health: HealthView, now: float) -> dict[str, str]:
    """`Retry-After` for a plan whose tiers are all passed over: when the first blocked one opens again."""
    blocked = {s.tier for s in plan.skipped if s.reason in HEALTH_SKIPS}
    moments = [health.usable_at(t.key, now) for t in plan.policy.all_tiers if t.name in blocked]
    return retry_after_header(min(moments, default=now) - now)


HEALTH_SKIPS: Final = frozenset(
    {SkipReason.CIRCUIT_OPEN, SkipReason.COOLING_DOWN, SkipReason.SCALED_TO_ZERO, SkipReason.STARTING}
)
"""Skips live health decided: they lift with time (a circuit closes, a cool-down ends, a tier starts)."""


def _budget_retry_after(skipped: Sequence[Skip], now: float) -> dict[str, str]:
    """A daily limit lifts when the UTC day turns; a per-request cap never does (no header)."""
    if any(s.reason == SkipReason.OVER_DAILY_BUDGET for s in skipped):
        return retry_after_header(_DAY_SECONDS - now % _DAY_SECONDS)
    return {}


def retry_after_header(seconds: float) -> dict[str, str]:
    """`{"retry-after": whole seconds, rounded up}` for a positive wait, else nothing."""
    return {"retry-after": str(max(1, math.ceil(seconds)))} if seconds > 0 else {}
