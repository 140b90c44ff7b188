"""Open a page in the session's browser and record what went wrong: console errors, page errors, requests.

Plain functions, so that any browser test can use them with the `browser` fixture of this folder's
conftest (`from pagecheck import open_page`; pytest puts this folder on sys.path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Error, HttpCredentials, Page, Request, ViewportSize

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Screenshots of the pages under test (gitignored), named after the test."""
PHONE: ViewportSize = {"width": 390, "height": 844}
"""An iPhone 12-14 sized viewport in CSS pixels."""


@dataclass
class PageProblems:
    """What a page did that a test may want to forbid."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    """Uncaught exceptions in the page's scripts."""
    requests: list[str] = field(default_factory=list)
    """Every URL the page requested, the document itself included, in order."""


def open_page(
    browser: Browser,
    url: str,
    *,
    javascript: bool = True,
    viewport: ViewportSize | None = None,
    before_load: Callable[[Page], None] | None = None,
    http_credentials: HttpCredentials | None = None,
) -> tuple[Page, PageProblems]:
    """Open `url` in a fresh context and wait for it to load; close it with `page.context.close()`.

    Listeners are attached before navigation, so nothing the page does while loading is missed.
    `before_load` runs after that and before navigation (e.g. to `page.route` a fake server);
    `http_credentials` answer an HTTP Basic challenge as a person would in the browser's prompt.
    """
    context = browser.new_context(
        java_script_enabled=javascript,
        viewport=viewport or {"width": 1280, "height": 900},
        http_credentials=http_credentials,
    )
    page = context.new_page()
    problems = PageProblems()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.console_errors.append(message.text)

    def on_page_error(error: Error) -> None:
        problems.page_errors.append(str(error))

    def on_request(request: Request) -> None:
        problems.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("request", on_request)
    if before_load is not None:
        before_load(page)
    page.goto(url, wait_until="load")
    return page, problems


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0 when nothing scrolls sideways)."""
    overflow: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return max(overflow, 0)


def save_screenshot(page: Page, name: str) -> Path:
    """Keep a full-page PNG as a test artifact, test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name.replace('/', '_').replace('[', '-').replace(']', '')}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
