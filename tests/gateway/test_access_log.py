"""The gateway's access log as users run it: one JSON line per request, no content, no keys."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import API_KEY

SECRET_PROMPT = "the launch code is 0000-swordfish"
BODY = {"model": "auto", "messages": [{"role": "user", "content": SECRET_PROMPT}], "max_tokens": 8}


def _lines(gateway: GatewayProcess, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while True:
        found = [orjson.loads(line) for line in gateway.logs().splitlines() if '"tiergate.access"' in line]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_one_line_per_request_with_the_routing_facts_and_no_content(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory()
    ok = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY)
    streamed = httpx.post(f"{gateway.base_url}/chat/completions", json={**BODY, "stream": True})
    missing = httpx.post(f"{gateway.base_url}/chat/completions", json={**BODY, "model": "nope"})
    lines = _lines(gateway, 3)
    assert [line["status"] for line in lines] == [200, 200, 404]
    first, second, third = lines
    assert first["request_id"] == ok.headers["x-request-id"]
    assert first["policy"] == ok.headers["x-tiergate-policy"] == "main"
    assert first["tier"] == ok.headers["x-tiergate-tier"] and first["task"] == ok.headers["x-tiergate-task"]
    assert first["attempts"] == 1 and first["cost_usd"] >= 0 and first["stream"] is False
    assert second["stream"] is True and second["request_id"] == streamed.headers["x-request-id"]
    assert third["error_code"] == "model_not_found" and third["request_id"] == missing.headers["x-request-id"]
    log = gateway.logs()
    assert SECRET_PROMPT not in log and API_KEY not in log
    assert "uvicorn.access" not in log  # one line per request is ours; uvicorn's plain one is off


def test_sampling_drops_successes_but_never_errors(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(env={"TIERGATE_ACCESS_LOG_SAMPLE": "0.0"})
    for _ in range(5):
        assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY).status_code == 200
    httpx.post(f"{gateway.base_url}/chat/completions", json={**BODY, "max_tokens": "x"})
    assert [line["status"] for line in _lines(gateway, 1)] == [400]


def test_log_level_warning_turns_it_off(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(extra_args=["--log-level", "warning"])
    httpx.post(f"{gateway.base_url}/chat/completions", json=BODY)
    time.sleep(0.2)
    assert '"tiergate.access"' not in gateway.logs()
