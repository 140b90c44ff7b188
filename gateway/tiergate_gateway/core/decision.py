"""The routing decision for one request: policy, task, latency class and attempt plan.

Shared by the completion endpoints, `/v1/route/explain` and `tiergate explain`. Pure apart
from reading live health and today's spend, which it is handed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tiergate_api.constants import HEADER_LATENCY_CLASS, HEADER_TASK
from tiergate_api.enums import ClassifierMode, LatencyClass, LowConfidenceAction, OnBudgetExceeded, Strategy, Task
from tiergate_api.tasks import loose_name, task_named
from tiergate_gateway.core.classify import Classification, classify_messages, classify_prompt
from tiergate_gateway.core.difficulty import Difficulty, estimate
from tiergate_gateway.core.errors import InvalidRequestError, ModelNotFoundError
from tiergate_gateway.core.external_verdict import ExternalVerdict
from tiergate_gateway.core.health_view import HealthView
from tiergate_gateway.core.protocol import ParsedRequest
from tiergate_gateway.core.registry import Snapshot
from tiergate_gateway.core.routing import Plan, RequestFacts, plan_request
from tiergate_gateway.core.views import PolicyView, TierView, with_index


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything decided before the first upstream byte."""

    plan: Plan
    task_source: str
    """header, external (the policy's classifier service), classifier (built-in), default, or
    low_confidence_default (unsure, routed as the policy's defaultTask)."""
    classification: Classification | None
    direct: bool
    """The request named a tier, bypassing routing."""
    difficulty: Difficulty | None = None
    """How hard the request is within its task, when the policy routes hard requests up."""
    external: ExternalVerdict | None = None
    """What the policy's external classifier said, when it was asked (or why it was not)."""


_LATENCY_CLASSES = {loose_name(c.value): c for c in LatencyClass}


def parse_task(value: str, header: str) -> Task:
    """A task from a header value (case and separators ignored)."""
    found = task_named(value)
    if found is None:
        raise InvalidRequestError(
            f"unknown task {value!r} in header {header}; use one of: {', '.join(t.value for t in Task)}", param=header
        )
    return found


def parse_latency_class(value: str) -> LatencyClass:
    """A latency class from the request header."""
    found = _LATENCY_CLASSES.get(loose_name(value))
    if found is None:
        raise InvalidRequestError(
            f"unknown latency class {value!r} in header {HEADER_LATENCY_CLASS}; "
            f"use one of: {', '.join(c.value for c in LatencyClass)}",
            param=HEADER_LATENCY_CLASS,
        )
    return found


def _direct_policy(tier: TierView) -> PolicyView:
    """A one-tier policy for requests that name a tier instead of an alias."""
    indexed = with_index(
        PolicyView(
            key=f"{tier.namespace}/{tier.name}",
            name=tier.name,
            namespace=tier.namespace,
            alias=tier.name,
            strategy=Strategy.CAPABILITY,
            weights=(1, 0, 0),
            tiers=(tier,),
            chain=None,
            missing_tiers=(),
            default_latency_class=LatencyClass.BATCH,
            max_cost_femto=None,
            daily_limit_femto=None,
            on_exceeded=OnBudgetExceeded.DOWNGRADE,
            retry_on=frozenset(),
            max_attempts=1,
            attempt_timeout_seconds=tier.timeout_seconds,
            require_local_last=False,
            request_timeout_seconds=None,
            classifier_header=HEADER_TASK,
            classifier_mode=ClassifierMode.AUTO,
            direct=True,
        )
    )
    # Naming a tier bypasses routing, capability included: the caller chose it.
    return dataclasses.replace(indexed, capable={task: (tier,) for task in Task})


class SpendView(Protocol):
    """Where today's spend per policy is read from (local books or shared state)."""

    def spent_today(self, policy_key: str, now: float) -> int: ...


def resolve_policy(snapshot: Snapshot, model: str) -> tuple[PolicyView, bool]:
    """The policy a request's model names, and whether it named a tier directly (a one-tier stand-in)."""
    policy = snapshot.policies.get(model)
    if policy is not None:
        return policy, False
    tier = snapshot.tiers_by_name.get(model)
    if tier is None:
        known = sorted(snapshot.policies) + sorted(n for n in snapshot.tiers_by_name if "/" not in n)
        raise ModelNotFoundError(
            f"model {model!r} is neither a policy alias nor a tier; available: {', '.join(known) or 'none'}",
            param="model",
        )
    return _direct_policy(tier), True


def asks_external(policy: PolicyView, headers: Mapping[str, str]) -> bool:
    """Whether this request's task is the external classifier's to decide (no header names it)."""
    return (
        policy.external_classifier is not None
        and policy.classifier_mode == ClassifierMode.AUTO
        and not headers.get(policy.classifier_header)
    )


def decide(
    snapshot: Snapshot,
    parsed: ParsedRequest,
    headers: Mapping[str, str],
    health: HealthView,
    spend: SpendView,
    now: float,
    external: ExternalVerdict | None = None,
) -> Decision:
    """Pick the policy, the task and the latency class, and build the plan.

    `external` is what the policy's classifier service answered (the caller asks it: this stays pure);
    when it failed, or was not asked, the built-in classifier decides."""
    policy, direct = resolve_policy(snapshot, parsed.model)
    task, source, classification = _task(policy, parsed, headers, external)
    task, source, route_up = when_unsure(policy, task, source, classification)
    difficulty = None
    if policy.route_hard_up:
        messages = parsed.messages if parsed.endpoint == "chat" else [{"role": "user", "content": parsed.prompt_text}]
        difficulty = estimate(messages)
    latency_header = headers.get(HEADER_LATENCY_CLASS)
    latency_class = parse_latency_class(latency_header) if latency_header else policy.default_latency_class
    facts = RequestFacts(
        task=task,
        latency_class=latency_class,
        prompt_tokens=parsed.prompt_tokens,
        max_tokens=parsed.max_tokens,
        features=parsed.features,
        stream=parsed.stream,
        route_up=route_up,
        hard=difficulty is not None and difficulty.hard,
    )
    plan = plan_request(policy, facts, health, spent_today=spend.spent_today(policy.key, now), now=now)
    return Decision(plan, source, classification, direct, difficulty, external)


def when_unsure(
    policy: PolicyView, task: Task, source: str, classification: Classification | None
) -> tuple[Task, str, bool]:
    """The policy's `lowConfidence` applied to a classification: (task, its source, route up)."""
    unsure = policy.low_confidence
    if classification is None or unsure is None or classification.confidence * 100 >= unsure.below_percent:
        return task, source, False
    if unsure.action == LowConfidenceAction.DEFAULT_TASK:
        return unsure.default_task, "low_confidence_default", False
    return task, source, True


def _task(
    policy: PolicyView, parsed: ParsedRequest, headers: Mapping[str, str], external: ExternalVerdict | None
) -> tuple[Task, str, Classification | None]:
    explicit = headers.get(policy.classifier_header)
    if explicit:
        return parse_task(explicit, policy.classifier_header), "header", None
    if policy.classifier_mode == ClassifierMode.HEADER_ONLY:
        return Task.CHAT, "default", None
    if external is not None and external.task is not None:
        if external.confidence is None:  # nothing to be unsure of: lowConfidence leaves it alone
            return external.task, "external", None
        return external.task, "external", Classification(external.task, external.confidence, ())
    classification = (
        classify_messages(parsed.messages) if parsed.endpoint == "chat" else classify_prompt(parsed.prompt_text)
    )
    return classification.task, "classifier", classification
