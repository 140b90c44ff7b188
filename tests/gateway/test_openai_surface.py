"""What real OpenAI clients meet on day one: each test pins a defect found by driving the
gateway with the official `openai` SDK (its retries, its timeouts, its error classes).

Real gateway and simulator processes on loopback; the SDK is the one users install.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import orjson
import pytest

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import set_knobs, stats

CHAT = {"x-tiergate-task": "Chat"}
MESSAGES = [{"role": "user", "content": "hello"}]
BODY = {"model": "auto", "messages": MESSAGES, "max_tokens": 8}


def client(gateway: GatewayProcess, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", default_headers=CHAT, **options)  # type: ignore[arg-type]


class _Counter:
    """Counts the HTTP requests an SDK client sends (its retries included)."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(self, _: httpx.Request) -> None:
        self.sent += 1


@pytest.fixture
def counted() -> Iterator[tuple[httpx.Client, _Counter]]:
    counter = _Counter()
    with httpx.Client(event_hooks={"request": [counter]}) as http:
        yield http, counter


def _wait_until(condition: Callable[[], bool], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def _access_lines(gateway: GatewayProcess) -> list[dict[str, object]]:
    lines = []
    for line in gateway.logs().splitlines():
        if '"tiergate.access"' in line:
            lines.append(orjson.loads(line))
    return lines


# ---- 1. a client that gives up ----------------------------------------------------------------------


def test_a_client_that_times_out_cancels_the_upstream_generation(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    # The whole answer takes 5 s. The attempt timeout (2 s) would also end the upstream request, 0.5 s
    # client timeout + 1.3 s of waiting below stays clear of it: only the departure can pass the test.
    set_knobs(upstreams["remote-a"], ttft_ms=5000)
    with pytest.raises(openai.APITimeoutError):
        client(gateway, timeout=0.5, max_retries=0).chat.completions.create(model="auto", messages=MESSAGES)
    # The simulator sees the gateway hang up long before its 5 s answer would be ready.
    _wait_until(lambda: stats(upstreams["remote-a"])["in_flight"] == 0, 1.3, "the upstream kept generating")
    assert stats(upstreams["remote-a"])["outcomes"]["client_gone"] == 1
    _wait_until(lambda: any(e["status"] == 499 for e in _access_lines(gateway)), 2.0, "no 499 in the access log")
    line = next(e for e in _access_lines(gateway) if e["status"] == 499)
    assert line["tier"] == "" or line["tier"] == "remote-a"
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'outcome="client_closed"' in metrics


def test_abandoned_requests_are_never_booked_against_the_tier(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    """More abandoned requests than the breaker's failure threshold (5) leave the tier's circuit closed."""
    set_knobs(upstreams["remote-a"], ttft_ms=5000)
    impatient = client(gateway, timeout=0.3, max_retries=0)
    for _ in range(6):
        with pytest.raises(openai.APITimeoutError):
            impatient.chat.completions.create(model="auto", messages=MESSAGES)
    _wait_until(lambda: stats(upstreams["remote-a"])["in_flight"] == 0, 1.3, "the upstream kept generating")
    set_knobs(upstreams["remote-a"], ttft_ms=0)
    answer = client(gateway).chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    assert answer.headers["x-tiergate-tier"] == "remote-a"
    assert "x-tiergate-fallback-reason" not in answer.headers


def test_a_client_that_leaves_before_the_first_stream_byte_cancels_the_upstream(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    set_knobs(upstreams["remote-a"], ttft_ms=5000)
    with pytest.raises(openai.APITimeoutError):
        stream = client(gateway, timeout=0.5, max_retries=0).chat.completions.create(
            model="auto", messages=MESSAGES, stream=True
        )
        list(stream)
    _wait_until(lambda: stats(upstreams["remote-a"])["in_flight"] == 0, 1.3, "the upstream kept generating")


# ---- 2 and 3. refusals say when to come back ------------------------------------------------------


def test_when_every_tier_cools_down_the_refusal_carries_retry_after(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    for process in upstreams.values():
        set_knobs(process, rate_limit_rate=1.0, retry_after_seconds=5)
    with pytest.raises(openai.APIStatusError) as walked:
        client(gateway, max_retries=0).chat.completions.create(model="auto", messages=MESSAGES)
    assert walked.value.status_code == 503
    assert 4 <= int(walked.value.response.headers["retry-after"]) <= 5
    assert walked.value.response.headers.get("x-should-retry") != "false"
    # The next request is refused at planning time (every tier is cooling down), with the same hint.
    refused = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT)
    assert refused.status_code == 503
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    assert "CoolingDown" in refused.json()["error"]["message"]


def test_tier_rate_limits_answer_429_naming_the_limit_with_the_window_end(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    limited = {name: {"limits": {"requestsPerMinute": 1}} for name in upstreams}
    gateway = gateway_factory(tier_specs=limited)
    if time.time() % 60 > 55:  # let the four requests below share one minute's windows
        time.sleep(60 - time.time() % 60 + 0.1)
    minute = int(time.time() // 60)
    tiers = []
    for _ in range(3):  # one request per tier's minute: each goes down the chain to the next tier
        tiers.append(httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT).headers)
    refused = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT)
    left = 60 - time.time() % 60
    if int(time.time() // 60) != minute:  # a very slow machine: the windows turned over meanwhile
        pytest.skip("the minute turned while the windows were being filled; nothing to assert")
    assert [h["x-tiergate-tier"] for h in tiers] == ["remote-a", "remote-b", "local"]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "tier_rate_limit_exceeded" and error["type"] == "rate_limit_error"
    assert abs(int(refused.headers["retry-after"]) - math.ceil(left)) <= 1
    assert refused.headers.get("x-should-retry") != "false"


# ---- 4, 5, 6, 7: what the SDK sends and reads ------------------------------------------------------


def test_null_optional_fields_count_as_absent(shared_gateway: GatewayProcess) -> None:
    nulls = {"stream": None, "max_tokens": None, "stream_options": None, "tools": None, "response_format": None}
    response = httpx.post(f"{shared_gateway.base_url}/chat/completions", json={**BODY, **nulls}, headers=CHAT)
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"


def test_models_retrieve_serves_aliases_and_tiers(shared_gateway: GatewayProcess) -> None:
    sdk = client(shared_gateway)
    assert sdk.models.retrieve("auto").id == "auto"
    tier = sdk.models.retrieve("remote-b")
    assert tier.id == "remote-b" and tier.object == "model"
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.models.retrieve("no-such-model")
    assert missing.value.code == "model_not_found"


def test_budget_rejections_tell_the_sdk_not_to_retry(
    gateway_factory: Callable[..., GatewayProcess],
    upstreams: dict[str, SimProcess],
    counted: tuple[httpx.Client, _Counter],
) -> None:
    prices = {"inputPerMillionTokens": "1000", "outputPerMillionTokens": "1000"}
    gateway = gateway_factory(
        tier_specs={name: {"cost": prices} for name in upstreams},
        budget={"maxCostPerRequest": "0.000001", "onExceeded": "Reject"},
    )
    http, counter = counted
    with pytest.raises(openai.RateLimitError) as refused:
        client(gateway, http_client=http, max_retries=2).chat.completions.create(model="auto", messages=MESSAGES)
    assert refused.value.code == "budget_exceeded"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in refused.value.response.headers  # a per-request cap never lifts
    assert counter.sent == 1  # the SDK obeyed: no retries


def test_wrong_field_types_are_400_with_param_as_openai_answers(shared_gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as wrong:
        client(shared_gateway).chat.completions.create(model="auto", messages=MESSAGES, max_tokens="many")  # type: ignore[arg-type]
    assert wrong.value.status_code == 400
    assert wrong.value.param == "max_tokens" and wrong.value.code == "invalid_request"
    assert wrong.value.response.headers["x-should-retry"] == "false"


# ---- 8. streams carry only what the client asked for ----------------------------------------------


def _raw_stream(gateway: GatewayProcess, **extra: object) -> bytes:
    body = {**BODY, "stream": True, **extra}
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body, headers=CHAT) as response:
        assert response.status_code == 200
        return response.read()


def test_stream_chunks_carry_no_usage_the_client_did_not_ask_for(shared_gateway: GatewayProcess) -> None:
    raw = _raw_stream(shared_gateway)
    assert b'"content"' in raw and raw.endswith(b"data: [DONE]\n\n")
    assert b"usage" not in raw


def test_stream_usage_when_asked_reaches_the_sdk(shared_gateway: GatewayProcess) -> None:
    raw = _raw_stream(shared_gateway, stream_options={"include_usage": True})
    assert b'"usage":null' in raw  # what OpenAI sends with include_usage, passed through
    chunks = list(
        client(shared_gateway).chat.completions.create(
            model="auto", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


# ---- 9. names and ids ------------------------------------------------------------------------------


def test_errors_for_a_named_tier_call_it_a_tier(shared_gateway: GatewayProcess) -> None:
    body = {"model": "remote-b", "messages": MESSAGES, "max_tokens": 100_000}
    error = httpx.post(f"{shared_gateway.base_url}/chat/completions", json=body).json()["error"]
    assert "tier 'remote-b'" in error["message"] and "policy" not in error["message"]


def test_every_response_has_a_request_id_the_sdk_exposes(shared_gateway: GatewayProcess) -> None:
    sdk = client(shared_gateway)
    answer = sdk.chat.completions.create(model="auto", messages=MESSAGES)
    assert answer._request_id and answer._request_id.startswith("req_")  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="nope", messages=MESSAGES)
    assert missing.value.request_id and missing.value.request_id.startswith("req_")
    for method, path in [("GET", "/v1/models"), ("GET", "/healthz"), ("GET", "/no/such/path"), ("GET", "/metrics")]:
        assert httpx.request(method, f"{shared_gateway.url}{path}").headers["x-request-id"].startswith("req_")
    ids = {httpx.get(f"{shared_gateway.url}/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_a_callers_own_request_id_is_kept_and_logged(shared_gateway: GatewayProcess) -> None:
    mine = "trace-me-0001"
    response = httpx.post(
        f"{shared_gateway.base_url}/chat/completions", json=BODY, headers={**CHAT, "x-request-id": mine}
    )
    assert response.headers["x-request-id"] == mine
    _wait_until(
        lambda: any(e["request_id"] == mine for e in _access_lines(shared_gateway)), 2.0, "not in the access log"
    )
    hostile = httpx.post(
        f"{shared_gateway.base_url}/chat/completions", json=BODY, headers={**CHAT, "x-request-id": "a b<script>"}
    )
    assert hostile.headers["x-request-id"].startswith("req_")


def test_a_request_whose_client_hangs_up_at_once_is_never_generated(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    """Fire and forget: the connection closes right after the request, before or while the work starts."""
    set_knobs(upstreams["remote-a"], ttft_ms=3000)
    body = orjson.dumps(BODY)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"x-tiergate-task: Chat\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
            sock.sendall(head + body)
    time.sleep(0.5)
    assert stats(upstreams["remote-a"])["in_flight"] == 0  # nothing is generating for them
    assert stats(upstreams["remote-a"])["outcomes"]["ok"] == 0
