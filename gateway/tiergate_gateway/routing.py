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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from tiergate_api.enums import Feature, LatencyClass, OnBudgetExceeded, Strategy, Task
from tiergate_api.tasks import LATENCY_CLASS_MAX_BILLIONS
from tiergate_gateway.errors import BudgetExceededError, ContextTooLongError, NoTierAvailableError
from tiergate_gateway.health import HealthView
from tiergate_gateway.views import PolicyView, TierView, femto_to_usd

DEFAULT_OUTPUT_TOKENS: Final = 256
"""Output length assumed for estimates when a request sets no max_tokens."""


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


@dataclass(frozen=True, slots=True)
class Plan:
    """The ordered attempts for one request and the reasons behind them."""

    policy: PolicyView
    facts: RequestFacts
    steps: tuple[Step, ...]
    skipped: tuple[Skip, ...]
    notes: tuple[Note, ...]
    ranked_first: str | None
    """The tier the strategy ranked first before health skips (None after a downgrade)."""

    def skip_reason(self, tier_name: str) -> Skip | None:
        """The skip recorded for a tier, if any."""
        return next((s for s in self.skipped if s.tier == tier_name), None)


@dataclass(slots=True)
class _Candidate:
    tier: TierView
    cost: int
    expected_ms: float
    in_class: bool


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
    output_tokens = facts.output_tokens
    cap = LATENCY_CLASS_MAX_BILLIONS[facts.latency_class]
    max_cost = policy.max_cost_femto
    daily_left = None if policy.daily_limit_femto is None else policy.daily_limit_femto - spent_today

    usable: list[_Candidate] = []  # reachable, fits context and features, within cost limits
    capable: list[_Candidate] = []
    context_fits_somewhere = False
    over_budget_capable = False
    for tier in policy.all_tiers:
        if tier.problem:
            skipped.append(Skip(tier.name, SkipReason.UNAVAILABLE, tier.problem))
            continue
        if not _fits_context(tier, facts):
            detail = f"prompt plus max_tokens exceeds {tier.max_context_tokens}"
            skipped.append(Skip(tier.name, SkipReason.CONTEXT_TOO_SMALL, detail))
            continue
        context_fits_somewhere = True
        missing = _missing_features(tier, facts)
        if missing:
            skipped.append(Skip(tier.name, SkipReason.MISSING_FEATURE, f"lacks {', '.join(sorted(missing))}"))
            continue
        cost = tier.estimated_cost(facts.prompt_tokens, output_tokens)
        is_capable = facts.task in tier.tasks
        over = _over_budget(cost, max_cost, daily_left)
        if over is not None:
            skipped.append(Skip(tier.name, over, f"estimated ${femto_to_usd(cost):f}"))
            over_budget_capable = over_budget_capable or is_capable
            continue
        candidate = _Candidate(
            tier, cost, health.expected_ms(tier, output_tokens), cap is None or tier.billions < float(cap)
        )
        usable.append(candidate)
        if is_capable:
            capable.append(candidate)
        else:
            skipped.append(Skip(tier.name, SkipReason.NOT_CAPABLE, f"does not list {facts.task.value}"))

    if not context_fits_somewhere and policy.all_tiers:
        raise ContextTooLongError(
            f"the prompt (about {facts.prompt_tokens} tokens) plus max_tokens fits no tier of policy "
            f"{policy.alias!r}; shorten the prompt or lower max_tokens"
        )

    role = Role.PRIMARY
    if capable:
        ranked = _rank_with_latency_class(policy, capable, notes)
    elif over_budget_capable:
        if policy.on_exceeded == OnBudgetExceeded.REJECT:
            raise BudgetExceededError(
                f"no tier of policy {policy.alias!r} can do {facts.task.value} within its budget "
                f"(maxCostPerRequest or dailyLimit); the policy rejects over-budget requests"
            )
        notes.append(Note.BUDGET_DOWNGRADE)
        ranked = _downgrade_order(usable)
        role = Role.BUDGET_DOWNGRADE
    else:
        ranked = []
        if usable:
            notes.append(Note.NO_CAPABLE_TIER)
    ranked_first = ranked[0].tier.name if ranked and role == Role.PRIMARY else None

    order = _apply_chain(policy, ranked, capable, skipped) if role == Role.PRIMARY else ranked
    steps = _healthy_steps(policy, order, role, health, now, skipped)
    steps = _end_with_local(policy, steps, usable, capable, health, now, facts.task)
    if not steps:
        if over_budget_capable and not usable:
            raise BudgetExceededError(
                f"no tier of policy {policy.alias!r} fits its budget for this request; try a smaller max_tokens"
            )
        detail = "; ".join(f"{s.tier}: {s.reason.value} ({s.detail})" for s in skipped) or "the policy has no tiers"
        missing = f"; missing tiers: {', '.join(policy.missing_tiers)}" if policy.missing_tiers else ""
        raise NoTierAvailableError(f"no tier of policy {policy.alias!r} can take this request: {detail}{missing}")
    return Plan(policy, facts, tuple(steps), tuple(skipped), tuple(notes), ranked_first)


def _fits_context(tier: TierView, facts: RequestFacts) -> bool:
    limit = tier.max_context_tokens
    return limit is None or facts.prompt_tokens + (facts.max_tokens or 0) <= limit


def _missing_features(tier: TierView, facts: RequestFacts) -> set[str]:
    missing = {f.value for f in facts.features if f not in tier.features}
    # Streaming is only checked for tiers that declare features at all: most servers stream.
    if facts.stream and tier.declares_features and Feature.STREAMING not in tier.features:
        missing.add(Feature.STREAMING.value)
    return missing


def _over_budget(cost: int, max_cost: int | None, daily_left: int | None) -> SkipReason | None:
    if max_cost is not None and cost > max_cost:
        return SkipReason.OVER_REQUEST_BUDGET
    if daily_left is not None and cost > daily_left:
        return SkipReason.OVER_DAILY_BUDGET
    return None


def _rank_with_latency_class(policy: PolicyView, capable: list[_Candidate], notes: list[Note]) -> list[_Candidate]:
    inside = [c for c in capable if c.in_class]
    outside = [c for c in capable if not c.in_class]
    if not inside:
        notes.append(Note.LATENCY_CLASS_RELAXED)
        return sorted(outside, key=lambda c: (c.expected_ms, c.cost, c.tier.name))
    return rank(policy, inside) + rank(policy, outside)


def rank(policy: PolicyView, candidates: Sequence[_Candidate]) -> list[_Candidate]:
    """Order candidates by the policy's strategy (ties: cheaper, then name)."""
    strategy = policy.strategy
    if strategy == Strategy.CAPABILITY:
        return sorted(candidates, key=lambda c: (c.tier.billions, c.cost, c.tier.name))
    if strategy == Strategy.COST:
        return sorted(candidates, key=lambda c: (c.cost, c.tier.billions, c.tier.name))
    if strategy == Strategy.LATENCY:
        return sorted(candidates, key=lambda c: (c.expected_ms, c.cost, c.tier.name))
    return _rank_hybrid(policy.weights, candidates)


def _rank_hybrid(weights: tuple[int, int, int], candidates: Sequence[_Candidate]) -> list[_Candidate]:
    scores = hybrid_scores(weights, [(c.tier.billions, c.cost, c.expected_ms) for c in candidates])
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].cost, candidates[i].tier.name))
    return [candidates[i] for i in order]


def hybrid_scores(weights: tuple[int, int, int], tiers: Sequence[tuple[float, int, float]]) -> list[float]:
    """Hybrid scores in [0, 1] for (billions, cost, expected ms) triples (for explain output)."""
    if not tiers:
        return []
    sizes = _lower_is_better([math.log(max(b, 0.001)) for b, _, _ in tiers])
    costs = _lower_is_better([float(c) for _, c, _ in tiers])
    latencies = _lower_is_better([m for _, _, m in tiers])
    total = sum(weights) or 1
    return [
        (weights[0] * sizes[i] + weights[1] * costs[i] + weights[2] * latencies[i]) / total for i in range(len(tiers))
    ]


def _lower_is_better(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return [1.0] * len(values)
    return [1.0 - (v - low) / (high - low) for v in values]


def _downgrade_order(usable: list[_Candidate]) -> list[_Candidate]:
    """Cheapest tiers that fit; Local ones only, when there are any."""
    local = [c for c in usable if c.tier.is_local]
    pool = local or usable
    return sorted(pool, key=lambda c: (c.cost, c.tier.billions, c.tier.name))


def _apply_chain(
    policy: PolicyView, ranked: list[_Candidate], capable: list[_Candidate], skipped: list[Skip]
) -> list[_Candidate]:
    """The strategy's order, or the primary then `fallback.chain` when the policy gives one."""
    if not policy.chain or not ranked:
        return ranked
    by_key = {c.tier.key: c for c in capable}
    order = [ranked[0]]
    for tier in policy.chain:
        candidate = by_key.get(tier.key)
        if candidate is not None and candidate is not ranked[0]:
            order.append(candidate)
    in_order = {c.tier.key for c in order}
    for candidate in ranked:
        if candidate.tier.key not in in_order:
            skipped.append(Skip(candidate.tier.name, SkipReason.NOT_IN_CHAIN, "fallback.chain sets the order"))
    return order


def _healthy_steps(
    policy: PolicyView,
    order: list[_Candidate],
    role: Role,
    health: HealthView,
    now: float,
    skipped: list[Skip],
) -> list[Step]:
    steps: list[Step] = []
    for candidate in order:
        blocked = health.blocked(candidate.tier.key, now)
        if blocked is not None:
            skipped.append(Skip(candidate.tier.name, SkipReason(blocked.value), "skipped by live health"))
            continue
        if len(steps) >= policy.max_attempts:
            skipped.append(Skip(candidate.tier.name, SkipReason.ATTEMPT_CAP, f"maxAttempts is {policy.max_attempts}"))
            continue
        step_role = role if role == Role.BUDGET_DOWNGRADE else (Role.PRIMARY if not steps else Role.FALLBACK)
        steps.append(Step(candidate.tier, step_role, candidate.cost, candidate.expected_ms))
    return steps


def _end_with_local(
    policy: PolicyView,
    steps: list[Step],
    usable: list[_Candidate],
    capable: list[_Candidate],
    health: HealthView,
    now: float,
    task: Task,
) -> list[Step]:
    """Make the plan end with a healthy Local tier when the policy has one.

    A Local fallback already planned moves to the end (the cap holds); otherwise the best
    unplanned Local tier is appended (the cap grows by one). When the only Local tier is the
    primary, it has been tried first and the plan is left as it is.
    """
    if not policy.require_local_last or (steps and steps[-1].tier.is_local):
        return steps
    local_fallbacks = [i for i, s in enumerate(steps) if i > 0 and s.tier.is_local]
    if local_fallbacks:
        index = local_fallbacks[-1]
        return steps[:index] + steps[index + 1 :] + [steps[index]]
    planned = {s.tier.key for s in steps}
    capable_keys = {c.tier.key for c in capable}
    locals_ = [
        c for c in usable if c.tier.is_local and c.tier.key not in planned and health.blocked(c.tier.key, now) is None
    ]
    if not locals_:
        return steps
    # A capable Local tier first; otherwise the largest, the likeliest to cope.
    best = min(locals_, key=lambda c: (c.tier.key not in capable_keys, -c.tier.billions, c.cost, c.tier.name))
    detail = "" if best.tier.key in capable_keys else f"not listed for {task.value}; last resort"
    return [*steps, Step(best.tier, Role.LOCAL_LAST_RESORT, best.cost, best.expected_ms, detail)]
