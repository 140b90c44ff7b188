"""A policy says what to do when the classifier is unsure: route up one size, or use a default task."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from routing_fixtures import policy, snapshot, tier
from tiergate_api.resources import InvalidResourceError
from tiergate_gateway.core.decision import decide
from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.core.routing import Note
from tiergate_gateway.runtime.budget import SpendBook
from tiergate_gateway.runtime.health import HealthBook

PROMPT = "tell me about rome"  # Chat, and the classifier is fairly sure of it (about 85%)


def routed(low_confidence: dict[str, Any] | None) -> Any:
    document = policy(["small", "medium", "big"])
    if low_confidence is not None:
        document["spec"]["classifier"] = {"lowConfidence": low_confidence}
    shot = snapshot([tier("small", "1B"), tier("medium", "8B"), tier("big", "70B")], document)
    body = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": PROMPT}]})
    return decide(shot, parse_request(body, "chat"), {}, HealthBook(), SpendBook(), 0.0)


def test_without_the_setting_the_classifier_stands_however_unsure() -> None:
    decision = routed(None)
    assert decision.plan.steps[0].tier.name == "small"
    assert Note.LOW_CONFIDENCE_ROUTED_UP not in decision.plan.notes


def test_an_unsure_task_skips_the_smallest_size_as_primary_and_keeps_it_as_fallback() -> None:
    decision = routed({"belowPercent": 99, "action": "RouteUp"})
    assert decision.classification is not None and decision.classification.confidence < 0.99
    assert [s.tier.name for s in decision.plan.steps] == ["medium", "big", "small"]
    assert Note.LOW_CONFIDENCE_ROUTED_UP in decision.plan.notes
    assert decision.task_source == "classifier"


def test_a_sure_task_is_not_routed_up() -> None:
    decision = routed({"belowPercent": 1, "action": "RouteUp"})
    assert decision.plan.steps[0].tier.name == "small"


def test_default_task_replaces_an_unsure_task() -> None:
    decision = routed({"belowPercent": 99, "action": "DefaultTask", "defaultTask": "Reasoning"})
    assert decision.plan.facts.task.value == "Reasoning"
    assert decision.task_source == "low_confidence_default"
    assert decision.plan.steps[0].tier.name == "big"  # only 70B is in the Reasoning band


def test_a_header_task_is_never_second_guessed() -> None:
    document = policy(["small", "big"])
    document["spec"]["classifier"] = {"lowConfidence": {"belowPercent": 99, "action": "DefaultTask"}}
    shot = snapshot([tier("small", "1B"), tier("big", "70B")], document)
    body = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": PROMPT}]})
    decision = decide(
        shot, parse_request(body, "chat"), {"x-tiergate-task": "Summarization"}, HealthBook(), SpendBook(), 0.0
    )
    assert decision.plan.facts.task.value == "Summarization" and decision.task_source == "header"


@pytest.mark.parametrize("below", [0, 100])
def test_the_threshold_is_a_percentage_from_1_to_99(below: int) -> None:
    with pytest.raises(InvalidResourceError, match="belowPercent"):
        routed({"belowPercent": below})
