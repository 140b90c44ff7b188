"""The /ui status page in a real browser: complete without JavaScript, fits a phone, refreshes only while visible."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pagecheck import PHONE, horizontal_overflow, open_page, save_screenshot
from playwright.sync_api import Browser, Page, Route, expect

from page_samples import HOSTILE, status_view
from tiergate_gateway.pages.status import render_status
from tiergate_gateway.pages.status_view import StatusView

UI = "http://tiergate.test/ui"
"""Served by `page.route`: an http origin, so the refresh's fetch and the page's CSP act as on a gateway."""


def _write_status(tmp_path: Path, view: StatusView) -> str:
    path = tmp_path / "status.html"
    path.write_text(render_status(view), encoding="utf-8")
    return path.as_uri()


def _serve(answers: Callable[[int], tuple[int, str]]) -> Callable[[Page], None]:
    """Route UI to `answers(n)` -> (status, body) for the n-th request (0 is the page load)."""
    served = [0]

    def handle(route: Route) -> None:
        status, body = answers(served[0])
        served[0] += 1
        route.fulfill(status=status, body=body, content_type="text/html; charset=utf-8")

    def route(page: Page) -> None:
        page.route(UI, handle)

    return route


def test_status_page_renders_without_errors_or_requests(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _write_status(tmp_path, status_view(workers=4, problems=(f"tier {HOSTILE} has no model",)))
    page, problems = open_page(browser, url)
    try:
        assert page.locator("table.tiers > tbody > tr").count() == 3
        assert page.locator("table.nested tbody tr").count() == 2
        assert page.locator("svg.spend rect.bar").count() == 1
        assert "worker 4242 alone" in page.locator("#worker-note").inner_text()
        assert HOSTILE in page.locator("#problems").inner_text()  # shown as text, not run
        assert problems.console_errors == [] and problems.page_errors == [] and problems.requests == [url]
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_status_page_is_complete_without_javascript(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    page, problems = open_page(browser, _write_status(tmp_path, status_view()), javascript=False)
    try:
        assert "$4.65" in page.locator("#saved-today").inner_text()
        assert "$1.25 of $10.00 (12.5%)" in page.locator("table.policies").inner_text()
        assert page.locator("table.decisions tbody tr").count() == 3
        assert page.locator("#refresh-note").inner_text() == "Reload the page to refresh it."
        assert problems.requests == [page.url]
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_status_page_fits_a_phone(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    page, problems = open_page(browser, _write_status(tmp_path, status_view(workers=4)), viewport=PHONE)
    try:
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert horizontal_overflow(page) == 0 and problems.page_errors == []
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_refresh_swaps_in_the_new_main_and_says_when(browser: Browser, request: pytest.FixtureRequest) -> None:
    def answers(served: int) -> tuple[int, str]:
        return 200, render_status(status_view(snapshot_version=7 + served), refresh_seconds=1)

    page, problems = open_page(browser, UI, before_load=_serve(answers))
    try:
        expect(page.locator("#facts")).to_contain_text("snapshot 7,")
        expect(page.locator("#facts")).not_to_contain_text("snapshot 7,", timeout=4000)
        expect(page.locator("#refresh-note")).to_have_text(re.compile(r"^updated \d\d:\d\d:\d\d UTC$"))
        assert page.locator("main").count() == 1 and page.locator("script").count() == 1
        assert problems.console_errors == [] and problems.page_errors == []
        assert set(problems.requests) == {UI}
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_failed_refresh_is_reported_and_keeps_the_page(browser: Browser) -> None:
    def answers(served: int) -> tuple[int, str]:
        return (200, render_status(status_view(), refresh_seconds=1)) if served == 0 else (503, "down")

    page, problems = open_page(browser, UI, before_load=_serve(answers))
    try:
        expect(page.locator("#refresh-note")).to_contain_text("refresh failed", timeout=4000)
        assert page.locator("table.tiers").count() == 1
        assert problems.page_errors == []
        # Chromium itself logs the 503 ("Failed to load resource"); the script adds nothing.
        assert all(message.startswith("Failed to load resource") for message in problems.console_errors)
    finally:
        page.context.close()


# Lets the test hide and show the tab: headless chromium is always "visible".
_VISIBILITY_SWITCH = """
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__hidden ? "hidden" : "visible"; },
});
"""


def test_refresh_pauses_while_the_tab_is_hidden(browser: Browser) -> None:
    def answers(served: int) -> tuple[int, str]:
        return 200, render_status(status_view(snapshot_version=7 + served), refresh_seconds=1)

    def before_load(page: Page) -> None:
        page.add_init_script(_VISIBILITY_SWITCH)
        _serve(answers)(page)

    page, problems = open_page(browser, UI, before_load=before_load)
    try:
        page.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
        fetched = len(problems.requests)
        page.wait_for_timeout(2500)
        assert len(problems.requests) == fetched  # no refresh while hidden
        page.evaluate("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))")
        expect(page.locator("#refresh-note")).to_contain_text("updated", timeout=2000)
        assert len(problems.requests) > fetched
        assert problems.console_errors == [] and problems.page_errors == []
    finally:
        page.context.close()
