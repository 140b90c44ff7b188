"""The /ui status page and the decision log of a real gateway, and `tiergate replay` of that log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tiergate_cli.main import main
from tiergate_demo.process import GatewayProcess
from tiergate_gateway.pages.html import fmt_usd
from tiers_setup import API_KEY

ADMIN_KEY = "tg-admin-4c6e8a0b2d4f6h8j0k2m"
USER_KEY = "tg-user-1a3c5e7g9i1k3m5o7q9s"
TEXT = "Classify the sentiment of this review: the soup was cold"


def chat(gateway: GatewayProcess, key: str | None = None, **headers: str) -> httpx.Response:
    if key:
        headers["authorization"] = f"Bearer {key}"
    body = {"model": "auto", "messages": [{"role": "user", "content": TEXT}]}
    return httpx.post(f"{gateway.base_url}/chat/completions", json=body, headers=headers, timeout=20)


def read_log(path: Path) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # lines are written in batches every 50 ms
        if path.exists() and path.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def secured(gateway_factory: Callable[..., GatewayProcess], tmp_path: Path) -> GatewayProcess:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        yaml.safe_dump(
            {
                "keys": [
                    {"key": ADMIN_KEY, "tenant": "ops", "scopes": ["admin"]},
                    {"key": USER_KEY, "tenant": "team-a"},
                ]
            }
        )
    )
    return gateway_factory(env={"TIERGATE_AUTH_KEYS_FILE": str(keys)})


def test_status_page_needs_an_admin_key_and_lets_a_browser_ask_for_it(secured: GatewayProcess) -> None:
    anonymous = httpx.get(f"{secured.url}/ui")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic realm=")
    assert anonymous.json()["error"]["type"] == "authentication_error"
    user = httpx.get(f"{secured.url}/ui", headers={"authorization": f"Bearer {USER_KEY}"})
    assert user.status_code == 403
    assert "admin scope" in user.json()["error"]["message"]
    by_bearer = httpx.get(f"{secured.url}/ui", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert by_bearer.status_code == 200
    assert by_bearer.headers["content-type"].startswith("text/html")
    by_basic = httpx.get(f"{secured.url}/ui", auth=("anyone", ADMIN_KEY))  # what a browser's prompt sends
    assert by_basic.status_code == 200
    assert httpx.get(f"{secured.url}/ui", auth=("anyone", USER_KEY)).status_code == 403
    assert httpx.get(f"{secured.url}/ui", auth=("anyone", "wrong")).status_code == 401


def test_status_page_shows_tiers_policies_recent_decisions_and_the_saving(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory(
        tier_specs={"local": {"cost": {"inputPerMillionTokens": "5", "outputPerMillionTokens": "5"}}}
    )
    answers = [chat(gateway, **{"x-tiergate-task": "Chat"}) for _ in range(3)]
    ids = [answer.headers["x-request-id"] for answer in answers]
    page = httpx.get(f"{gateway.url}/ui")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    for tier in ("remote-a", "remote-b", "local"):
        assert tier in html
    assert all(request_id in html for request_id in ids)  # the recent decisions, newest first
    assert html.index(ids[2]) < html.index(ids[0])
    # remote-a answered for free; the baseline (local, the largest tier) costs 5 USD per million tokens.
    tokens = sum(a.json()["usage"]["prompt_tokens"] + a.json()["usage"]["completion_tokens"] for a in answers)
    assert f"Saved by auto</dt><dd>{fmt_usd(tokens * 5 / 1e6)}<" in html.replace("\n", "")
    assert API_KEY not in html


def test_decision_log_holds_the_shape_not_the_text_unless_asked_and_replays(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "decisions.jsonl"
    gateway = gateway_factory(
        env={"TIERGATE_DECISION_LOG": str(log)},
        tier_specs={"local": {"cost": {"inputPerMillionTokens": "5", "outputPerMillionTokens": "5"}}},
    )
    answers = [chat(gateway) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers)
    lines = read_log(log)
    assert len(lines) == 3
    first = lines[0]
    assert first["request"] == {"model": "auto", "stream": False}  # no messages: capture is off
    assert TEXT not in log.read_text() and API_KEY not in log.read_text()
    assert first["shape"]["task"] == answers[0].headers["x-tiergate-task"]
    assert first["decision"]["tier"] == answers[0].headers["x-tiergate-tier"]
    assert first["decision"]["baseline_tier"] == "local"
    assert first["request_id"] == answers[0].headers["x-request-id"]
    assert first["response"]["usage"]["completion_tokens"] == 6  # the simulators answer six tokens
    # Replayed offline, the log gives the gateway's own decisions and the same baseline cost.
    out = tmp_path / "replay.json"
    config = Path(gateway.log_path).parent / "config0"
    assert main(["replay", str(log), "--config-dir", str(config), "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["requests"]["without_content"] == 3
    scenario = next(s for s in document["scenarios"] if s["name"] == "auto")
    assert list(scenario["tiers"]) == [answers[0].headers["x-tiergate-tier"]]
    local = next(s for s in document["scenarios"] if s["name"] == "local")
    logged_baseline = sum(line["decision"]["baseline_cost_usd"] for line in lines)
    assert local["cost_usd"] == pytest.approx(logged_baseline, rel=1e-9)


def test_decision_log_with_capture_keeps_the_messages(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    gateway = gateway_factory(env={"TIERGATE_DECISION_LOG": str(log), "TIERGATE_DECISION_LOG_CONTENT": "true"})
    for _ in range(3):
        chat(gateway, **{"x-tiergate-task": "Chat"})
    first = read_log(log)[0]
    assert first["request"]["messages"] == [{"role": "user", "content": TEXT}]
    assert first["headers"] == {"x-tiergate-task": "Chat"}
