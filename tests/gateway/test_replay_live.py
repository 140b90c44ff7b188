"""`tiergate replay --live`: a log sent to a real gateway over simulators, measured next to the estimate."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tiergate_cli.main import main
from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import set_knobs

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello, how are you today?"}]}


def write_log(path: Path, count: int) -> Path:
    lines: list[dict[str, Any]] = [{"request": CHAT, "headers": {"x-tiergate-task": "Chat"}} for _ in range(count)]
    lines.append({"request": {"model": "auto"}, "shape": {"task": "Chat", "prompt_tokens": 12}})  # no text: not sent
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def live(gateway: GatewayProcess, tmp_path: Path, *extra: str) -> tuple[dict[str, Any], float]:
    log = write_log(tmp_path / "log.jsonl", 10)
    out = tmp_path / "out.json"
    config = gateway.log_path.parent / "config0"
    started = time.perf_counter()
    code = main(["replay", str(log), "--config-dir", str(config), "--live", gateway.url, "--json", str(out), *extra])
    assert code == 0
    return json.loads(out.read_text())["live"], time.perf_counter() - started


def test_live_replay_measures_what_the_gateway_did_next_to_the_estimate(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    gateway = gateway_factory()
    result, seconds = live(gateway, tmp_path, "--policy", "auto", "--rate", "20", "--stream")
    assert (result["sent"], result["skipped_without_content"], result["answered"]) == (10, 1, 10)
    assert result["errors"] == {} and result["fallbacks"] == 0
    assert result["tiers"] == {"remote-a": 10}
    assert result["agreement_percent"] == 100.0  # every tier healthy: the gateway did what the estimate said
    assert result["ttft_ms"]["p50"] is not None and result["latency_ms"]["p95"] >= result["ttft_ms"]["p50"]
    assert result["estimated_ttft_ms"]["p50"] == 5.0  # remote-a's prior
    assert seconds >= 9 / 20  # ten requests at 20 a second: never faster than the rate allows


def test_live_replay_counts_the_fallbacks_a_failing_tier_causes(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    gateway = gateway_factory()
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    result, _ = live(gateway, tmp_path, "--policy", "auto", "--rate", "100")
    assert result["answered"] == 10 and result["fallbacks"] == 10
    assert "remote-a" not in result["tiers"]
    assert result["agreement_percent"] == 0.0  # the estimate assumes every tier healthy
    assert sum(result["fallback_reasons"].values()) >= 10


def test_live_replay_refuses_an_unbounded_rate(gateway_factory: Callable[..., GatewayProcess], tmp_path: Path) -> None:
    gateway = gateway_factory()
    log = write_log(tmp_path / "log.jsonl", 1)
    config = gateway.log_path.parent / "config0"
    assert main(["replay", str(log), "--config-dir", str(config), "--live", gateway.url, "--rate", "100000"]) == 2
