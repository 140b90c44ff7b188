"""The bytes on the wire: SSE framing, error bodies, health and metrics, checked raw."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import SimNames

type ChatBody = Callable[..., dict[str, object]]


def sse_events(response: httpx.Response) -> list[str]:
    """The `data:` payloads of a complete SSE body, checking every event's framing."""
    text = response.text
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(event.startswith("data: ") for event in events)
    return [event.removeprefix("data: ") for event in events]


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_stream_is_sse_with_role_first_and_done_last(http: httpx.Client, chat_body: ChatBody) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(stream=True, max_tokens=2))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    *chunks, done = sse_events(response)
    assert done == "[DONE]"
    parsed = [json.loads(chunk) for chunk in chunks]
    assert [chunk["choices"][0]["delta"] for chunk in parsed] == [
        {"role": "assistant", "content": ""},
        {"content": "The"},
        {"content": " quick"},
        {},
    ]
    assert [chunk["choices"][0]["finish_reason"] for chunk in parsed] == [None, None, None, "length"]
    # Without include_usage there is no usage field at all.
    assert all("usage" not in chunk for chunk in parsed)


def test_stream_usage_chunk_comes_just_before_done(http: httpx.Client, chat_body: ChatBody) -> None:
    body = chat_body(stream=True, max_tokens=2, stream_options={"include_usage": True})
    *chunks, usage, done = sse_events(http.post("/v1/chat/completions", json=body))
    assert done == "[DONE]"
    assert all(json.loads(chunk)["usage"] is None for chunk in chunks)
    usage_chunk = json.loads(usage)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_stream_with_several_choices_interleaves_them(http: httpx.Client, chat_body: ChatBody) -> None:
    body = chat_body(stream=True, max_tokens=1, n=2)
    *chunks, _ = sse_events(http.post("/v1/chat/completions", json=body))
    indexes = [json.loads(chunk)["choices"][0]["index"] for chunk in chunks]
    assert indexes == [0, 1, 0, 1, 0, 1]


def test_stream_false_answers_json(http: httpx.Client, chat_body: ChatBody) -> None:
    response = http.post("/v1/chat/completions", json=chat_body(stream=False))
    assert response.headers["content-type"] == "application/json"
    assert response.json()["object"] == "chat.completion"


def test_missing_model_uses_the_first_served_name(http: httpx.Client, names: SimNames) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert http.post("/v1/chat/completions", json=body).json()["model"] == names.served


def test_prompt_tokens_count_text_parts_of_multimodal_content(http: httpx.Client) -> None:
    content = [
        {"type": "text", "text": "12345678"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    body = {"messages": [{"role": "user", "content": content}]}
    assert http.post("/v1/chat/completions", json=body).json()["usage"]["prompt_tokens"] == 2


def test_token_id_prompts_count_one_token_per_id(http: httpx.Client, names: SimNames) -> None:
    body = {"model": names.served, "prompt": [[1, 2, 3], [4, 5]], "max_tokens": 1}
    usage = http.post("/v1/completions", json=body).json()["usage"]
    assert usage["prompt_tokens"] == 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sim-small"}, "messages"),
        ({"model": "sim-small", "messages": []}, "messages"),
        ({"model": "sim-small", "messages": "hello"}, "messages"),
        ({"model": 7, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "5"}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ],
)
def test_invalid_chat_requests_get_400(http: httpx.Client, body: dict[str, Any], param: str) -> None:
    error = assert_openai_error(http.post("/v1/chat/completions", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_malformed_json_gets_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions", content=b'{"messages": [', headers={"content-type": "application/json"}
    )
    assert assert_openai_error(response, 400)["code"] == "invalid_json"


def test_non_object_json_gets_400(http: httpx.Client) -> None:
    assert_openai_error(http.post("/v1/chat/completions", json=[1, 2]), 400)


def test_completions_without_prompt_get_400(http: httpx.Client) -> None:
    error = assert_openai_error(http.post("/v1/completions", json={"max_tokens": 2}), 400)
    assert (error["param"], error["code"]) == ("prompt", "missing_required_parameter")


def test_unknown_model_gets_404(http: httpx.Client) -> None:
    body = {"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}
    error = assert_openai_error(http.post("/v1/chat/completions", json=body), 404)
    assert (error["param"], error["code"]) == ("model", "model_not_found")
    assert "gpt-nope" in error["message"]


def test_unknown_path_gets_404_and_wrong_method_405(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/embeddings"), 404)
    response = http.get("/v1/chat/completions")
    assert_openai_error(response, 405)
    assert response.headers["allow"] == "POST"


def test_context_limit_follows_max_model_len(http: httpx.Client, chat_body: ChatBody) -> None:
    http.put("/sim/config", json={"max_model_len": 10}).raise_for_status()
    long_prompt = {"messages": [{"role": "user", "content": "x" * 40}]}
    error = assert_openai_error(http.post("/v1/chat/completions", json=long_prompt), 400)
    assert error["code"] == "context_length_exceeded"
    # Room is left for 7 tokens after a 3-token prompt: the answer stops there.
    answer = http.post("/v1/chat/completions", json=chat_body()).json()
    assert answer["usage"]["completion_tokens"] == 7
    assert answer["choices"][0]["finish_reason"] == "length"


def test_health_is_an_empty_200(http: httpx.Client) -> None:
    response = http.get("/health")
    assert (response.status_code, response.content) == (200, b"")


def test_metrics_count_outcomes(http: httpx.Client, chat_body: ChatBody) -> None:
    http.post("/v1/chat/completions", json=chat_body())
    http.post("/v1/chat/completions", json=chat_body(), headers={"x-sim-fault": "error"})
    text = http.get("/metrics").text
    assert 'tiergate_sim_requests_total{outcome="ok"} 1' in text
    assert 'tiergate_sim_requests_total{outcome="error"} 1' in text
    assert 'vllm:num_requests_running{engine="0",model_name="sim-small"} 0.0' in text
