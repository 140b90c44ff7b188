"""Opt-in prompt and answer text for spans: GenAI message shapes, the size cap, streams, and what never goes in."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import INVALID_SPAN

from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.server.api.content import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    TRUNCATED,
    OutputMessages,
    content_capture,
    input_messages,
)
from tiergate_gateway.server.settings import GatewaySettings


def _chat(*messages: dict[str, Any], **body: Any) -> Any:
    return parse_request(orjson.dumps({"model": "auto", "messages": list(messages), **body}), "chat")


def _input(parsed: Any, cap: int = 4096) -> Any:
    return orjson.loads(input_messages(parsed, cap))


def _sse(*events: dict[str, Any] | str, ending: bytes = b"\n\n") -> bytes:
    return b"".join(b"data: " + (e.encode() if isinstance(e, str) else orjson.dumps(e)) + ending for e in events)


def _delta(content: str | None = None, index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def test_chat_messages_become_genai_input_messages_with_text_parts() -> None:
    parsed = _chat({"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"})
    assert _input(parsed) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]},
    ]


def test_images_keep_their_type_but_never_their_data() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,SECRETPIXELS"}}
    parsed = _chat({"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]})
    assert _input(parsed) == [
        {"role": "user", "parts": [{"type": "text", "content": "what is this?"}, {"type": "image_url"}]}
    ]
    assert "SECRETPIXELS" not in input_messages(parsed, 4096)


def test_tool_calls_and_tool_results_are_tool_parts() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}
    parsed = _chat(
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
    )
    assert _input(parsed)[1:] == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}]},
    ]


def test_only_message_content_is_taken_from_the_body() -> None:
    parsed = _chat({"role": "user", "content": "hi"}, user="tenant-secret-id", metadata={"key": "sk-not-content"})
    captured = input_messages(parsed, 4096)
    assert "tenant-secret-id" not in captured and "sk-not-content" not in captured


def test_a_completions_prompt_is_one_user_message() -> None:
    parsed = parse_request(orjson.dumps({"model": "auto", "prompt": "Once upon a time"}), "completions")
    assert _input(parsed) == [{"role": "user", "parts": [{"type": "text", "content": "Once upon a time"}]}]


def test_text_past_the_cap_is_cut_on_a_character_boundary_and_marked_and_the_rest_left_out() -> None:
    parsed = _chat({"role": "user", "content": "ééééé"}, {"role": "user", "content": "never seen"})
    assert _input(parsed, cap=5) == [{"role": "user", "parts": [{"type": "text", "content": "éé" + TRUNCATED}]}]


def test_text_that_fills_the_cap_exactly_is_not_marked() -> None:
    parsed = _chat({"role": "user", "content": "abcd"})
    assert _input(parsed, cap=4) == [{"role": "user", "parts": [{"type": "text", "content": "abcd"}]}]


def test_a_whole_answer_becomes_one_output_message_per_choice() -> None:
    answer = {
        "choices": [
            {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "length"},
            {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "stop"},
        ]
    }
    output = OutputMessages("chat", 4096)
    output.add_answer(orjson.dumps(answer))
    assert orjson.loads(output.to_json()) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "first"}], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "second"}], "finish_reason": "length"},
    ]


def test_a_stream_is_gathered_delta_by_delta_as_chunks_pass() -> None:
    output = OutputMessages("chat", 4096)
    output.feed(_sse(_delta("", role="assistant"), _delta("Hel")))
    output.feed(_sse(_delta("lo"), ending=b"\r\n\r\n"))
    output.feed(_sse(_delta(finish="stop"), "[DONE]"))
    assert orjson.loads(output.to_json()) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
    ]


def test_a_streamed_tool_call_is_put_together_from_its_pieces() -> None:
    first = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "f", "arguments": ""}}
    output = OutputMessages("chat", 4096)
    output.feed(_sse(_delta(tool_calls=[first]), _delta(tool_calls=[{"index": 0, "function": {"arguments": '{"a"'}}])))
    output.feed(_sse(_delta(tool_calls=[{"index": 0, "function": {"arguments": ":1}"}}]), _delta(finish="tool_calls")))
    assert orjson.loads(output.to_json())[0]["parts"] == [
        {"type": "tool_call", "id": "call_9", "name": "f", "arguments": '{"a":1}'}
    ]


def test_a_stream_past_the_cap_is_cut_but_keeps_its_finish_reason() -> None:
    output = OutputMessages("completions", 6)
    for piece in ("abc", "def", "ghi", "jkl"):
        output.feed(_sse({"choices": [{"index": 0, "text": piece, "finish_reason": None}]}))
    output.feed(_sse({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]}))
    assert orjson.loads(output.to_json()) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "abcdef" + TRUNCATED}], "finish_reason": "length"}
    ]


def test_a_stream_that_never_finished_says_error() -> None:
    output = OutputMessages("chat", 4096)
    output.feed(_sse(_delta("partial"), {"error": {"message": "tier failed mid-stream"}}, "[DONE]"))
    assert orjson.loads(output.to_json())[0]["finish_reason"] == "error"


def test_capture_is_off_by_default_and_needs_a_recorded_span() -> None:
    span = TracerProvider().get_tracer("test").start_span("POST /v1/chat/completions")
    assert content_capture(GatewaySettings(), span) is None
    opted_in = GatewaySettings(trace_content=True, trace_content_max_bytes=8)
    assert content_capture(opted_in, INVALID_SPAN) is None  # tracing off: nothing to record on
    capture = content_capture(opted_in, span)
    assert capture is not None
    capture.record_request(_chat({"role": "user", "content": "a long prompt"}))
    capture.record_answer(
        orjson.dumps({"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]})
    )
    span.end()
    assert isinstance(span, ReadableSpan)
    attributes = span.attributes or {}
    assert orjson.loads(str(attributes[INPUT_MESSAGES]))[0]["parts"][0]["content"] == "a long p" + TRUNCATED
    assert orjson.loads(str(attributes[OUTPUT_MESSAGES]))[0]["parts"][0]["content"] == "ok"
