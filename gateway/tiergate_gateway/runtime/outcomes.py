"""What finished requests leave behind for people: the recent decisions, today's saving, the decision log.

The status page (`/ui`) reads the last few hundred decisions and each policy's books for the
UTC day (answers, their cost, and what the same answers would have cost on the policy's
baseline tier, `core/baseline.py`); `tiergate_baseline_cost_usd_total` carries the same saving
to Prometheus; the decision log (opt-in) gets one line per request in replay's format.

The books are this worker's (with several workers, each keeps its own; Prometheus sums them).
Per request this costs a deque append and two dict updates: it is on the hot path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from tiergate_api.constants import HEADER_LATENCY_CLASS
from tiergate_gateway.core.baseline import policy_baseline
from tiergate_gateway.core.decision import Decision
from tiergate_gateway.core.protocol import ParsedRequest
from tiergate_gateway.core.views import FEMTO_PER_USD, PolicyView, TierView
from tiergate_gateway.telemetry import metrics
from tiergate_gateway.telemetry.accesslog import AccessEntry
from tiergate_gateway.telemetry.decisionlog import DecisionLog

RECENT: Final = 300
_DAY: Final = 86_400


class Finished(NamedTuple):
    """One finished request, as the status page lists it: when, how long, and its access-log entry
    (complete by then; kept as it is rather than copied, since this runs for every request)."""

    at: float
    latency_ms: float
    entry: AccessEntry


@dataclass(slots=True)
class PolicyDay:
    """A policy's answers today and what they cost, against its baseline."""

    requests: int = 0
    cost: int = 0
    baseline: int = 0
    """femto-USD the same answers would have cost on the baseline tier."""


class Outcomes:
    """The recent decisions, the day's books per policy, and the decision log."""

    def __init__(
        self,
        *,
        recent: int = RECENT,
        decision_log: DecisionLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recent: deque[Finished] = deque(maxlen=recent)
        self.decision_log = decision_log
        self.clock = clock
        self._day = -1
        self._books: dict[str, PolicyDay] = {}
        self._baselines: dict[str, tuple[PolicyView, TierView | None]] = {}

    def books(self, policy_key: str, now: float) -> PolicyDay:
        """The policy's books for today (empty after midnight UTC)."""
        self._roll(now)
        return self._books.get(policy_key) or PolicyDay()

    def baseline_of(self, policy: PolicyView) -> TierView | None:
        """The policy's baseline tier (worked out once per policy version)."""
        known = self._baselines.get(policy.key)
        if known is None or known[0] is not policy:
            known = self._baselines[policy.key] = (policy, policy_baseline(policy))
        return known[1]

    def finished(
        self,
        entry: AccessEntry,
        decision: Decision | None,
        parsed: ParsedRequest | None,
        headers: Mapping[str, str],
        billed: tuple[int, int] | None,
        usage: tuple[int, int] | None,
        latency_ms: float,
    ) -> None:
        """Book a request that was routed (a decision was made), whatever its outcome."""
        now = self.clock()
        self.recent.append(Finished(now, latency_ms, entry))
        if decision is None:
            return
        baseline_tier = None if decision.direct else self.baseline_of(decision.plan.policy)
        baseline_cost = None
        answered = entry.status < 400 and billed is not None
        if baseline_tier is not None and answered:
            assert billed is not None
            baseline_cost = baseline_tier.estimated_cost(*billed)
            self._roll(now)
            key = decision.plan.policy.key
            books = self._books.get(key)
            if books is None:
                books = self._books[key] = PolicyDay()
            books.requests += 1
            books.cost += entry.cost_femto or 0
            books.baseline += baseline_cost
            metrics.child(metrics.BASELINE_COST, decision.plan.policy.name).inc(baseline_cost / FEMTO_PER_USD)
        if self.decision_log is not None and parsed is not None:
            self.decision_log.record(
                decision_line(
                    now,
                    entry,
                    decision,
                    parsed,
                    headers,
                    baseline_tier,
                    baseline_cost,
                    usage,
                    latency_ms,
                    content=self.decision_log.capture_content,
                )
            )

    def _roll(self, now: float) -> None:
        day = int(now // _DAY)
        if day != self._day:
            self._day = day
            self._books = {}


def decision_line(
    now: float,
    entry: AccessEntry,
    decision: Decision,
    parsed: ParsedRequest,
    headers: Mapping[str, str],
    baseline_tier: TierView | None,
    baseline_cost: int | None,
    usage: tuple[int, int] | None,
    latency_ms: float,
    *,
    content: bool,
) -> dict[str, Any]:
    """One line of the decision log (the wrapper format `tiergate replay` reads)."""
    facts = decision.plan.facts
    policy = decision.plan.policy
    if content:
        request: dict[str, Any] = parsed.body
    else:
        request = {"model": parsed.model, "stream": parsed.stream}
        if parsed.max_tokens is not None:
            request["max_tokens"] = parsed.max_tokens
    routing_headers = {
        name: headers[name] for name in (policy.classifier_header, HEADER_LATENCY_CLASS) if headers.get(name)
    }
    line: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": entry.request_id,
        "request": request,
        "shape": {
            "endpoint": parsed.endpoint,
            "task": facts.task.value,
            "task_source": decision.task_source,
            "latency_class": facts.latency_class.value,
            "prompt_tokens": facts.prompt_tokens,
            "features": sorted(f.value for f in facts.features),
        },
        "decision": {
            "policy": entry.policy,
            "tier": entry.tier if entry.status < 400 else "",
            "status": entry.status,
            "attempts": entry.attempts,
            "fallback_reason": entry.fallback,
            "error_code": entry.error_code,
            "cost_usd": None if entry.cost_femto is None else entry.cost_femto / FEMTO_PER_USD,
            "baseline_tier": baseline_tier.name if baseline_tier is not None else None,
            "baseline_cost_usd": None if baseline_cost is None else baseline_cost / FEMTO_PER_USD,
        },
        "latency_ms": round(latency_ms, 3),
    }
    if routing_headers:
        line["headers"] = routing_headers
    if usage is not None:
        line["response"] = {"usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}
    if entry.tenant:
        line["tenant"] = entry.tenant
    return line
