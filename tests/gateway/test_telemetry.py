"""Traces reach an OTLP receiver with the right tree and attributes; metrics count what happened."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from otlp import Receiver, attrs
from tiergate_demo.process import GatewayProcess, free_port
from tiergate_sim.process import SimProcess
from tiers_setup import API_KEY, set_knobs, stats

CHAT = {"x-tiergate-task": "Chat"}
PROMPT = "the-secret-prompt-text-4711"
BODY = {"model": "auto", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8}
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CONTENT_ATTRIBUTES = {"gen_ai.input.messages", "gen_ai.output.messages"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
def traced(gateway_factory: Callable[..., GatewayProcess], receiver: Receiver) -> GatewayProcess:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_SERVICE_NAME": "tiergate-gateway",
    }
    return gateway_factory(env=env)


def _request(gateway: GatewayProcess, **body: Any) -> httpx.Response:
    headers = {**CHAT, "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    return httpx.post(f"{gateway.base_url}/chat/completions", json={**BODY, **body}, headers=headers, timeout=30)


def _access_line(gateway: GatewayProcess, request_id: str) -> dict[str, Any]:
    """The access line of a request (written within 50 ms of its end, so waited for)."""
    deadline = time.monotonic() + 5
    while True:
        found = [line for line in gateway.logs().splitlines() if request_id in line and "tiergate.access" in line]
        if found:
            return orjson.loads(found[-1])  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"no access line for {request_id}"
        time.sleep(0.05)


def _tree(spans: list[Any]) -> tuple[Any, Any, list[Any]]:
    server = next(s for s in spans if s.name == "POST /v1/chat/completions")
    route = next(s for s in spans if s.name == "tiergate.route")
    attempts = sorted((s for s in spans if s.name == "tiergate.attempt"), key=lambda s: attrs(s)["tiergate.attempt"])
    return server, route, attempts


def _complete(count: int) -> Callable[[list[Any]], bool]:
    return lambda spans: (
        any(s.name.startswith("POST") for s in spans) and (sum(s.name == "tiergate.attempt" for s in spans) >= count)
    )


def test_routed_request_trace_continues_the_callers_and_reaches_the_tier(
    traced: GatewayProcess, receiver: Receiver, upstreams: dict[str, SimProcess]
) -> None:
    response = _request(traced)
    assert response.status_code == 200
    server, route, attempts = _tree(receiver.wait_for(_complete(1)))
    assert attrs(server)["tiergate.request_id"] == response.headers["x-request-id"]
    access = _access_line(traced, response.headers["x-request-id"])
    assert access["trace_id"] == CALLER_TRACE  # the log line leads to the trace
    assert server.trace_id.hex() == CALLER_TRACE and server.parent_span_id.hex() == CALLER_SPAN
    assert route.parent_span_id == server.span_id and attempts[0].parent_span_id == server.span_id
    decision = attrs(route)
    assert decision["tiergate.policy"] == "main" and decision["tiergate.strategy"] == "Capability"
    assert decision["tiergate.task"] == "Chat" and decision["tiergate.task.source"] == "header"
    assert decision["tiergate.tier.chosen"] == "remote-a" and decision["tiergate.latency_class"] == "Batch"
    assert decision["tiergate.candidates"] == ["remote-a", "remote-b", "local"]
    attempt = attrs(attempts[0])
    assert attempt["tiergate.tier"] == "remote-a" and attempt["tiergate.outcome"] == "ok"
    assert attempt["gen_ai.operation.name"] == "chat" and attempt["gen_ai.request.model"] == "org/remote-a"
    assert attempt["gen_ai.usage.output_tokens"] > 0 and attempt["gen_ai.usage.input_tokens"] > 0
    assert "tiergate.cost_usd" in attempt and attempt["http.response.status_code"] == 200
    assert attrs(server)["http.response.status_code"] == 200
    sent = stats(upstreams["remote-a"])["last_request"]["headers"]
    assert sent["x-request-id"] == response.headers["x-request-id"]  # the tier sees the same id
    traceparent = sent["traceparent"]
    assert traceparent.split("-")[1] == CALLER_TRACE and traceparent.split("-")[2] == attempts[0].span_id.hex()


def test_fallback_twice_to_local_gives_three_attempt_spans_with_reasons(
    traced: GatewayProcess, receiver: Receiver, upstreams: dict[str, SimProcess]
) -> None:
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    set_knobs(upstreams["remote-b"], rate_limit_rate=1.0)
    response = _request(traced)
    assert response.headers["x-tiergate-tier"] == "local"
    _, _, attempts = _tree(receiver.wait_for(_complete(3)))
    outcomes = [(attrs(a)["tiergate.tier"], attrs(a)["tiergate.outcome"]) for a in attempts]
    assert outcomes == [("remote-a", "ServerError"), ("remote-b", "RateLimited"), ("local", "ok")]
    assert attrs(attempts[0])["error.type"] == "ServerError" and attrs(attempts[0])["http.response.status_code"] == 500
    assert attrs(attempts[2])["tiergate.locality"] == "Local"


def test_stream_attempt_records_time_to_first_byte_and_usage(traced: GatewayProcess, receiver: Receiver) -> None:
    with httpx.stream(
        "POST", f"{traced.base_url}/chat/completions", json={**BODY, "stream": True}, headers=CHAT, timeout=30
    ) as response:
        assert response.read().endswith(b"data: [DONE]\n\n")
    _, _, attempts = _tree(receiver.wait_for(_complete(1)))
    attempt = attrs(attempts[0])
    assert attempt["tiergate.stream"] is True and attempt["tiergate.ttft_ms"] > 0
    assert attempt["gen_ai.usage.output_tokens"] > 0


def test_no_credential_or_prompt_text_in_any_attribute(
    gateway_factory: Callable[..., GatewayProcess], receiver: Receiver, tmp_path: Any
) -> None:
    keys = tmp_path / "keys.yaml"
    gateway_key = "tg-telemetry-key-123456789"
    keys.write_text(f"keys: [{{key: {gateway_key}, tenant: t}}]")
    gateway = gateway_factory(
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "TIERGATE_AUTH_KEYS_FILE": str(keys),
        }
    )
    headers = {**CHAT, "authorization": f"Bearer {gateway_key}"}
    assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=headers).status_code == 200
    spans = receiver.wait_for(_complete(1))
    dumped = " ".join(str(attrs(s)) + str([str(e.attributes) for e in s.events]) for s in spans)
    for secret in (gateway_key, API_KEY, PROMPT):
        assert secret not in dumped
    assert not any(CONTENT_ATTRIBUTES & attrs(s).keys() for s in spans)  # content capture is opt-in


def _server_span(receiver: Receiver, response: httpx.Response) -> Any:
    request_id = response.headers["x-request-id"]
    found = receiver.wait_for(
        lambda spans: any(s.name.startswith("POST") and attrs(s)["tiergate.request_id"] == request_id for s in spans)
    )
    return next(s for s in found if s.name.startswith("POST") and attrs(s)["tiergate.request_id"] == request_id)


def test_opted_in_content_is_on_the_server_span_capped_and_without_credentials(
    gateway_factory: Callable[..., GatewayProcess], receiver: Receiver, tmp_path: Any
) -> None:
    keys = tmp_path / "keys.yaml"
    gateway_key = "tg-telemetry-key-987654321"
    keys.write_text(f"keys: [{{key: {gateway_key}, tenant: t}}]")
    gateway = gateway_factory(
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "TIERGATE_AUTH_KEYS_FILE": str(keys),
            "TIERGATE_TRACE_CONTENT": "true",
            "TIERGATE_TRACE_CONTENT_MAX_BYTES": "300",
        }
    )
    headers = {**CHAT, "authorization": f"Bearer {gateway_key}"}
    answer = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=headers, timeout=30)
    assert answer.status_code == 200
    server = attrs(_server_span(receiver, answer))
    assert orjson.loads(server["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    text = answer.json()["choices"][0]["message"]["content"]
    assert orjson.loads(server["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}
    ]

    long_prompt = PROMPT + " " + "x" * 2000  # over the cap: cut at 300 bytes and marked
    streamed = {**BODY, "stream": True, "messages": [{"role": "user", "content": long_prompt}]}
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=streamed, headers=headers) as stream:
        events = [line[6:] for line in stream.iter_lines() if line.startswith("data: {")]
    deltas = "".join(orjson.loads(e)["choices"][0]["delta"].get("content") or "" for e in events)
    server = attrs(_server_span(receiver, stream))
    sent = orjson.loads(server["gen_ai.input.messages"])[0]["parts"][0]["content"]
    assert sent == long_prompt[:300] + "…[truncated]"
    received = orjson.loads(server["gen_ai.output.messages"])
    assert received[0]["parts"] == [{"type": "text", "content": deltas}] and received[0]["finish_reason"] == "stop"

    spans = receiver.wait_for(_complete(2))
    dumped = " ".join(str(attrs(s)) + str([str(e.attributes) for e in s.events]) for s in spans)
    assert gateway_key not in dumped and API_KEY not in dumped


def test_dead_exporter_adds_no_failures_and_no_delay(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gateway = gateway_factory(
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_TIMEOUT": "5", "OTEL_BSP_SCHEDULE_DELAY": "50"}
    )
    slowest = 0.0
    for _ in range(40):
        started = time.monotonic()
        assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
    # an export attempt takes up to 5 s; none of it may land on a request
    assert slowest < 2.5


def _samples(gateway: GatewayProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{gateway.url}/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_a_known_workload(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    for _ in range(5):
        assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT).status_code == 200
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    for _ in range(2):
        assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT).status_code == 200
    httpx.post(f"{gateway.base_url}/chat/completions", json={"model": "nope", "messages": []})
    samples = _samples(gateway)
    ok = {"policy": "main", "task": "Chat", "outcome": "ok"}
    assert _value(samples, "tiergate_requests_total", tier="remote-a", **ok) == 5
    assert _value(samples, "tiergate_requests_total", tier="remote-b", **ok) == 2
    assert _value(samples, "tiergate_upstream_attempts_total", tier="remote-a", result="ServerError") == 2
    assert (
        _value(samples, "tiergate_fallbacks_total", from_tier="remote-a", to_tier="remote-b", reason="ServerError") == 2
    )
    assert _value(samples, "tiergate_tokens_total", tier="remote-a", direction="output") > 0
    assert _value(samples, "tiergate_classifier_decisions_total", task="Chat", source="header") == 7
    assert _value(samples, "tiergate_requests_total", policy="", tier="", task="", outcome="client_error") == 1
    assert _value(samples, "tiergate_snapshot_timestamp_seconds") > 0
    assert all("nope" not in str(labels) for _, labels in samples)  # unknown names never become labels


def test_metrics_add_up_across_two_workers(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gateway = gateway_factory(extra_args=["--workers", "2"])
    for _ in range(20):
        assert httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT).status_code == 200
    total = sum(
        value
        for (name, labels), value in _samples(gateway).items()
        if name == "tiergate_requests_total" and ("outcome", "ok") in labels
    )
    assert total == 20
