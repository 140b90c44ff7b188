"""A routing decision as a JSON-ready document: what `/v1/route/explain` and `tiergate explain` show."""

from __future__ import annotations

from typing import Any

from tiergate_gateway.core.decision import Decision
from tiergate_gateway.core.views import femto_to_usd


def _usd(femto: int) -> str:
    return f"{femto_to_usd(femto):.9f}".rstrip("0").rstrip(".") or "0"


def explain_decision(decision: Decision) -> dict[str, Any]:
    """The plan, the skipped tiers and the reasons, without calling any model."""
    plan = decision.plan
    policy = plan.policy
    facts = plan.facts
    document: dict[str, Any] = {
        "policy": None if decision.direct else policy.name,
        "namespace": policy.namespace,
        "model_alias": None if decision.direct else policy.alias,
        "strategy": None if decision.direct else policy.strategy.value,
        "task": facts.task.value,
        "task_source": decision.task_source,
        "latency_class": facts.latency_class.value,
        "estimate": {"prompt_tokens": facts.prompt_tokens, "output_tokens": facts.output_tokens},
        "ranked_first": plan.ranked_first,
        "plan": [
            {
                "tier": step.tier.name,
                "role": step.role.value,
                "model": step.tier.model,
                "size_billions": step.tier.billions,
                "locality": step.tier.locality.value,
                "estimated_cost_usd": _usd(step.estimated_cost),
                "expected_latency_ms": round(step.expected_ms, 1),
                **({"detail": step.detail} if step.detail else {}),
            }
            for step in plan.steps
        ],
        "skipped": [{"tier": s.tier, "reason": s.reason.value, "detail": s.detail} for s in plan.skipped],
        "notes": [note.value for note in plan.notes],
    }
    if decision.difficulty is not None:
        document["difficulty"] = {"score": decision.difficulty.score, "hard": decision.difficulty.hard}
    if decision.external is not None:
        external = decision.external
        document["external_classifier"] = {
            "outcome": external.outcome.value,
            "latency_ms": round(external.latency_ms, 1),
            **({"task": external.task.value} if external.task is not None else {}),
            **({"confidence": external.confidence} if external.confidence is not None else {}),
            **({"detail": external.detail} if external.detail else {}),
        }
    if decision.classification is not None:
        document["classifier"] = {
            "confidence": round(decision.classification.confidence, 3),
            "cues": list(decision.classification.cues),
            "learned": dict(decision.classification.learned),
        }
    return document


def format_explanation(document: dict[str, Any]) -> str:
    """A terminal rendering of an explanation."""
    lines = [
        f"policy:   {document['policy'] or '(tier named directly)'}  strategy: {document['strategy'] or '-'}",
        f"task:     {document['task']} (from {document['task_source']})  latency class: {document['latency_class']}",
    ]
    if "external_classifier" in document:
        external = document["external_classifier"]
        said = external.get("task") or f"{external['outcome']}: {external.get('detail', '')}"
        lines.append(f"external: {said} ({external['latency_ms']} ms)")
    if "classifier" in document:
        cues = ", ".join(document["classifier"]["cues"]) or "none"
        lines.append(f"cues:     {cues} (confidence {document['classifier']['confidence']})")
        learned = document["classifier"].get("learned")
        if learned:
            lines.append("learned:  " + ", ".join(f"{task} {share:.0%}" for task, share in learned.items()))
    lines.append("plan:")
    for index, step in enumerate(document["plan"], 1):
        detail = f"  [{step['detail']}]" if "detail" in step else ""
        lines.append(
            f"  {index}. {step['tier']:<20} {step['role']:<16} {step['locality']:<7} "
            f"~${step['estimated_cost_usd']:<12} ~{step['expected_latency_ms']:.0f} ms{detail}"
        )
    if document["skipped"]:
        lines.append("skipped:")
        for skip in document["skipped"]:
            lines.append(f"  - {skip['tier']:<20} {skip['reason']:<18} {skip['detail']}")
    if document["notes"]:
        lines.append(f"notes:    {', '.join(document['notes'])}")
    return "\n".join(lines)
