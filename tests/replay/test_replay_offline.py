"""Offline replay: known logs give known totals (worked out by hand in each test's docstring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from replay_setup import chat, write_log, write_replay_config
from tiergate_cli.main import main

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "replay-v1.schema.json").read_text())


def replay(tmp_path: Path, lines: list[Any], *args: str) -> dict[str, Any]:
    config = write_replay_config(tmp_path / "config")
    log = write_log(tmp_path / "requests.jsonl", lines)
    out = tmp_path / "out.json"
    assert main(["replay", str(log), "--config-dir", str(config), "--json", str(out), *args]) == 0
    document = json.loads(out.read_text())
    jsonschema.validate(document, SCHEMA)
    return document


def scenario(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in document["scenarios"] if s["name"] == name)


THREE = [
    {"request": chat("hello there"), "response": {"usage": {"prompt_tokens": 10, "completion_tokens": 20}}},
    {
        "request": chat("what follows from this?"),
        "headers": {"x-tiergate-task": "Reasoning"},
        "response": {"usage": {"prompt_tokens": 100, "completion_tokens": 100}},
    },
    {"request": {"model": "auto", "max_tokens": 10}, "shape": {"task": "Classification", "prompt_tokens": 40}},
]


def test_three_requests_give_the_hand_computed_costs_and_saving(tmp_path: Path) -> None:
    """auto: hello -> small (10*1 + 20*2 = 50e-6), Reasoning -> big (100*10 + 100*20 = 3000e-6), the
    content-free Classification -> small at 40 prompt + 10 max tokens (40*1 + 10*2 = 60e-6): $0.00311.
    Everything on big (the largest tier): 500e-6 + 3000e-6 + 600e-6 = $0.0041, so a saving of $0.00099 (24.15%)."""
    document = replay(tmp_path, THREE, "--policy", "auto")
    auto = scenario(document, "auto")
    assert auto["cost_usd"] == pytest.approx(0.00311, abs=1e-12)
    assert auto["saving_usd"] == pytest.approx(0.00099, abs=1e-12)
    assert auto["saving_percent"] == 24.15
    assert auto["tiers"] == {
        "small": {"requests": 2, "share_percent": 66.67, "cost_usd": pytest.approx(0.00011, abs=1e-12)},
        "big": {"requests": 1, "share_percent": 33.33, "cost_usd": pytest.approx(0.003, abs=1e-12)},
    }
    assert auto["by_task"] == {"Chat": {"small": 1}, "Classification": {"small": 1}, "Reasoning": {"big": 1}}
    # TTFT priors 50, 400, 50 -> p50 50, p95 400; latency adds output at the tier's speed: 250, 2400, 150.
    assert auto["ttft_ms"] == {"p50": 50.0, "p95": 400.0}
    assert auto["latency_ms"] == {"p50": 250.0, "p95": 2400.0}
    assert auto["ttft_histogram"][1] == 2 and auto["ttft_histogram"][4] == 1  # <=50 ms and <=400 ms
    big = scenario(document, "big")
    assert document["baseline"] == "big"
    assert big["cost_usd"] == pytest.approx(0.0041, abs=1e-12) and big["served"] == 3
    small = scenario(document, "small")
    assert (small["served"], small["no_capable_tier"], small["rejected"]) == (2, 1, 1)
    assert document["best_single"] == "big"  # the only tier that serves all three
    assert document["requests"] == {
        "lines": 3,
        "replayed": 3,
        "bad_lines": 0,
        "with_usage": 2,
        "with_timestamp": 0,
        "without_content": 1,
        "first_timestamp": None,
        "last_timestamp": None,
    }
    assert document["tasks"] == {"Chat": 1, "Reasoning": 1, "Classification": 1}
    assert document["verdict"]["kind"] == "Route"
    assert document["verdict"]["policy"] == "auto"
    assert "24.1% less" in document["verdict"]["text"]


def test_daily_limit_rejects_within_the_day_and_resets_the_next(tmp_path: Path) -> None:
    """tight has only big and $0.001 a day. Each request estimates 6*10 + 20*20 = 460e-6 and is billed its
    usage, 10*10 + 20*20 = 500e-6: two fit on day one, the third is rejected, the fourth (next day) fits."""
    line = {"response": {"usage": {"prompt_tokens": 10, "completion_tokens": 20}}}
    days = ["2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z", "2026-12-01T12:00:00Z", "2026-12-02T09:00:00Z"]
    lines = [{"request": chat("hello", max_tokens=20), "timestamp": day, **line} for day in days]
    document = replay(tmp_path, lines, "--policy", "tight")
    tight = scenario(document, "tight")
    assert (tight["served"], tight["rejected"]) == (3, 1)
    assert tight["cost_usd"] == pytest.approx(0.0015, abs=1e-12)
    # Cost over time: hourly for a log of one day, every hour from the first request to the last.
    over_time = tight["cost_over_time"]
    assert over_time[0] == {"start": "2026-12-01T10:00:00Z", "cost_usd": 0.0005}
    assert len(over_time) == 24  # 10:00 on the 1st to 09:00 on the 2nd
    assert sum(b["cost_usd"] for b in over_time) == pytest.approx(0.0015)
    assert document["requests"]["first_timestamp"] == "2026-12-01T10:00:00Z"


def test_uniform_traffic_says_one_model_is_enough(tmp_path: Path) -> None:
    """Only Chat requests: small serves them all, auto sends them all to small too: routing buys nothing."""
    lines = [chat(f"hi, how are you {n}?", max_tokens=20) for n in range(5)]
    document = replay(tmp_path, lines)
    assert document["verdict"]["kind"] == "OneModelIsEnough"
    assert document["verdict"]["text"].startswith("Your traffic is uniform; one model is enough: small serves 5 of 5")
    assert document["best_single"] == "small"


def test_routing_that_saves_nothing_says_so(tmp_path: Path) -> None:
    """With big as the baseline and only Reasoning requests, every scenario that serves them uses big."""
    lines = [{"request": chat("think"), "headers": {"x-tiergate-task": "Reasoning"}} for _ in range(3)]
    document = replay(tmp_path, lines, "--policy", "auto")
    assert document["verdict"]["kind"] == "RoutingCostsMore"
    assert "keep one model" in document["verdict"]["text"]


def test_an_empty_log_has_a_verdict_too(tmp_path: Path) -> None:
    document = replay(tmp_path, [b"", b"   "])
    assert document["requests"]["lines"] == 0
    assert document["verdict"]["kind"] == "NoRequests"


def test_a_chosen_baseline_is_what_savings_are_measured_against(tmp_path: Path) -> None:
    document = replay(tmp_path, THREE, "--policy", "auto", "--baseline", "small")
    assert document["baseline"] == "small"
    auto = scenario(document, "auto")
    # Over the two requests small serves, auto costs exactly what small does.
    assert auto["saving_usd"] == 0.0


def test_gzip_logs_and_several_files_add_up(tmp_path: Path) -> None:
    config = write_replay_config(tmp_path / "config")
    first = write_log(tmp_path / "a.jsonl.gz", THREE[:2], compress=True)
    second = write_log(tmp_path / "b.jsonl", THREE[2:])
    out = tmp_path / "out.json"
    assert main(["replay", str(first), str(second), "--config-dir", str(config), "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["requests"]["replayed"] == 3
    assert scenario(document, "auto")["cost_usd"] == pytest.approx(0.00311, abs=1e-12)


def test_openai_batch_lines_are_read_with_their_output_usage(tmp_path: Path) -> None:
    """A Batch API line with the output's usage: small at 10*1 + 20*2."""
    line = {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": chat("hello there"),
        "response": {"status_code": 200, "body": {"usage": {"prompt_tokens": 10, "completion_tokens": 20}}},
    }
    document = replay(tmp_path, [line], "--policy", "auto")
    assert scenario(document, "auto")["cost_usd"] == pytest.approx(0.00005, abs=1e-12)
    assert document["requests"]["with_usage"] == 1


def test_the_json_schema_is_stable_within_version_1() -> None:
    """Fields are only ever added within a schema version: the required ones are pinned here."""
    assert SCHEMA["properties"]["schema_version"] == {"const": 1}
    assert SCHEMA["required"] == [
        "schema_version",
        "tiergate_version",
        "config_dir",
        "logs",
        "requests",
        "bad_lines",
        "tasks",
        "baseline",
        "best_single",
        "scenarios",
        "ttft_histogram_bounds_ms",
        "verdict",
        "live",
    ]
    scenario = SCHEMA["properties"]["scenarios"]["items"]
    assert scenario["required"] == [
        "name",
        "kind",
        "strategy",
        "requests",
        "served",
        "no_capable_tier",
        "rejected",
        "downgraded",
        "relaxed",
        "cost_usd",
        "saving_usd",
        "saving_percent",
        "ttft_ms",
        "latency_ms",
        "ttft_histogram",
        "tiers",
        "by_task",
        "cost_over_time",
    ]
    assert SCHEMA["properties"]["verdict"]["properties"]["kind"]["enum"] == [
        "Route",
        "OneModelIsEnough",
        "RoutingCostsMore",
        "NoRequests",
    ]


def test_a_policy_that_routes_unsure_tasks_up_is_replayed_as_the_gateway_would(tmp_path: Path) -> None:
    """With every classification counted as unsure, auto's chat turns go to big, the next size up."""
    config = write_replay_config(tmp_path / "config")
    policies = (config / "policies.yaml").read_text()
    (config / "policies.yaml").write_text(
        policies.replace(
            "  strategy: Capability\n",
            "  strategy: Capability\n  classifier:\n    lowConfidence: {belowPercent: 99}\n",
            1,
        )
    )
    log = write_log(tmp_path / "requests.jsonl", [chat("tell me about rome")])
    out = tmp_path / "out.json"
    assert main(["replay", str(log), "--config-dir", str(config), "--policy", "auto", "--json", str(out)]) == 0
    assert list(json.loads(out.read_text())["scenarios"][0]["tiers"]) == ["big"]
