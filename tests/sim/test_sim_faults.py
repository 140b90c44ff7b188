"""Fault injection: start-up rates, the admin API, per-request headers, seeded draws."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import openai
import pytest

from tiergate_sim.process import SimProcess

type ChatBody = Callable[..., dict[str, object]]
type Spawn = Callable[..., SimProcess]

CHAT: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def wait_for_outcome(http: httpx.Client, outcome: str, count: int, within: float = 5.0) -> None:
    """Poll /sim/stats until `outcome` reaches `count` (the server notices disconnects later)."""
    deadline = time.monotonic() + within
    while http.get("/sim/stats").json()["outcomes"][outcome] < count:
        assert time.monotonic() < deadline, f"{outcome} never reached {count}"
        time.sleep(0.02)


def test_error_rate_one_answers_500_with_an_openai_body(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--error-rate", "1")
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0, timeout=10)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 500
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "server_error"


def test_rate_limit_rate_one_answers_429_with_retry_after(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--rate-limit-rate", "1", "--retry-after-seconds", "7")
    response = httpx.post(f"{sim.url}/v1/chat/completions", json=CHAT, timeout=10)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_hang_never_answers_until_the_client_gives_up(sim: SimProcess, http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"hang_rate": 1}).raise_for_status()
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sim.url}/v1/chat/completions", json=chat_body(), timeout=0.5)
    assert time.monotonic() - started >= 0.5
    wait_for_outcome(http, "hung", 1)
    assert http.get("/sim/stats").json()["in_flight"] == 0


def test_hang_with_the_openai_client_times_out(sim: SimProcess) -> None:
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="sim-small",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-sim-fault": "hang"},
        )


def read_stream(http: httpx.Client, body: dict[str, object]) -> tuple[list[str], bool]:
    """The SSE data lines received and whether the connection broke before the end."""
    lines: list[str] = []
    broken = False
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        try:
            lines.extend(line for line in response.iter_lines() if line.startswith("data: "))
        except httpx.RemoteProtocolError:
            broken = True
    return lines, broken


def test_drop_stream_cuts_after_some_content_without_done(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"drop_stream_rate": 1}).raise_for_status()
    lines, broken = read_stream(http, chat_body(stream=True))
    assert broken
    assert "data: [DONE]" not in lines
    assert any('"content":"The"' in line for line in lines)
    assert not any('"finish_reason":"stop"' in line for line in lines)
    wait_for_outcome(http, "dropped", 1)


def test_drop_does_not_touch_non_streaming_requests(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"drop_stream_rate": 1}).raise_for_status()
    assert http.post("/v1/chat/completions", json=chat_body()).status_code == 200


def test_drop_header_truncates_a_non_streaming_body(http: httpx.Client, chat_body: ChatBody) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/chat/completions", json=chat_body(), headers={"x-sim-fault": "drop"})


def test_fault_header_none_overrides_the_rates(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"error_rate": 1}).raise_for_status()
    response = http.post("/v1/chat/completions", json=chat_body(), headers={"x-sim-fault": "none"})
    assert response.status_code == 200


@pytest.mark.parametrize(("fault", "status"), [("error", 500), ("rate-limit", 429)])
def test_fault_header_forces_a_fault(http: httpx.Client, chat_body: ChatBody, fault: str, status: int) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(), headers={"x-sim-fault": fault})
    assert response.status_code == status


@pytest.mark.parametrize("status", [400, 403, 429, 502, 503])
def test_status_header_forces_that_status(http: httpx.Client, chat_body: ChatBody, status: int) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(), headers={"x-sim-status": str(status)})
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert ("retry-after" in response.headers) == (status == 429)


@pytest.mark.parametrize(("header", "value"), [("x-sim-fault", "explode"), ("x-sim-status", "200")])
def test_bad_override_headers_get_400(http: httpx.Client, chat_body: ChatBody, header: str, value: str) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(), headers={header: value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_header"


def statuses(http: httpx.Client, body: dict[str, object], count: int) -> list[int]:
    return [http.post("/v1/chat/completions", json=body).status_code for _ in range(count)]


def test_seeded_draws_repeat(http: httpx.Client, chat_body: ChatBody) -> None:
    knobs = {"error_rate": 0.3, "rate_limit_rate": 0.3, "seed": 42}
    http.put("/sim/config", json=knobs).raise_for_status()
    first = statuses(http, chat_body(), 30)
    http.put("/sim/config", json={"seed": 42}).raise_for_status()
    assert statuses(http, chat_body(), 30) == first
    assert {200, 429, 500} <= set(first)


def test_the_same_seed_flag_gives_the_same_faults_in_two_processes(spawn: Spawn) -> None:
    flags = ("--model", "m", "--error-rate", "0.5", "--seed", "7")
    runs = []
    for sim in (spawn(*flags), spawn(*flags)):
        with httpx.Client(base_url=sim.url, timeout=10) as client:
            runs.append(statuses(client, CHAT, 20))
    assert runs[0] == runs[1]
    assert {200, 500} == set(runs[0])
