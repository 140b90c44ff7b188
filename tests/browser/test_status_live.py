"""The status page of a real gateway in a real browser: behind an admin key, refreshing by itself."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml
from pagecheck import PHONE, horizontal_overflow, open_page, save_screenshot
from playwright.sync_api import Browser, Error, expect

from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_sim.process import start_sim

ADMIN_KEY = "tg-admin-browser-5e7g9i1k3m5o7q"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("ui")
    sim = start_sim(["--model", "org/small", "--output-tokens", "4"])
    tier = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": "small"},
        "spec": {
            "model": "org/small",
            "size": "1B",
            "cost": {"inputPerMillionTokens": "1", "outputPerMillionTokens": "2"},
            "endpoint": {"url": sim.base_url, "locality": "Local"},
        },
    }
    policy = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": "auto"},
        "spec": {"modelAlias": "auto", "strategy": "Capability", "tiers": [{"name": "small"}]},
    }
    (folder / "resources.yaml").write_text(yaml.safe_dump_all([tier, policy]))
    keys = folder / "keys.yaml"
    keys.write_text(yaml.safe_dump({"keys": [{"key": ADMIN_KEY, "tenant": "ops", "scopes": ["admin"]}]}))
    try:
        with start_gateway(
            ["--config-dir", str(folder)], folder / "gateway.log", env={"TIERGATE_AUTH_KEYS_FILE": str(keys)}
        ) as started:
            yield started
    finally:
        sim.stop()


def send(gateway: GatewayProcess) -> str:
    answer = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hello"}]},
        headers={"authorization": f"Bearer {ADMIN_KEY}", "x-tiergate-task": "Chat"},
        timeout=20,
    )
    assert answer.status_code == 200
    return answer.headers["x-request-id"]


def test_the_page_asks_for_the_key_shows_the_decisions_and_refreshes_itself(
    browser: Browser, gateway: GatewayProcess, request: pytest.FixtureRequest
) -> None:
    first = send(gateway)
    page, problems = open_page(
        browser, f"{gateway.url}/ui?refresh=1", http_credentials={"username": "ops", "password": ADMIN_KEY}
    )
    try:
        assert page.locator("main").inner_text().count(first) == 1
        later = send(gateway)  # not on the page yet: the script fetches it within a second or so
        expect(page.locator("main")).to_contain_text(later, timeout=10_000)
        assert "small" in page.locator("main").inner_text()
        assert not problems.page_errors and not problems.console_errors
        assert all(url.startswith(gateway.url) for url in problems.requests)
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()


def test_without_the_key_the_browser_is_challenged_and_shows_nothing(browser: Browser, gateway: GatewayProcess) -> None:
    """No key: headless chromium cannot show the password prompt the challenge asks for, so the navigation
    ends with an authentication error. A wrong key: chromium gives up after trying it and shows the 401."""
    context = browser.new_context()
    try:
        with pytest.raises(Error, match="ERR_INVALID_AUTH_CREDENTIALS"):
            context.new_page().goto(f"{gateway.url}/ui")
    finally:
        context.close()
    context = browser.new_context(http_credentials={"username": "ops", "password": "not-the-key"})
    try:
        response = context.new_page().goto(f"{gateway.url}/ui")
        assert response is not None and response.status == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        assert "Saved today" not in response.text()
    finally:
        context.close()


def test_without_javascript_on_a_phone_the_numbers_are_readable(
    browser: Browser, gateway: GatewayProcess, request: pytest.FixtureRequest
) -> None:
    request_id = send(gateway)
    page, problems = open_page(
        browser,
        f"{gateway.url}/ui",
        javascript=False,
        viewport=PHONE,
        http_credentials={"username": "ops", "password": ADMIN_KEY},
    )
    try:
        text = page.locator("body").inner_text()
        assert request_id in text and "Saved today" in text
        assert horizontal_overflow(page) == 0
        assert not problems.page_errors
        save_screenshot(page, request.node.name)
    finally:
        page.context.close()
