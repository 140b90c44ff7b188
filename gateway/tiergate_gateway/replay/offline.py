"""Replaying requests offline: TierGate's own classifier and planner, every tier healthy, no upstream.

For each request and each scenario (a policy, or "everything on one tier") this decides what
would have answered and estimates what it would have cost and how long it would have taken:
- the planner runs as in the gateway, with every tier healthy and warm and each policy's
  `dailyLimit` counted against the replayed spend of its UTC day (timestamps give the day);
- cost uses the logged usage when the line has it, else the gateway's own estimate (prompt
  text / 4 plus 4 a message, and `max_tokens` or 256 output tokens);
- time to first token is the tier's `latency.ttftMilliseconds` prior, and latency adds the
  output tokens at its `tokensPerSecond`: the figures routing itself plans with.
Counting is exact and integer (femto-USD), so known logs give known totals.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from tiergate_api.constants import HEADER_LATENCY_CLASS, HEADER_TASK
from tiergate_api.enums import ClassifierMode, Feature, Task
from tiergate_gateway.core.decision import parse_latency_class, parse_task, when_unsure
from tiergate_gateway.core.errors import GatewayError
from tiergate_gateway.core.registry import Snapshot
from tiergate_gateway.core.routing import Note, RequestFacts, plan_request
from tiergate_gateway.core.views import PolicyView, TierView, with_index
from tiergate_gateway.replay.lines import BadKind, BadLine, LoggedRequest
from tiergate_gateway.runtime.health import HealthBook

DAY_SECONDS: Final = 86_400
HOUR_SECONDS: Final = 3_600
MAX_LISTED_BAD_LINES: Final = 1_000


@dataclass(slots=True)
class Tally:
    """One scenario's running totals."""

    name: str
    kind: str
    """policy or single."""
    strategy: str | None
    tier: TierView | None = None
    """The tier of a single-tier scenario."""
    policy: PolicyView | None = None
    requests: int = 0
    served: int = 0
    no_capable_tier: int = 0
    rejected: int = 0
    downgraded: int = 0
    relaxed: int = 0
    cost: int = 0
    """femto-USD."""
    both_cost: int = 0
    """This scenario's cost over the requests the baseline also serves."""
    both_baseline: int = 0
    """The baseline's cost over the requests this scenario also serves."""
    tiers: dict[str, list[int]] = field(default_factory=dict)
    """tier name -> [requests, femto-USD]."""
    by_task: dict[str, Counter[str]] = field(default_factory=dict)
    ttft_ms: Counter[int] = field(default_factory=Counter)
    latency_ms: Counter[int] = field(default_factory=Counter)
    hourly: Counter[int] = field(default_factory=Counter)
    """femto-USD per hour (Unix hour number) of requests with a timestamp."""

    def served_by(self, tier: TierView, cost: int, task: Task, output_tokens: int, at: float | None) -> None:
        """Book one answered request."""
        self.served += 1
        self.cost += cost
        booked = self.tiers.get(tier.name)
        if booked is None:
            booked = self.tiers[tier.name] = [0, 0]
        booked[0] += 1
        booked[1] += cost
        tasks = self.by_task.get(task.value)
        if tasks is None:
            tasks = self.by_task[task.value] = Counter()
        tasks[tier.name] += 1
        self.ttft_ms[round(tier.ttft_ms)] += 1
        self.latency_ms[round(tier.ttft_ms + 1000.0 * output_tokens / tier.tokens_per_second)] += 1
        if at is not None:
            self.hourly[int(at // HOUR_SECONDS)] += cost


@dataclass(slots=True)
class Totals:
    """What was read, apart from the scenarios."""

    lines: int = 0
    replayed: int = 0
    with_usage: int = 0
    with_timestamp: int = 0
    without_content: int = 0
    first: float | None = None
    last: float | None = None
    tasks: Counter[str] = field(default_factory=Counter)
    bad_kinds: Counter[str] = field(default_factory=Counter)
    bad_listed: list[BadLine] = field(default_factory=list)

    @property
    def bad_lines(self) -> int:
        """Bad lines and unreadable files."""
        return sum(self.bad_kinds.values())


def what_if(snapshot: Snapshot) -> Snapshot:
    """The snapshot with every tier available: a replay asks what routing would do, not whether a
    Secret is mounted here or the operator has published an endpoint yet."""
    tiers = {key: dataclasses.replace(tier, problem=None) for key, tier in snapshot.tiers.items()}

    def fresh(found: Iterable[TierView]) -> tuple[TierView, ...]:
        return tuple(tiers[t.key] for t in found)

    policies = {
        alias: with_index(
            dataclasses.replace(
                policy, tiers=fresh(policy.tiers), chain=None if policy.chain is None else fresh(policy.chain)
            )
        )
        for alias, policy in snapshot.policies.items()
    }
    by_name = {name: tiers[tier.key] for name, tier in snapshot.tiers_by_name.items()}
    return dataclasses.replace(snapshot, tiers=tiers, policies=policies, tiers_by_name=by_name)


def can_serve(tier: TierView, task: Task, request: LoggedRequest) -> bool:
    """Whether one tier alone can take the request: the planner's fit rules (task, context, features)."""
    if task not in tier.tasks:
        return False
    limit = tier.max_context_tokens
    if limit is not None and request.prompt_tokens + (request.max_tokens or 0) > limit:
        return False
    if request.features and not request.features <= tier.features:
        return False
    return not (request.stream and tier.declares_features and Feature.STREAMING not in tier.features)


class OfflineReplay:
    """Feeds requests through every scenario; `totals` and `scenarios` hold the results."""

    def __init__(self, policies: Sequence[PolicyView], singles: Sequence[TierView], baseline: TierView | None) -> None:
        self.health = HealthBook()  # never fed: every tier healthy, latency from its priors
        self.baseline = baseline
        self.totals = Totals()
        self.policies = [Tally(p.alias, "policy", p.strategy.value, policy=p) for p in policies]
        self.singles = [Tally(t.name, "single", None, tier=t) for t in singles]
        self._spent: dict[tuple[str, int], int] = {}

    @property
    def scenarios(self) -> list[Tally]:
        """Policies first, then single tiers."""
        return self.policies + self.singles

    def bad(self, line: BadLine) -> None:
        """Count a line that could not be replayed."""
        totals = self.totals
        if line.kind != BadKind.UNREADABLE_FILE:
            totals.lines += 1
        totals.bad_kinds[line.kind.value] += 1
        if len(totals.bad_listed) < MAX_LISTED_BAD_LINES:
            totals.bad_listed.append(line)

    def add(self, request: LoggedRequest) -> None:
        """Replay one request through every scenario."""
        totals = self.totals
        totals.lines += 1
        totals.replayed += 1
        at = request.timestamp
        if at is not None:
            totals.with_timestamp += 1
            totals.first = at if totals.first is None else min(totals.first, at)
            totals.last = at if totals.last is None else max(totals.last, at)
        if request.usage is not None:
            totals.with_usage += 1
        if request.parsed is None:
            totals.without_content += 1
        task = self._task(request, HEADER_TASK, ClassifierMode.AUTO)
        totals.tasks[task.value] += 1
        prompt, output = request.billed_tokens
        baseline = self.baseline
        baseline_cost = None
        if baseline is not None and can_serve(baseline, task, request):
            baseline_cost = baseline.estimated_cost(prompt, output)
        for tally in self.singles:
            tier = tally.tier
            assert tier is not None
            tally.requests += 1
            if not can_serve(tier, task, request):
                tally.no_capable_tier += 1
                tally.rejected += 1
                continue
            cost = tier.estimated_cost(prompt, output)
            tally.served_by(tier, cost, task, output, at)
            if baseline_cost is not None:
                tally.both_cost += cost
                tally.both_baseline += baseline_cost
        for tally in self.policies:
            self._route(tally, request, baseline_cost, prompt, output)

    def _route(self, tally: Tally, request: LoggedRequest, baseline_cost: int | None, prompt: int, output: int) -> None:
        policy = tally.policy
        assert policy is not None
        tally.requests += 1
        at = request.timestamp
        day = (policy.key, int(at // DAY_SECONDS) if at is not None else 0)
        task: Task | None = None
        try:
            task = self._task(request, policy.classifier_header, policy.classifier_mode)
            route_up = False
            auto = policy.classifier_mode == ClassifierMode.AUTO
            if policy.low_confidence is not None and auto and not request.headers.get(policy.classifier_header.lower()):
                task, _, route_up = when_unsure(policy, task, "classifier", request.classification())
            header = request.headers.get(HEADER_LATENCY_CLASS)
            latency_class = parse_latency_class(header) if header else policy.default_latency_class
            facts = RequestFacts(
                task,
                latency_class,
                request.prompt_tokens,
                request.max_tokens,
                request.features,
                request.stream,
                route_up=route_up,
            )
            plan = plan_request(
                policy, facts, self.health, spent_today=self._spent.get(day, 0), now=at if at is not None else 0.0
            )
        except GatewayError:  # a budget Reject, a context or a feature no tier has
            tally.rejected += 1
            if task is not None and not any(task in t.tasks for t in policy.tiers):
                tally.no_capable_tier += 1
            return
        notes = plan.notes
        if notes:
            if Note.NO_CAPABLE_TIER in notes:
                tally.no_capable_tier += 1
            if Note.BUDGET_DOWNGRADE in notes:
                tally.downgraded += 1
            if Note.LATENCY_CLASS_RELAXED in notes:
                tally.relaxed += 1
        tier = plan.steps[0].tier
        cost = tier.estimated_cost(prompt, output)
        if policy.daily_limit_femto is not None:
            self._spent[day] = self._spent.get(day, 0) + cost
        tally.served_by(tier, cost, task, output, at)
        if baseline_cost is not None:
            tally.both_cost += cost
            tally.both_baseline += baseline_cost

    @staticmethod
    def _task(request: LoggedRequest, header: str, mode: ClassifierMode) -> Task:
        explicit = request.headers.get(header.lower())
        if explicit:
            return parse_task(explicit, header)
        if request.parsed is None:
            return request.logged_task or Task.CHAT
        if mode == ClassifierMode.HEADER_ONLY:
            return Task.CHAT
        return request.classified_task()
