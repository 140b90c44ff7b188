"""The benchmark harnesses still run (tiny durations: this checks the harness, not speed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_micro_benchmarks_run(tmp_path: Path) -> None:
    out = tmp_path / "micro.json"
    subprocess.run([sys.executable, str(BENCH / "micro.py"), "--quick", "--output", str(out)], check=True, timeout=300)
    report = json.loads(out.read_text())
    assert set(report["plan_us"]) == {"10 tiers", "100 tiers", "1000 tiers"}
    assert report["snapshot_us"]["swap (publish)"] > 0
    assert set(report["replica_us"]) >= {"pick, 1 replicas", "pick, 4 replicas", "pick, 64 replicas"}


@pytest.mark.slow
def test_replica_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "replicas.json"
    balancers = "round-robin,tiergate" if shutil.which("nginx") or Path("/usr/sbin/nginx").exists() else "tiergate"
    command = [sys.executable, str(BENCH / "replicas_bench.py"), "--seconds", "1", "--loads", "0.3",
               "--balancers", balancers, "--output", str(out)]  # fmt: skip
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
    subprocess.run(command, check=True, timeout=300, env=env, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    for balancer in balancers.split(","):
        (row,) = report["results"][balancer]
        assert row["requests"] > 0 and row["failed"] == 0 and row["prefix_hit_rate"] is not None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (scripts/system-deps installs it)")
def test_gateway_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    command = [
        sys.executable,
        str(BENCH / "gateway_bench.py"),
        "--duration",
        "1",
        "--warmup",
        "1",
        "--stream-requests",
        "20",
        "--memory-requests",
        "0",
        "--output",
        str(out),
    ]
    subprocess.run(command, check=True, timeout=600, capture_output=True)
    report = json.loads(out.read_text())
    rows = {(row["row"], row["concurrency"]) for row in report["rows"]}
    assert {
        ("direct", 1),
        ("tiergate 1 worker", 32),
        ("tiergate task header, logs warning", 32),
        ("tiergate access log off", 32),
        ("tiergate 2 workers", 32),
        ("tiergate tracing 100%", 32),
        ("one-hop proxy (reference)", 1),
    } <= rows
    assert all(row["errors"] == 0 for row in report["rows"])
    assert report["stream_ttfb_ms"]["tiergate"]["p50"] > 0 and report["stream_ttfb_ms"]["hop"]["p50"] > 0


@pytest.mark.slow
def test_soak_runs_and_keeps_every_request(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(BENCH / "soak.py"),
        "--requests",
        "300",
        "--rate",
        "150",
        "--max-seconds",
        "60",
        "--output",
        str(out),
    ]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    report = json.loads(out.read_text())
    assert report["plain"]["success_rate"] == 1.0


@pytest.mark.slow
def test_replay_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "replay.json"
    command = [sys.executable, str(BENCH / "replay_bench.py"), "--lines", "300", "--runs", "1", "--output", str(out)]
    subprocess.run(command, check=True, timeout=300, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    assert report["every policy (4) and tier (5)"]["lines"] == 300
    assert report["same, gzipped log"]["lines"] == 300


@pytest.mark.slow
def test_classifier_cost_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "classifier.json"
    command = [sys.executable, str(BENCH / "classifier_cost.py"), "--quick", "--output", str(out)]
    subprocess.run(command, check=True, timeout=300, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    assert report["chat_sized_us"]["requests"] > 400
    assert 0 < report["chat_sized_us"]["p50"] <= report["chat_sized_us"]["p99"]
    assert 0 < report["document_8k_tokens_us"]["p50"] <= report["document_8k_tokens_us"]["p99"]
    assert report["added_rss_mb"] > 0
