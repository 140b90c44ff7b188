"""`tiergate demo`, the README's main job, runs from the source tree and routes every request."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_routes_the_workload_and_reports_savings() -> None:
    result = subprocess.run([sys.executable, "-m", "tiergate_cli", "demo"], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "failed requests: 0" in out and "saved:" in out
    for task in ("Classification", "Summarization", "CodeGeneration", "Reasoning", "CreativeWriting", "Chat"):
        assert task in out
    assert "RateLimited" in out  # the external tier fails part-way and the chain absorbs it
