"""The report `tiergate replay --report` writes for a real log, in a real browser, with and without JavaScript."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from pagecheck import PHONE, horizontal_overflow, open_page, save_screenshot
from playwright.sync_api import Browser

from tiergate_cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_replayed_log_gives_a_report_with_every_chart_drawn(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    prompts = [json.loads(line) for line in (ROOT / "tests/data/classifier-regression.jsonl").read_text().splitlines()]
    start = 1_796_000_000
    lines = [
        {"request": {"messages": row["messages"]}, "timestamp": start + 600 * n} for n, row in enumerate(prompts[:120])
    ]
    log = tmp_path / "log.jsonl"
    log.write_bytes(
        b"".join(orjson.dumps(line) + b"\n" for line in lines)
        + b'{"request": {"prompt": "x"}, "timestamp": "<script>alert(1)</script>"}\n'
    )
    report, out = tmp_path / "report.html", tmp_path / "out.json"
    args = [
        "replay",
        str(log),
        "--config-dir",
        str(ROOT / "examples/local"),
        "--report",
        str(report),
        "--json",
        str(out),
    ]
    assert main(args) == 0
    document = json.loads(out.read_text())
    assert document["requests"]["bad_lines"] == 1
    page, problems = open_page(browser, report.as_uri())
    try:
        assert page.locator("#verdict").inner_text() == document["verdict"]["text"]
        charts = page.locator("figure.chart")
        assert charts.count() >= 5
        for index in range(charts.count()):
            assert charts.nth(index).locator("rect.bar, path.series").count() > 0
        assert problems.console_errors == [] and problems.page_errors == [] and problems.requests == [report.as_uri()]
        assert "alert(1)" in page.locator("body").inner_text()  # the bad line's text is shown as text, not run
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()
    page, problems = open_page(browser, report.as_uri(), javascript=False, viewport=PHONE)
    try:
        text = page.locator("body").inner_text()
        for scenario in document["scenarios"]:
            assert scenario["name"] in text
        assert horizontal_overflow(page) == 0
        save_screenshot(page, request.node.name + "-phone-no-js")
    finally:
        page.context.close()
