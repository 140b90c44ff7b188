"""What a routing decision and each upstream attempt leave behind: spans and metrics.

Kept apart from the attempt loop so `dispatch.py` reads as the loop it is. Span and
attribute names follow docs/observability.md; GenAI attributes follow OpenTelemetry's
semantic conventions. No attribute ever holds a credential or prompt text (content capture,
opt-in, is the server span's: `server/api/content.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from tiergate_gateway.core.decision import Decision
from tiergate_gateway.core.health_view import BlockReason, CircuitState
from tiergate_gateway.core.routing import Step
from tiergate_gateway.core.views import FEMTO_PER_USD, TierView
from tiergate_gateway.telemetry import metrics
from tiergate_gateway.telemetry.tracing import tracer

log = logging.getLogger(__name__)

_OPERATIONS = {"chat": "chat", "completions": "text_completion"}


def record_decision(span: Span, decision: Decision) -> None:
    """Annotate the `tiergate.route` span with the decision and count the classifier's call."""
    plan = decision.plan
    metrics.child(metrics.CLASSIFIER, plan.facts.task.value, decision.task_source).inc()
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {
        "tiergate.policy": "" if decision.direct else plan.policy.name,
        "tiergate.strategy": "" if decision.direct else plan.policy.strategy.value,
        "tiergate.task": plan.facts.task.value,
        "tiergate.task.source": decision.task_source,
        "tiergate.latency_class": plan.facts.latency_class.value,
        "tiergate.candidates": [t.name for t in plan.policy.all_tiers],
        "tiergate.plan": [s.tier.name for s in plan.steps],
        "tiergate.tier.chosen": plan.steps[0].tier.name,
        "tiergate.notes": [n.value for n in plan.notes],
        "tiergate.estimate.prompt_tokens": plan.facts.prompt_tokens,
    }
    if decision.external is not None:
        attributes["tiergate.classifier.external.outcome"] = decision.external.outcome.value
    if decision.classification is not None:
        attributes["tiergate.classifier.confidence"] = decision.classification.confidence
        attributes["tiergate.classifier.cues"] = list(decision.classification.cues)
    span.set_attributes(attributes)
    for skip in plan.skipped:
        span.add_event(
            "tier.skipped",
            {"tiergate.tier": skip.tier, "tiergate.reason": skip.reason.value, "tiergate.detail": skip.detail},
        )


def end_route_with_error(span: Span, exc: BaseException) -> None:
    """End the `tiergate.route` span of a decision that failed (as start_as_current_span would)."""
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.end()


def start_attempt(decision: Decision, step: Step, number: int, endpoint: str, stream: bool) -> Span:
    """A `tiergate.attempt` span (ended by `end_attempt`, after a stream's last byte for streams)."""
    span = tracer().start_span("tiergate.attempt", kind=trace.SpanKind.CLIENT)
    if span.is_recording():
        tier = step.tier
        span.set_attributes(
            {
                "tiergate.tier": tier.name,
                "tiergate.locality": tier.locality.value,
                "tiergate.attempt": number,
                "tiergate.role": step.role.value,
                "tiergate.stream": stream,
                "gen_ai.operation.name": _OPERATIONS.get(endpoint, endpoint),
                "gen_ai.request.model": tier.model,
                "gen_ai.system": "openai",
            }
        )
    metrics.child(metrics.IN_FLIGHT, step.tier.name).inc()
    return span


def end_attempt(
    span: Span,
    tier: TierView,
    result: str,
    *,
    status: int | None = None,
    error_type: str | None = None,
    ttft_ms: float | None = None,
) -> None:
    """Close an attempt: outcome on the span, counters and the in-flight gauge."""
    metrics.child(metrics.ATTEMPTS, tier.name, result).inc()
    metrics.child(metrics.IN_FLIGHT, tier.name).dec()
    if ttft_ms is not None:
        metrics.child(metrics.TTFT_SECONDS, tier.name).observe(ttft_ms / 1000)
    if span.is_recording():
        span.set_attribute("tiergate.outcome", result)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if ttft_ms is not None:
            span.set_attribute("tiergate.ttft_ms", round(ttft_ms, 3))
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
    span.end()


def record_usage(
    span: Span,
    decision: Decision,
    step: Step,
    usage: tuple[int, int] | None,
    cost: int,
    response_model: str | None = None,
) -> None:
    """Tokens and cost of an answer, on the attempt span and in the counters."""
    tier = step.tier
    if usage is not None:
        metrics.child(metrics.TOKENS, tier.name, "input").inc(usage[0])
        metrics.child(metrics.TOKENS, tier.name, "output").inc(usage[1])
    if cost:
        metrics.child(metrics.COST, "" if decision.direct else decision.plan.policy.name, tier.name).inc(
            cost / FEMTO_PER_USD
        )
    if span.is_recording():
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage[0])
            span.set_attribute("gen_ai.usage.output_tokens", usage[1])
        if response_model:
            span.set_attribute("gen_ai.response.model", response_model)
        span.set_attribute("tiergate.cost_usd", cost / FEMTO_PER_USD)


def record_fallbacks(reasons: list[str], answered_by: str | None) -> None:
    """One count per tier that was passed over or failed on the way to the answering tier."""
    for item in reasons:
        tier, sep, reason = item.partition("=")
        if sep:
            metrics.child(metrics.FALLBACKS, tier, answered_by or "none", reason).inc()


def record_demand(tier: TierView, state: BlockReason | None) -> None:
    """A request routing ranked first on an autoscaled tier, by the tier's state then."""
    metrics.child(metrics.TIER_DEMAND, tier.name, tier.namespace, state.value if state is not None else "Ready").inc()


def record_circuit(tier: TierView, state: CircuitState) -> None:
    """The circuit gauge after a transition."""
    metrics.child(metrics.CIRCUIT, tier.name).set(metrics.CIRCUIT_VALUES[state.value])


def record_budget(policy_name: str, spent: int, limit: int | None) -> None:
    """Spend and remaining budget gauges of a policy."""
    metrics.child(metrics.BUDGET_SPENT, policy_name).set(spent / FEMTO_PER_USD)
    if limit is not None:
        metrics.child(metrics.BUDGET_REMAINING, policy_name).set(max(0, limit - spent) / FEMTO_PER_USD)


def record_replica(tier: str, url: str, result: str, ejected: bool) -> None:
    """One attempt on one replica of a tier, and whether it took the replica out of rotation."""
    label = metrics.REPLICA_LABELS.of(tier, url)
    metrics.child(metrics.REPLICA_ATTEMPTS, tier, label, result).inc()
    if ejected:
        metrics.child(metrics.REPLICA_EJECTIONS, tier, label).inc()
        log.warning("replica %s of tier %s is out of rotation after consecutive failures", label, tier)


def record_replica_retry(tier: str) -> None:
    """An attempt moved to another replica of the same tier."""
    metrics.child(metrics.REPLICA_RETRIES, tier).inc()
