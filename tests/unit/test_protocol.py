"""Request parsing: what routing reads, and clear 4xx errors for everything malformed."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiergate_api.enums import Feature
from tiergate_gateway.core.errors import GatewayError, InvalidRequestError
from tiergate_gateway.core.protocol import parse_request, sse_error_event


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
        (orjson.dumps({"model": "auto", "messages": [1]}), "chat", InvalidRequestError, "messages[0]"),
        (orjson.dumps({"model": "auto", "messages": [{"role": "robot"}]}), "chat", InvalidRequestError, "role"),
        (
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": 5}]}),
            "chat",
            InvalidRequestError,
            "content",
        ),
        (_chat(stream="yes"), "chat", InvalidRequestError, "'stream'"),
        (_chat(max_tokens=-1), "chat", InvalidRequestError, "max_tokens"),
        (_chat(max_tokens="10"), "chat", InvalidRequestError, "max_tokens"),
        (
            orjson.dumps({"model": "auto", "messages": [{"role": ["user"], "content": "x"}]}),
            "chat",
            InvalidRequestError,
            "role",
        ),
        (orjson.dumps({"model": "auto", "messages": [{"role": {"a": 1}}]}), "chat", InvalidRequestError, "role"),
        (orjson.dumps({"model": "auto"}), "completions", InvalidRequestError, "'prompt'"),
        (orjson.dumps({"model": 7, "prompt": "x"}), "completions", InvalidRequestError, "'model'"),
    ],
)
def test_malformed_requests_get_a_4xx_that_says_what_to_change(
    raw: bytes, endpoint: str, error: type[GatewayError], needle: str
) -> None:
    with pytest.raises(error) as caught:
        parse_request(raw, endpoint)  # type: ignore[arg-type]
    assert caught.value.status == 400  # as OpenAI answers a malformed body or a wrong field type
    assert needle in caught.value.message
    error = caught.value.body()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if raw.startswith(b"{") and raw.endswith(b"}"):  # a JSON object: the answer names the wrong field
        assert error["param"]
    assert caught.value.headers["x-should-retry"] == "false"


def test_null_counts_as_absent_for_optional_fields() -> None:
    """The OpenAI SDKs send `null` for options they were given as None."""
    parsed = parse_request(
        _chat(stream=None, max_tokens=None, max_completion_tokens=None, tools=None, response_format=None), "chat"
    )
    assert parsed.stream is False and parsed.max_tokens is None and parsed.features == frozenset()


@pytest.mark.parametrize(
    "extra",
    [
        {"response_format": {"type": ["json_object"]}},
        {"response_format": {"type": {"x": 1}}},
        {"messages": [{"role": "user", "content": [{"type": ["image_url"], "text": "x"}]}]},
    ],
)
def test_unhashable_values_where_strings_belong_are_not_a_crash(extra: dict[str, object]) -> None:
    parsed = parse_request(_chat(**extra), "chat")
    assert Feature.JSON_MODE not in parsed.features and Feature.VISION not in parsed.features


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
