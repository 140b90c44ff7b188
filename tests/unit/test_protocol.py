"""Request parsing: what routing reads, and clear 4xx errors for everything malformed."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiergate_api.enums import Feature
from tiergate_gateway.errors import GatewayError, InvalidRequestError, UnprocessableError
from tiergate_gateway.protocol import parse_request, sse_error_event


def _chat(**fields: object) -> bytes:
    return orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi there"}], **fields})


def test_reads_only_what_routing_needs_and_keeps_the_rest() -> None:
    parsed = parse_request(_chat(temperature=0.2, max_tokens=50, stream=True, user="u1"), "chat")
    assert (parsed.model, parsed.stream, parsed.max_tokens) == ("auto", True, 50)
    assert parsed.body["temperature"] == 0.2 and parsed.body["user"] == "u1"
    assert parsed.prompt_tokens >= 2


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert parse_request(_chat(max_tokens=10, max_completion_tokens=20), "chat").max_tokens == 20


def test_features_are_detected_from_tools_json_mode_and_images() -> None:
    body = orjson.dumps(
        {
            "model": "auto",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": "data:"}},
                    ],
                }
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "response_format": {"type": "json_object"},
        }
    )
    assert parse_request(body, "chat").features == {Feature.VISION, Feature.TOOLS, Feature.JSON_MODE}


def test_completions_prompt_forms() -> None:
    assert parse_request(orjson.dumps({"model": "m", "prompt": "abcd" * 10}), "completions").prompt_tokens == 10
    assert parse_request(orjson.dumps({"model": "m", "prompt": ["ab", "cd"]}), "completions").prompt_text == "ab\ncd"


@pytest.mark.parametrize(
    ("raw", "endpoint", "error", "needle"),
    [
        (b"{not json", "chat", InvalidRequestError, "not valid JSON"),
        (b"[1, 2]", "chat", InvalidRequestError, "JSON object"),
        (orjson.dumps({"messages": [{"role": "user", "content": "x"}]}), "chat", InvalidRequestError, "'model'"),
        (orjson.dumps({"model": "auto"}), "chat", InvalidRequestError, "'messages'"),
        (orjson.dumps({"model": "auto", "messages": []}), "chat", InvalidRequestError, "'messages'"),
        (orjson.dumps({"model": "auto", "messages": "hi"}), "chat", InvalidRequestError, "'messages'"),
        (orjson.dumps({"model": "auto", "messages": [1]}), "chat", UnprocessableError, "messages[0]"),
        (orjson.dumps({"model": "auto", "messages": [{"role": "robot"}]}), "chat", UnprocessableError, "role"),
        (
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": 5}]}),
            "chat",
            UnprocessableError,
            "content",
        ),
        (_chat(stream="yes"), "chat", UnprocessableError, "'stream'"),
        (_chat(max_tokens=-1), "chat", UnprocessableError, "max_tokens"),
        (_chat(max_tokens="10"), "chat", UnprocessableError, "max_tokens"),
        (orjson.dumps({"model": "auto"}), "completions", InvalidRequestError, "'prompt'"),
        (orjson.dumps({"model": 7, "prompt": "x"}), "completions", InvalidRequestError, "'model'"),
    ],
)
def test_malformed_requests_get_a_4xx_that_says_what_to_change(
    raw: bytes, endpoint: str, error: type[GatewayError], needle: str
) -> None:
    with pytest.raises(error) as caught:
        parse_request(raw, endpoint)  # type: ignore[arg-type]
    assert 400 <= caught.value.status < 500
    assert needle in caught.value.message
    assert set(caught.value.body()["error"]) == {"message", "type", "param", "code"}


_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()


@given(st.recursive(_SCALARS, lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_any_json_either_parses_or_raises_a_gateway_error(value: object) -> None:
    for endpoint in ("chat", "completions"):
        try:
            parse_request(orjson.dumps(value), endpoint)  # type: ignore[arg-type]
        except GatewayError as exc:
            assert 400 <= exc.status < 500


def test_mid_stream_error_event_is_openai_shaped() -> None:
    event = sse_error_event("broken")
    assert event.startswith(b"data: ") and event.endswith(b"data: [DONE]\n\n")
    payload = orjson.loads(event.split(b"\n\n")[0][len(b"data: ") :])
    assert payload["error"]["message"] == "broken"
