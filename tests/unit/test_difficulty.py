"""Difficulty within a task, measured on the corpus's easy/hard twins (corpus/difficulty-pairs.jsonl).

The hard threshold was chosen on the odd-numbered pairs; the even-numbered ones are the measurement.
Under a policy with tiers all along the size scale and `difficulty: RouteHardUp`, an easy prompt never
goes to a larger tier than its hard twin, and goes to a smaller one where the policy has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from routing_fixtures import snapshot, tier
from summary import SUMMARY_KEY
from tiergate_gateway.core.decision import decide
from tiergate_gateway.core.difficulty import estimate
from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.runtime.budget import SpendBook
from tiergate_gateway.runtime.health import HealthBook

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [json.loads(line) for line in (ROOT / "corpus" / "difficulty-pairs.jsonl").read_text().splitlines()]
BY_ID = {row["id"]: row for row in PAIRS}
TWINS = [(row, BY_ID[row["pair"]]) for row in PAIRS if row["difficulty"] == "easy"]
HELD_OUT = TWINS[1::2]
SIZES = {"t1": "1B", "t3": "3B", "t8": "8B", "t14": "14B", "t32": "32B", "t70": "70B", "t200": "200B"}
TASKS = ["Chat", "Classification", "Summarization", "Extraction", "CodeGeneration", "Reasoning", "CreativeWriting"]


def shot(difficulty: str) -> Any:
    policy = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "modelAlias": "auto",
            "strategy": "Capability",
            "tiers": [{"name": n} for n in SIZES],
            "defaultLatencyClass": "Batch",
            "classifier": {"difficulty": difficulty},
        },
    }
    return snapshot([tier(name, size, tasks=TASKS) for name, size in SIZES.items()], policy)


def primary(snap: Any, row: dict[str, Any]) -> float:
    """The size of the tier that answers first, with the task given by header (difficulty is what is tested)."""
    body = orjson.dumps({"model": "auto", "messages": row["messages"]})
    decision = decide(
        snap, parse_request(body, "chat"), {"x-tiergate-task": row["task"]}, HealthBook(), SpendBook(), 0.0
    )
    return decision.plan.steps[0].tier.billions


def test_every_hard_twin_scores_above_its_easy_twin() -> None:
    assert all(estimate(hard["messages"]).score > estimate(easy["messages"]).score for easy, hard in TWINS)


def test_an_easy_prompt_never_goes_to_a_larger_tier_than_its_hard_twin(request: pytest.FixtureRequest) -> None:
    snap = shot("RouteHardUp")
    smaller = never_larger = 0
    for easy, hard in HELD_OUT:
        easy_size, hard_size = primary(snap, easy), primary(snap, hard)
        never_larger += easy_size <= hard_size
        smaller += easy_size < hard_size
    share = smaller / len(HELD_OUT)
    request.config.stash.setdefault(SUMMARY_KEY, []).append(
        f"difficulty on {len(HELD_OUT)} held-out easy/hard pairs: easy to a smaller tier than its twin in {share:.1%}, "
        f"never to a larger one ({never_larger}/{len(HELD_OUT)})"
    )
    assert never_larger == len(HELD_OUT)
    assert share >= 0.85


def test_off_routes_both_twins_to_the_smallest_capable_tier() -> None:
    snap = shot("Off")
    easy, hard = HELD_OUT[0]
    assert primary(snap, easy) == primary(snap, hard) == 1.0
