"""`tiergate demo`, the README's main job, runs from the source tree and routes every request."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_routes_the_workload_and_reports_savings(tmp_path: Path) -> None:
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tiergate_cli", "demo", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "failed requests: 0" in out and "saved:" in out
    for task in ("Classification", "Summarization", "CodeGeneration", "Reasoning", "CreativeWriting", "Chat"):
        assert task in out
    assert "RateLimited" in out  # the external tier fails part-way and the chain absorbs it
    # It ends with `tiergate replay` of its own decision log, and says where the report is.
    assert f"$ tiergate replay {output / 'decisions.jsonl'}" in out
    assert f"report: {output / 'report.html'}" in out
    document = json.loads((output / "replay.json").read_text())
    sent = out.split("failed requests")[0].count("ms ")  # one table row per request
    assert document["requests"]["replayed"] == sent == len((output / "decisions.jsonl").read_text().splitlines())
    assert document["requests"]["bad_lines"] == 0
    assert document["verdict"]["text"] in out
    report = (output / "report.html").read_text()
    assert html.escape(document["verdict"]["text"]) in report
