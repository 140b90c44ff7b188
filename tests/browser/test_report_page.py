"""The replay report in a real browser: charts drawn, nothing loaded, readable without JavaScript and on a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pagecheck import PHONE, horizontal_overflow, open_page, save_screenshot
from playwright.sync_api import Browser

from page_samples import empty_replay_document, replay_document, validate_replay_document
from tiergate_gateway.pages.report import render_report


def _write_report(tmp_path: Path, document: dict[str, Any]) -> str:
    validate_replay_document(document)
    path = tmp_path / "report.html"
    path.write_text(render_report(document), encoding="utf-8")
    return path.as_uri()


def test_report_draws_every_chart_without_errors_or_requests(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _write_report(tmp_path, replay_document())
    page, problems = open_page(browser, url)
    try:
        charts = page.locator("figure.chart")
        assert charts.count() == 8  # cost, 2 tier shares, 3 TTFT histograms, cost over time, task mix
        for index in range(charts.count()):
            svg = charts.nth(index).locator("svg")
            assert svg.get_attribute("width") == "100%" and svg.locator("title").count() >= 1
            assert svg.locator("rect.bar, path.series").count() > 0, charts.nth(index).get_attribute("id")
        assert page.locator("#chart-cost svg").bounding_box()["width"] > 300  # type: ignore[index]
        assert problems.console_errors == [] and problems.page_errors == []
        assert problems.requests == [url]
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_report_reads_without_javascript(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    document = replay_document()
    page, problems = open_page(browser, _write_report(tmp_path, document), javascript=False)
    try:
        assert page.locator("#verdict").inner_text() == document["verdict"]["text"]
        headline = page.locator(".figures").first.inner_text()
        assert "$0.42" in headline and "$2.00" in headline and "79.0% ($1.58)" in headline
        assert page.locator("#chart-cost svg text", has_text="$0.42").is_visible()
        # The numbers behind a chart open without a script.
        numbers = page.locator("#chart-cost details table")
        assert not numbers.is_visible()
        page.locator("#chart-cost summary").click()
        assert numbers.is_visible() and "$0.90" in numbers.inner_text()
        assert problems.requests == [page.url]
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_report_fits_a_phone(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    page, problems = open_page(browser, _write_report(tmp_path, replay_document()), viewport=PHONE)
    try:
        assert horizontal_overflow(page) == 0
        # The wide scenario table scrolls inside its own box instead of widening the page.
        box = page.locator("#scenarios .scroll")
        assert box.evaluate("element => element.scrollWidth > element.clientWidth")
        assert page.locator("#chart-cost svg").bounding_box()["width"] <= PHONE["width"]  # type: ignore[index]
        assert problems.page_errors == []
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_empty_report_renders(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    document = empty_replay_document()
    page, problems = open_page(browser, _write_report(tmp_path, document), viewport=PHONE)
    try:
        assert page.locator("#verdict").inner_text() == document["verdict"]["text"]
        assert page.locator("svg").count() == 0
        assert problems.console_errors == [] and problems.page_errors == [] and horizontal_overflow(page) == 0
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()
