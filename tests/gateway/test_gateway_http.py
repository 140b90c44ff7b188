"""The gateway as a real process in front of real simulator processes, through the openai client."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tiergate_demo.process import GatewayProcess
from tiergate_sim.process import SimProcess
from tiers_setup import API_KEY, set_knobs, stats

CHAT = {"x-tiergate-task": "Chat"}


def client_for(gateway: GatewayProcess, timeout: float = 20.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=timeout)


def chat(gateway: GatewayProcess, **kwargs: object):  # type: ignore[no-untyped-def]
    """A raw chat call returning (http response, parsed completion)."""
    with client_for(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=str(kwargs.pop("model", "auto")),
            messages=kwargs.pop("messages", [{"role": "user", "content": "hello there"}]),  # type: ignore[arg-type]
            extra_headers={**CHAT, **kwargs.pop("headers", {})},  # type: ignore[dict-item]
            **kwargs,  # type: ignore[arg-type]
        )
        return raw, raw.parse()


def test_routes_to_the_primary_with_the_tier_model_and_key(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    raw, completion = chat(gateway, max_tokens=4, temperature=0.3)
    assert raw.headers["x-tiergate-tier"] == "remote-a"
    assert raw.headers["x-tiergate-policy"] == "main"
    assert raw.headers["x-tiergate-task"] == "Chat" and raw.headers["x-tiergate-attempts"] == "1"
    assert "x-tiergate-fallback-reason" not in raw.headers
    assert completion.choices[0].message.content
    seen = stats(upstreams["remote-a"])["last_request"]
    assert seen["body"]["model"] == "org/remote-a"  # the alias was rewritten to the tier's model
    assert seen["body"]["temperature"] == 0.3  # everything else passes through
    assert seen["headers"]["authorization"] == f"Bearer {API_KEY}"


def test_task_is_inferred_and_echoed_when_no_header_is_given(shared_gateway: GatewayProcess) -> None:
    response = httpx.post(
        f"{shared_gateway.base_url}/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "Classify the sentiment: I love it"}]},
    )
    assert response.status_code == 200
    assert response.headers["x-tiergate-task"] == "Classification"


def test_streaming_relays_chunks_and_hides_the_usage_we_asked_for(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    with client_for(gateway) as client:
        stream = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=CHAT
        )
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert all(c.choices for c in chunks), "a usage-only chunk leaked to a client that did not ask for usage"
    assert stats(upstreams["remote-a"])["last_request"]["body"]["stream_options"] == {"include_usage": True}
    with client_for(gateway) as client:
        stream = client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=CHAT,
        )
        usage = [c.usage for c in stream if c.usage]
    assert usage and usage[-1].completion_tokens > 0


def test_completions_endpoint_and_model_list(shared_gateway: GatewayProcess) -> None:
    with client_for(shared_gateway) as client:
        completion = client.completions.create(model="auto", prompt="Say hi", max_tokens=3, extra_headers=CHAT)
        assert completion.choices[0].text
        ids = [m.id for m in client.models.list()]
    assert ids[0] == "auto" and {"remote-a", "remote-b", "local"} <= set(ids)


def test_naming_a_tier_bypasses_routing(shared_gateway: GatewayProcess) -> None:
    raw, _ = chat(shared_gateway, model="local")
    assert raw.headers["x-tiergate-tier"] == "local" and "x-tiergate-policy" not in raw.headers


def test_falls_back_when_primary_returns_500(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    raw, completion = chat(gateway)
    assert completion.choices[0].message.content
    assert raw.headers["x-tiergate-tier"] == "remote-b" and raw.headers["x-tiergate-attempts"] == "2"
    assert raw.headers["x-tiergate-fallback-reason"] == "remote-a=ServerError"


def test_falls_back_to_local_when_both_remotes_fail(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    set_knobs(upstreams["remote-a"], rate_limit_rate=1.0)
    set_knobs(upstreams["remote-b"], error_rate=1.0)
    raw, _ = chat(gateway)
    assert raw.headers["x-tiergate-tier"] == "local" and raw.headers["x-tiergate-attempts"] == "3"
    assert raw.headers["x-tiergate-fallback-reason"] == "remote-a=RateLimited; remote-b=ServerError"


def test_retry_after_puts_the_tier_in_cooldown(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    set_knobs(upstreams["remote-a"], rate_limit_rate=1.0, retry_after_seconds=30)
    first, _ = chat(gateway)
    assert first.headers["x-tiergate-tier"] == "remote-b"
    set_knobs(upstreams["remote-a"], rate_limit_rate=0.0)
    before = stats(upstreams["remote-a"])["requests"]
    second, _ = chat(gateway)
    assert second.headers["x-tiergate-tier"] == "remote-b"
    assert "remote-a=CoolingDown" in second.headers["x-tiergate-fallback-reason"]
    assert second.headers["x-tiergate-attempts"] == "1"
    assert stats(upstreams["remote-a"])["requests"] == before, "a cooling-down tier was called"


def test_falls_back_when_primary_times_out(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    set_knobs(upstreams["remote-a"], hang_rate=1.0)
    started = time.monotonic()
    raw, _ = chat(gateway)
    assert raw.headers["x-tiergate-tier"] == "remote-b"
    assert raw.headers["x-tiergate-fallback-reason"] == "remote-a=Timeout"
    assert time.monotonic() - started < 10  # attemptTimeoutSeconds is 2


def test_falls_back_when_a_tier_refuses_connections(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    gateway = gateway_factory()
    folder = Path(gateway.process.args[gateway.process.args.index("--config-dir") + 1])  # type: ignore[union-attr]
    tiers = list(yaml.safe_load_all((folder / "tiers.yaml").read_text()))
    tiers[0]["spec"]["endpoint"]["url"] = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
    deadline = time.monotonic() + 10
    while True:
        raw, _ = chat(gateway)
        if "remote-a=ConnectionError" in raw.headers.get("x-tiergate-fallback-reason", ""):
            break
        assert time.monotonic() < deadline, "the config change was not picked up"
        time.sleep(0.2)
    assert raw.headers["x-tiergate-tier"] == "remote-b"


def test_stream_failing_before_first_byte_falls_back(gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> None:
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    with client_for(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=CHAT
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text and raw.headers["x-tiergate-tier"] == "remote-b"
    assert raw.headers["x-tiergate-fallback-reason"] == "remote-a=ServerError"


def test_stream_broken_after_first_byte_ends_with_an_error_event(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    set_knobs(upstreams["remote-a"], drop_stream_rate=1.0, output_tokens=40)
    received = []
    with client_for(gateway) as client:
        stream = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=CHAT
        )
        with pytest.raises(openai.APIError, match="mid-stream"):
            for chunk in stream:
                received.append(chunk)
    assert received, "the client got nothing before the error event"


def test_unretryable_failure_is_not_retried(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory(fallback={"retryOn": ["RateLimited"], "maxAttempts": 3, "requireLocalLast": False})
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers=CHAT,
    )
    assert response.status_code == 503 and response.headers["x-tiergate-attempts"] == "1"
    assert "ServerError" in response.json()["error"]["message"]
    assert stats(upstreams["remote-b"])["requests"] == 0


def test_all_tiers_failing_is_503_without_leaking_addresses_or_keys(
    gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    for process in upstreams.values():
        set_knobs(process, error_rate=1.0)
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers=CHAT,
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "no_tier_available" and "remote-a" in error["message"]
    assert "127.0.0.1" not in response.text and API_KEY not in response.text
    assert API_KEY not in gateway.logs()


@pytest.mark.parametrize(
    ("content", "body", "headers", "status", "needle"),
    [
        ("json", b"{broken", {}, 400, "not valid JSON"),
        ("json", b'{"model": "auto"}', {}, 400, "messages"),
        ("json", b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', {}, 404, "nope"),
        (
            "json",
            b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}',
            {"x-tiergate-task": "Poetry"},
            400,
            "Poetry",
        ),
        (
            "json",
            b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}',
            {"x-tiergate-latency-class": "Soon"},
            400,
            "Soon",
        ),
        (
            "json",
            b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}',
            {},
            400,
            "max_tokens",
        ),
        ("json", b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": 3}', {}, 400, "stream"),
    ],
)
def test_bad_requests_get_openai_errors(
    shared_gateway: GatewayProcess, content: str, body: bytes, headers: dict[str, str], status: int, needle: str
) -> None:
    response = httpx.post(
        f"{shared_gateway.base_url}/chat/completions",
        content=body,
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"] and {"type", "param", "code"} <= set(error)


def test_body_over_the_limit_is_413(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gateway = gateway_factory(env={"TIERGATE_MAX_BODY_BYTES": "1000"})
    big = {"model": "auto", "messages": [{"role": "user", "content": "x" * 5000}]}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


def test_unknown_endpoint_is_an_openai_404(shared_gateway: GatewayProcess) -> None:
    response = httpx.get(f"{shared_gateway.url}/v1/nothing")
    assert response.status_code == 404 and "error" in response.json()


def test_explain_returns_the_plan_without_calling_models(
    shared_gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    response = httpx.post(
        f"{shared_gateway.url}/v1/route/explain",
        json={"model": "auto", "messages": [{"role": "user", "content": "Summarize this article for me please."}]},
    )
    assert response.status_code == 200
    document = response.json()
    assert document["policy"] == "main" and document["task_source"] == "classifier"
    assert [s["tier"] for s in document["plan"]][-1] == "local"
    assert all(stats(p)["requests"] == 0 for p in upstreams.values())


def test_policy_change_in_the_folder_changes_routing(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess]
) -> None:
    gateway = gateway_factory()
    folder = Path(gateway.process.args[gateway.process.args.index("--config-dir") + 1])  # type: ignore[union-attr]
    policy = yaml.safe_load((folder / "policy.yaml").read_text())
    policy["spec"]["tiers"] = [{"name": "local"}]
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))
    deadline = time.monotonic() + 5
    while chat(gateway)[0].headers["x-tiergate-tier"] != "local":
        assert time.monotonic() < deadline, "the policy change was not applied"
        time.sleep(0.1)
    (folder / "policy.yaml").write_text("spec: [broken")
    time.sleep(1.5)
    assert chat(gateway)[0].headers["x-tiergate-tier"] == "local"  # the last good policy stays
    assert "policy.yaml" in gateway.logs()


def test_naming_a_tier_bypasses_capability_too(shared_gateway: GatewayProcess) -> None:
    # remote-a is 1B: by default not capable of Reasoning, but the caller named it
    raw, _ = chat(shared_gateway, model="remote-a", headers={"x-tiergate-task": "Reasoning"})
    assert raw.headers["x-tiergate-tier"] == "remote-a"
