"""The capacity simulation still runs (short slices of the day: this checks the harness, not the figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
FIGURES = {"name", "gpu_hours", "remote_usd", "total_usd", "failed", "interactive_missed_pct"}


def simulate(tmp_path: Path, *options: str) -> dict[str, Any]:
    out = tmp_path / "capacity.json"
    command = [sys.executable, str(BENCH / "capacity_bench.py"), *options, "--output", str(out)]
    subprocess.run(command, check=True, timeout=300, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {scenario["name"]: scenario for scenario in report["scenarios"]}


@pytest.mark.slow
def test_a_busy_slice_runs_every_scenario(tmp_path: Path) -> None:
    report = simulate(tmp_path, "--hours", "0.1", "--start-hour", "10", "--warmup-hours", "0.05")
    scenarios = by_name(report)
    assert list(scenarios)[:3] == ["static-peak", "static-average", "autoscaled"]
    assert list(scenarios)[3] == "autoscaled-queue-only"  # what the KV-cache default buys
    for figures in scenarios.values():
        assert set(figures) >= FIGURES
        assert figures["requests"] > 500 and figures["interactive_requests"] > 0
        assert figures["total_usd"] == pytest.approx(figures["gpu_usd"] + figures["remote_usd"], abs=0.011)
    peak = scenarios["static-peak"]
    assert peak["gpu_hours"] == pytest.approx(peak["replicas"] * 0.1)
    assert peak["failed"] == 0 and peak["remote_usd"] == 0
    assert report["workload"]["kinds_not_simulated"]  # the demo's code and reasoning requests go remote anyway


@pytest.mark.slow
def test_a_night_slice_scales_to_zero_and_wakes_without_a_fight(tmp_path: Path) -> None:
    # 1:30 to 4:30: traffic fades out by 2:00, the tier goes to zero, the first request after 4:00 wakes it.
    options = ("--hours", "3", "--start-hour", "1.5", "--warmup-hours", "0.25")
    report = simulate(tmp_path, *options, "--scenarios", "static-peak,autoscaled", "--compare-kv-percent", "0")
    scenarios = by_name(report)
    autoscaled, peak = scenarios["autoscaled"], scenarios["static-peak"]
    assert autoscaled["gpu_hours"] < peak["gpu_hours"] / 2
    assert autoscaled["writes_by"] == {"keda": 1, "gateway": 1}  # KEDA took it to zero; the gateway woke it
    assert autoscaled["gateway_wakes"] == 1 and autoscaled["reversed_wakes"] == 0
    assert autoscaled["wakes_undone_by_keda"] == 0 and autoscaled["direction_changes_within_5min"] == 0
    assert autoscaled["failed"] == 0
    assert autoscaled["served"]["llama-8b"] > autoscaled["served"].get("gpt-4o", 0)
