"""The routing decision: a policy plus request facts in, an ordered attempt plan out (pure).

Rules (architecture section 3, "Which rule wins"):
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

Speed: this runs on every request. The snapshot gives each policy its capable tiers per
task, already in Capability order, so the common path looks only at capable tiers, sorts
only for Cost, Latency and Hybrid, and works out why every other tier was left out only
when someone asks (`Plan.skipped`: explain, error messages).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter
from typing import Any, Final

from tiergate_api.enums import Feature, LatencyClass, OnBudgetExceeded, Strategy, Task
from tiergate_api.tasks import LATENCY_CLASS_MAX_BILLIONS
from tiergate_gateway.core.errors import BudgetExceededError, ContextTooLongError, NoTierAvailableError
from tiergate_gateway.core.health_view import HealthView
from tiergate_gateway.core.views import PolicyView, TierView, femto_to_usd

DEFAULT_OUTPUT_TOKENS: Final = 256
"""Output length assumed for estimates when a request sets no max_tokens."""

_CLASS_CAPS: Final = {c: (None if v is None else float(v)) for c, v in LATENCY_CLASS_MAX_BILLIONS.items()}
_BY_COST: Final = itemgetter(1)
_BY_LATENCY: Final = itemgetter(2)
_SPARE_CANDIDATES: Final = 6
_DAY_SECONDS: Final = 86_400
"""Candidates ranked beyond maxAttempts, for tiers live health passes over (more: rank all)."""


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
    ATTEMPT_CAP = "AttemptCap"
    NOT_IN_CHAIN = "NotInChain"


class Note(StrEnum):
    """Decisions that bent a rule; each also becomes a fallback reason."""

    LATENCY_CLASS_RELAXED = "LatencyClassRelaxed"
    BUDGET_DOWNGRADE = "BudgetDowngrade"
    NO_CAPABLE_TIER = "NoCapableTier"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What routing needs to know about one request."""

    task: Task
    latency_class: LatencyClass
    prompt_tokens: int
    max_tokens: int | None
    features: frozenset[Feature] = frozenset()
    stream: bool = False

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


@dataclass(frozen=True, slots=True)
class Skip:
    """A tier left out, with a machine reason and a human detail."""

    tier: str
    reason: SkipReason
    detail: str


# A candidate is (tier, estimated cost in femto-USD, expected latency in ms or -1 when not needed).
Candidate = tuple[TierView, int, float]


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
    cap = _CLASS_CAPS[facts.latency_class]
    max_cost = policy.max_cost_femto
    daily_left = None if policy.daily_limit_femto is None else policy.daily_limit_femto - spent_today
    needs_latency = policy.strategy in (Strategy.LATENCY, Strategy.HYBRID)

    inside: list[Candidate] = []
    outside: list[Candidate] = []
    over_budget = False
    prompt = facts.prompt_tokens
    needed = prompt + (facts.max_tokens or 0)
    features = facts.features
    stream = facts.stream
    for tier in policy.capable.get(facts.task, ()):
        limit = tier.max_context_tokens
        if (
            tier.problem
            or (limit is not None and needed > limit)
            or (features and not features <= tier.features)
            or (stream and tier.declares_features and Feature.STREAMING not in tier.features)
        ):
            skipped.append(_unfit(tier, facts))  # type: ignore[arg-type]
            continue
        cost = prompt * tier.input_femto_per_token + out * tier.output_femto_per_token
        if (max_cost is not None and cost > max_cost) or (daily_left is not None and cost > daily_left):
            over_budget = True
            skipped.append(_budget_skip(tier, cost, max_cost))
            continue
        # expected latency is filled in afterwards, in one pass, only when the ranking needs it
        (inside if cap is None or tier.billions < cap else outside).append((tier, cost, -1.0))
    if needs_latency and inside:
        inside = _with_latency(inside, health, out)

    role = Role.PRIMARY
    # Only the best few candidates are ever tried: rank the top of the list, unless a chain needs them all.
    limit = None if policy.chain else policy.max_attempts + _SPARE_CANDIDATES
    if inside or outside:
        ranked = _rank_with_latency_class(policy, inside, outside, notes, health, out, limit)
    else:
        _raise_if_context_fits_nowhere(policy, facts)
        usable = _usable(policy.all_tiers, facts, max_cost, daily_left)
        if over_budget:
            if policy.on_exceeded == OnBudgetExceeded.REJECT:
                raise BudgetExceededError(
                    f"no tier of {policy.label} can do {facts.task.value} within its budget "
                    f"(maxCostPerRequest or dailyLimit); the policy rejects over-budget requests",
                    headers=_budget_retry_after(skipped, now),
                )
            notes.append(Note.BUDGET_DOWNGRADE)
            ranked = _downgrade_order(usable)
            role = Role.BUDGET_DOWNGRADE
        else:
            ranked = []
            if usable:
                notes.append(Note.NO_CAPABLE_TIER)
    ranked_first = ranked[0][0].name if ranked and role == Role.PRIMARY else None

    order = _apply_chain(policy, ranked, skipped) if role == Role.PRIMARY else ranked
    planned_skips = list(skipped)
    steps = _healthy_steps(policy, order, role, health, now, skipped, out)
    if role == Role.PRIMARY and len(steps) < policy.max_attempts and len(ranked) < len(inside) + len(outside):
        # live health passed over more of the top than we ranked: rank them all and walk again
        ranked = _rank_with_latency_class(policy, inside, outside, [], health, out, None)
        skipped = planned_skips
        steps = _healthy_steps(policy, ranked, role, health, now, skipped, out)
    steps = _end_with_local(policy, facts, steps, health, now, max_cost, daily_left)
    plan = Plan(policy, facts, tuple(steps), tuple(notes), ranked_first, tuple(skipped))
    if not steps:
        _raise_no_tier(plan, over_budget, daily_left, health, now)
    return plan


def _unfit(tier: TierView, facts: RequestFacts) -> Skip | None:
    """Why a tier cannot take this request whatever it costs, or None."""
    if tier.problem:
        return Skip(tier.name, SkipReason.UNAVAILABLE, tier.problem)
    limit = tier.max_context_tokens
    if limit is not None and facts.prompt_tokens + (facts.max_tokens or 0) > limit:
        return Skip(tier.name, SkipReason.CONTEXT_TOO_SMALL, f"prompt plus max_tokens exceeds {limit}")
    if facts.features and not facts.features <= tier.features:
        missing = sorted(f.value for f in facts.features - tier.features)
        return Skip(tier.name, SkipReason.MISSING_FEATURE, f"lacks {', '.join(missing)}")
    # Streaming is only checked for tiers that declare features at all: most servers stream.
    if facts.stream and tier.declares_features and Feature.STREAMING not in tier.features:
        return Skip(tier.name, SkipReason.MISSING_FEATURE, "lacks Streaming")
    return None


def _budget_skip(tier: TierView, cost: int, max_cost: int | None) -> Skip:
    reason = (
        SkipReason.OVER_REQUEST_BUDGET if max_cost is not None and cost > max_cost else SkipReason.OVER_DAILY_BUDGET
    )
    return Skip(tier.name, reason, f"estimated ${femto_to_usd(cost):f}")


def _usable(
    tiers: Sequence[TierView], facts: RequestFacts, max_cost: int | None, daily_left: int | None
) -> list[Candidate]:
    """Tiers that fit the request and the budget, capable or not (downgrades, last resorts)."""
    found = []
    for tier in tiers:
        if _unfit(tier, facts) is not None:
            continue
        cost = tier.estimated_cost(facts.prompt_tokens, facts.output_tokens)
        if (max_cost is None or cost <= max_cost) and (daily_left is None or cost <= daily_left):
            found.append((tier, cost, -1.0))
    return found


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


def _with_latency(candidates: list[Candidate], health: HealthView, output_tokens: int) -> list[Candidate]:
    latencies = health.expected_ms_many([c[0] for c in candidates], output_tokens)
    return [(c[0], c[1], latency) for c, latency in zip(candidates, latencies, strict=True)]


def _rank_with_latency_class(
    policy: PolicyView,
    inside: list[Candidate],
    outside: list[Candidate],
    notes: list[Note],
    health: HealthView,
    output_tokens: int,
    limit: int | None,
) -> list[Candidate]:
    if inside and policy.strategy == Strategy.CAPABILITY:
        return inside + outside  # both already in Capability order
    if not inside:
        notes.append(Note.LATENCY_CLASS_RELAXED)
        return _smallest(_with_latency(outside, health, output_tokens), _BY_LATENCY, limit)
    ranked = rank(policy, inside, limit)
    if limit is not None and len(ranked) >= limit:
        return ranked
    if policy.strategy != Strategy.COST:
        outside = _with_latency(outside, health, output_tokens)
    return ranked + rank(policy, outside, limit)


def rank(policy: PolicyView, candidates: list[Candidate], limit: int | None = None) -> list[Candidate]:
    """Order candidates by the policy's strategy (the first `limit` only, when given); they arrive
    in Capability order, which breaks ties."""
    strategy = policy.strategy
    if strategy == Strategy.CAPABILITY or len(candidates) < 2:
        return candidates if limit is None else candidates[:limit]
    if strategy == Strategy.COST:
        return _smallest(candidates, _BY_COST, limit)
    if strategy == Strategy.LATENCY:
        return _smallest(candidates, _BY_LATENCY, limit)
    return _rank_hybrid(policy.weights, candidates, limit)


def _smallest(candidates: list[Candidate], key: Any, limit: int | None) -> list[Candidate]:
    """Sorted by key (stable), or just its first `limit` (heapq is stable too: ties keep input order)."""
    if limit is None or len(candidates) <= 2 * limit:
        ordered = sorted(candidates, key=key)
        return ordered if limit is None else ordered[:limit]
    return heapq.nsmallest(limit, candidates, key=key)


def _rank_hybrid(weights: tuple[int, int, int], candidates: list[Candidate], limit: int | None) -> list[Candidate]:
    """Highest `hybrid_scores` first, computed as one linear key: each score is
    sum(w * (1 - (x - min) / span)), so ordering by sum(w / span * x) ascending is the same order."""
    sizes = [c[0].log_billions for c in candidates]
    costs = [c[1] for c in candidates]
    latencies = [c[2] for c in candidates]
    w_cap, w_cost, w_lat = weights
    size_span, cost_span, latency_span = (
        max(sizes) - min(sizes),
        max(costs) - min(costs),
        max(latencies) - min(latencies),
    )
    a = w_cap / size_span if size_span > 1e-12 else 0.0
    b = w_cost / cost_span if cost_span else 0.0
    c = w_lat / latency_span if latency_span > 1e-12 else 0.0
    return _smallest(candidates, lambda x: a * x[0].log_billions + b * x[1] + c * x[2], limit)


def hybrid_scores(
    weights: tuple[int, int, int], tiers: Sequence[tuple[float, int, float]], *, logged: bool = False
) -> list[float]:
    """Hybrid scores in [0, 1] for (billions, cost, expected ms) triples; higher is better."""
    if not tiers:
        return []
    sizes = [b if logged else math.log(max(b, 0.001)) for b, _, _ in tiers]
    size_score = _lower_is_better(sizes)
    cost_score = _lower_is_better([float(c) for _, c, _ in tiers])
    latency_score = _lower_is_better([m for _, _, m in tiers])
    w_cap, w_cost, w_lat = weights
    total = (w_cap + w_cost + w_lat) or 1
    return [
        (w_cap * size_score[i] + w_cost * cost_score[i] + w_lat * latency_score[i]) / total for i in range(len(tiers))
    ]


def _lower_is_better(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return [1.0] * len(values)
    span = high - low
    return [1.0 - (v - low) / span for v in values]


def _downgrade_order(usable: list[Candidate]) -> list[Candidate]:
    """Cheapest tiers that fit; Local ones only, when there are any."""
    local = [c for c in usable if c[0].is_local]
    pool = local or usable
    return sorted(pool, key=lambda c: (c[1], c[0].billions, c[0].name))


def _apply_chain(policy: PolicyView, ranked: list[Candidate], skipped: list[Skip]) -> list[Candidate]:
    """The strategy's order, or the primary then `fallback.chain` when the policy gives one."""
    if not policy.chain or not ranked:
        return ranked
    primary = ranked[0]
    by_key = {c[0].key: c for c in ranked}
    order = [primary]
    for tier in policy.chain:
        candidate = by_key.get(tier.key)
        if candidate is not None and candidate is not primary:
            order.append(candidate)
    in_order = {c[0].key for c in order}
    skipped.extend(
        Skip(c[0].name, SkipReason.NOT_IN_CHAIN, "fallback.chain sets the order")
        for c in ranked
        if c[0].key not in in_order
    )
    return order


def _healthy_steps(
    policy: PolicyView,
    order: list[Candidate],
    role: Role,
    health: HealthView,
    now: float,
    skipped: list[Skip],
    output_tokens: int,
) -> list[Step]:
    steps: list[Step] = []
    for tier, cost, latency in order:
        if len(steps) >= policy.max_attempts:
            break  # the rest are AttemptCap skips, worked out only if someone asks
        blocked = health.blocked(tier.key, now)
        if blocked is not None:
            skipped.append(Skip(tier.name, SkipReason(blocked.value), "skipped by live health"))
            continue
        step_role = role if role == Role.BUDGET_DOWNGRADE else (Role.PRIMARY if not steps else Role.FALLBACK)
        expected = latency if latency >= 0 else health.expected_ms(tier, output_tokens)
        steps.append(Step(tier, step_role, cost, expected))
    return steps


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
            if tier.key in planned or health.blocked(tier.key, now) is not None or _unfit(tier, facts) is not None:
                continue
            cost = tier.estimated_cost(facts.prompt_tokens, facts.output_tokens)
            if (max_cost is not None and cost > max_cost) or (daily_left is not None and cost > daily_left):
                continue
            detail = "" if task in tier.tasks else f"not listed for {task.value}; last resort"
            expected = health.expected_ms(tier, facts.output_tokens)
            return [*steps, Step(tier, Role.LOCAL_LAST_RESORT, cost, expected, detail)]
    return steps


def _unrecorded_skips(plan: Plan) -> tuple[Skip, ...]:
    """Why the tiers the planner never looked at closely were left out (explain, errors)."""
    seen = {s.tier for s in plan.recorded} | {s.tier.name for s in plan.steps}
    task = plan.facts.task
    found = []
    for tier in plan.policy.all_tiers:
        if tier.name in seen:
            continue
        reason = _unfit(tier, plan.facts)
        if reason is not None:
            found.append(reason)
        elif task not in tier.tasks:
            found.append(Skip(tier.name, SkipReason.NOT_CAPABLE, f"does not list {task.value}"))
        else:
            found.append(Skip(tier.name, SkipReason.ATTEMPT_CAP, f"maxAttempts is {plan.policy.max_attempts}"))
    return tuple(found)


def _raise_no_tier(plan: Plan, over_budget: bool, daily_left: int | None, health: HealthView, now: float) -> None:
    policy = plan.policy
    if over_budget and not _usable(policy.all_tiers, plan.facts, policy.max_cost_femto, daily_left):
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
    blocked = {s.tier for s in plan.skipped if s.reason in (SkipReason.CIRCUIT_OPEN, SkipReason.COOLING_DOWN)}
    moments = [health.usable_at(t.key, now) for t in plan.policy.all_tiers if t.name in blocked]
    return retry_after_header(min(moments, default=now) - now)


def _budget_retry_after(skipped: Sequence[Skip], now: float) -> dict[str, str]:
    """A daily limit lifts when the UTC day turns; a per-request cap never does (no header)."""
    if any(s.reason == SkipReason.OVER_DAILY_BUDGET for s in skipped):
        return retry_after_header(_DAY_SECONDS - now % _DAY_SECONDS)
    return {}


def retry_after_header(seconds: float) -> dict[str, str]:
    """`{"retry-after": whole seconds, rounded up}` for a positive wait, else nothing."""
    return {"retry-after": str(max(1, math.ceil(seconds)))} if seconds > 0 else {}
