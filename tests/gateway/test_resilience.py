"""Resilience under faults and load: deadlines, caps, drain, budgets, client disconnects."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import set_knobs, stats

CHAT = {"x-tiergate-task": "Chat"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def post(gateway: GatewayProcess, headers: dict[str, str] | None = None, **body: object) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/chat/completions", json={**BODY, **body}, headers={**CHAT, **(headers or {})}, timeout=30
    )


def test_deadline_is_split_so_the_local_tier_keeps_its_time(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    set_knobs(upstreams["remote-a"], hang_rate=1.0)
    started = time.monotonic()
    response = post(gateway, headers={"x-tiergate-timeout-ms": "1000"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.headers["x-tiergate-tier"] == "local"
    reasons = response.headers["x-tiergate-fallback-reason"]
    # remote-a's attempt was cut short by the caller's deadline, not by its own timeout
    assert "remote-a=DeadlineExceeded" in reasons and "remote-b=DeadlineTooShort" in reasons
    assert elapsed < 2.0


def test_a_callers_tiny_deadline_is_never_booked_against_the_tiers(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    """Five requests with a 1 ms deadline used to open the breaker of the tier they reached (the shared
    Local last resort, here) for every tenant."""
    for process in upstreams.values():
        set_knobs(process, ttft_ms=50)
    for _ in range(8):
        post(gateway, headers={"x-tiergate-timeout-ms": "1"})
    for process in upstreams.values():
        set_knobs(process, ttft_ms=0)
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    set_knobs(upstreams["remote-b"], error_rate=1.0)
    rescued = post(gateway)
    assert rescued.status_code == 200 and rescued.headers["x-tiergate-tier"] == "local"
    assert "local=CircuitOpen" not in rescued.headers["x-tiergate-fallback-reason"]


def test_policy_deadline_applies_without_a_header(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(fallback={"attemptTimeoutSeconds": 30, "requestTimeoutSeconds": 1})
    set_knobs(upstreams["remote-a"], hang_rate=1.0)
    started = time.monotonic()
    response = post(gateway)
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "local"
    assert time.monotonic() - started < 2.5


def test_bad_deadline_header_is_a_400(shared_gateway: GatewayProcess) -> None:
    response = post(shared_gateway, headers={"x-tiergate-timeout-ms": "soon"})
    assert response.status_code == 400 and "x-tiergate-timeout-ms" in response.json()["error"]["message"]


def test_per_tier_cap_overflows_to_the_next_tier(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(tier_specs={"remote-a": {"limits": {"maxInFlight": 1}}})
    set_knobs(upstreams["remote-a"], ttft_ms=1500)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, gateway)
        time.sleep(0.5)  # the first request now holds remote-a's only slot
        second = pool.submit(post, gateway).result()
        assert first.result().headers["x-tiergate-tier"] == "remote-a"
    assert second.headers["x-tiergate-tier"] == "remote-b"
    assert second.headers["x-tiergate-fallback-reason"] == "remote-a=AtCapacity"


def test_tier_rate_limit_turns_into_a_planned_fallback(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(tier_specs={"remote-a": {"limits": {"requestsPerMinute": 2}}})
    tiers = [post(gateway).headers["x-tiergate-tier"] for _ in range(4)]
    assert tiers == ["remote-a", "remote-a", "remote-b", "remote-b"]
    assert stats(upstreams["remote-a"])["outcomes"]["rate_limited"] == 0  # the provider never said 429


def test_gateway_cap_answers_429_with_retry_after_instead_of_queueing(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(env={"TIERGATE_MAX_IN_FLIGHT": "2"})
    set_knobs(upstreams["remote-a"], ttft_ms=1500)
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: post(gateway), range(6)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 2 and 429 in codes
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "gateway_overloaded"


def test_sigterm_drains_in_flight_requests_and_streams(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    set_knobs(upstreams["remote-a"], ttft_ms=1000, tokens_per_second=20, output_tokens=20)
    results: dict[str, object] = {}

    def slow_call() -> None:
        results["plain"] = post(gateway, max_tokens=20)

    def slow_stream() -> None:
        with httpx.stream(
            "POST",
            f"{gateway.base_url}/chat/completions",
            json={**BODY, "stream": True, "max_tokens": 20},
            headers=CHAT,
            timeout=30,
        ) as response:
            results["stream"] = b"".join(response.iter_bytes())

    threads = [threading.Thread(target=slow_call), threading.Thread(target=slow_stream)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    gateway.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    assert results["plain"].status_code == 200  # type: ignore[union-attr]
    assert results["stream"].endswith(b"data: [DONE]\n\n")  # type: ignore[union-attr]
    # uvicorn re-raises SIGTERM once it has shut down cleanly, so the exit status is -15, not a kill
    assert gateway.process.wait(30) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{gateway.url}/healthz", timeout=2)


def test_client_leaving_mid_stream_cancels_the_upstream_request(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    set_knobs(upstreams["remote-a"], tokens_per_second=5, output_tokens=200)
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/chat/completions",
        json={**BODY, "stream": True, "max_tokens": 200},
        headers=CHAT,
        timeout=30,
    ) as response:
        next(response.iter_bytes())
    deadline = time.monotonic() + 10
    while stats(upstreams["remote-a"])["in_flight"]:
        assert time.monotonic() < deadline, "the upstream stream was not cancelled"
        time.sleep(0.05)
    assert stats(upstreams["remote-a"])["outcomes"]["client_gone"] == 1
    assert post(gateway).status_code == 200  # and the gateway is fine


def test_daily_budget_rejects_once_spent(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    prices = {"inputPerMillionTokens": "1000", "outputPerMillionTokens": "1000"}
    gateway = gateway_factory(
        tier_specs={name: {"cost": prices} for name in upstreams},
        budget={"dailyLimit": "0.05", "onExceeded": "Reject"},
    )
    codes = [post(gateway).status_code for _ in range(6)]
    assert codes[0] == 200 and codes[-1] == 429
    refused = post(gateway)
    assert refused.json()["error"]["code"] == "budget_exceeded"
    # retrying cannot help today; the budget comes back when the UTC day turns
    assert refused.headers["x-should-retry"] == "false"
    assert abs(int(refused.headers["retry-after"]) - (86_400 - time.time() % 86_400)) <= 2


def test_budget_downgrade_sends_to_the_cheapest_local_tier(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(
        tier_specs={
            "remote-a": {"cost": {"inputPerMillionTokens": "100", "outputPerMillionTokens": "100"}},
            "remote-b": {"cost": {"inputPerMillionTokens": "100", "outputPerMillionTokens": "100"}},
            # the only tier within budget cannot do the task: only a downgrade may use it
            "local": {"capabilities": {"tasks": ["Classification"]}},
        },
        budget={"maxCostPerRequest": "0.0001", "onExceeded": "Downgrade"},
    )
    response = post(gateway)
    assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "local"
    assert "BudgetDowngrade" in response.headers["x-tiergate-fallback-reason"]


def test_the_deadline_covers_a_whole_stream(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    """x-tiergate-timeout-ms bounds the whole request: a stream still dripping at the deadline ends then."""
    set_knobs(upstreams["remote-a"], tokens_per_second=5, output_tokens=200)  # 40 s of tokens
    started = time.monotonic()
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/chat/completions",
        json={**BODY, "stream": True, "max_tokens": 200},
        headers={**CHAT, "x-tiergate-timeout-ms": "2500"},
        timeout=30,
    ) as response:
        assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "remote-a"
        content = response.read()
    assert time.monotonic() - started < 8
    assert b'"deadline_exceeded"' in content and content.endswith(b"data: [DONE]\n\n")
    set_knobs(upstreams["remote-a"], tokens_per_second=0, output_tokens=6)
    after = post(gateway)  # the caller's deadline was no failure of the tier
    assert after.headers["x-tiergate-tier"] == "remote-a" and "x-tiergate-fallback-reason" not in after.headers
