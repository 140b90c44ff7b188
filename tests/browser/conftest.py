"""Browser fixtures: Debian's chromium driven by Playwright's sync API, launched once per session.

Nothing here downloads a browser: without `chromium` on PATH the browser tests are skipped. The
tests are plain sync functions (Playwright's sync API cannot run inside an asyncio loop).

    def test_something(browser: Browser, request: pytest.FixtureRequest) -> None:
        page, problems = open_page(browser, "http://127.0.0.1:8080/ui", viewport=PHONE)
        try:
            assert not problems.page_errors and horizontal_overflow(page) == 0
            save_screenshot(page, request.node.name)
        finally:
            page.context.close()
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The system chromium, headless, shared by the browser tests of a module.

    Not per session: Playwright's sync API runs an event loop in this thread while it is open, and
    every asyncio test after it would fail ("asyncio.run() cannot be called from a running event
    loop"). Closed at the end of each module, it leaves the thread as it found it (about a second of
    start-up per module)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium); browsers are never downloaded")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
