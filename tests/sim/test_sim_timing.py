"""Latency knobs: lower bounds only, since a loaded test machine may always be slower."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

type ChatBody = Callable[..., dict[str, object]]


def test_ttft_delays_a_non_streaming_answer(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"ttft_ms": 300}).raise_for_status()
    started = time.monotonic()
    assert http.post("/v1/chat/completions", json=chat_body()).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_non_streaming_answer_waits_for_every_token(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"ttft_ms": 100, "tokens_per_second": 40}).raise_for_status()
    started = time.monotonic()
    http.post("/v1/chat/completions", json=chat_body(max_tokens=8)).raise_for_status()
    assert time.monotonic() - started >= 0.1 + 8 / 40


def test_ttft_delays_the_first_streamed_token(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"ttft_ms": 300}).raise_for_status()
    started = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if '"content":"The"' in line)
        first_token_after = time.monotonic() - started
        rest = list(lines)
    assert first
    assert first_token_after >= 0.3
    assert rest[-2:] == ["data: [DONE]", ""] or rest[-1] == "data: [DONE]"


def test_prefill_adds_the_prompt_tokens_time_to_ttft(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"ttft_ms": 100, "prefill_tokens_per_second": 2000}).raise_for_status()
    long_prompt = {"messages": [{"role": "user", "content": "z" * 1600}]}  # 400 tokens: 0.2 s
    started = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=chat_body(stream=True, **long_prompt)) as response:
        next(line for line in response.iter_lines() if '"content":"The"' in line)
        first_token_after = time.monotonic() - started
    assert first_token_after >= 0.1 + 0.2


def test_tokens_per_second_paces_the_stream(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"tokens_per_second": 50}).raise_for_status()
    arrivals: list[float] = []
    started = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=chat_body(stream=True, max_tokens=6)) as response:
        for line in response.iter_lines():
            if '"delta":{"content"' in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 6
    # Tokens 2..6 follow the first at 1/50 s intervals. Measured from the request's start:
    # the client may notice the first token late, never the last one early.
    assert arrivals[-1] - started >= 5 / 50


def test_a_client_leaving_mid_stream_ends_the_answer(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"tokens_per_second": 4}).raise_for_status()  # 8 tokens: ~2 s
    with http.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as response:
        next(line for line in response.iter_lines() if '"content":"The"' in line)
    deadline = time.monotonic() + 5
    while (stats := http.get("/sim/stats").json())["outcomes"]["client_gone"] < 1:
        assert time.monotonic() < deadline, "the simulator never noticed the client leaving"
        time.sleep(0.02)
    assert stats["in_flight"] == 0
