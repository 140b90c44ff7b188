"""A tier's refusal becomes OpenAI's error body: shape, string code, no credential."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiergate_gateway.core.protocol import tier_error_body, usage_counts

KEY = "sk-live-abcdefghijklmnopqrstuvwxyz"


def _error(raw: bytes, status: int = 400, secret: str | None = KEY) -> dict[str, object]:
    body = orjson.loads(tier_error_body(status, raw, secret))
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


def test_vllm_flat_error_is_wrapped_with_a_string_code() -> None:
    raw = b'{"object":"error","message":"bad n","type":"BadRequestError","param":"n","code":400}'
    assert _error(raw) == {"message": "bad n", "type": "BadRequestError", "param": "n", "code": "invalid_request"}


def test_openai_shaped_error_keeps_its_fields() -> None:
    raw = b'{"error":{"message":"no","type":"invalid_request_error","param":"tools","code":"tool_bad"}}'
    assert _error(raw) == {"message": "no", "type": "invalid_request_error", "param": "tools", "code": "tool_bad"}


@pytest.mark.parametrize("raw", [b"<html>nope</html>", b"", b"[1,2]", b'{"message": 5}', b"\xff\xfe"])
def test_anything_else_gets_a_generic_message(raw: bytes) -> None:
    error = _error(raw, 422)
    assert error["message"] == "the model server rejected the request (422)" and error["code"] == "invalid_request"


def test_the_credential_is_scrubbed_and_long_messages_are_cut() -> None:
    raw = orjson.dumps({"error": {"message": f"headers: Authorization: Bearer {KEY} " + "x" * 10_000}})
    error = _error(raw)
    assert KEY not in str(error["message"]) and "[redacted]" in str(error["message"])
    assert len(str(error["message"])) <= 2000


@given(st.binary(max_size=300), st.integers(400, 499))
def test_any_bytes_give_an_openai_error(raw: bytes, status: int) -> None:
    _error(raw, status)


def test_the_credential_is_scrubbed_from_every_field_even_at_the_cut() -> None:
    message = "x" * 1990 + KEY  # the key straddles the 2,000-character cut
    raw = orjson.dumps({"error": {"message": message, "type": KEY, "param": KEY, "code": KEY}})
    assert KEY[:10] not in tier_error_body(400, raw, KEY).decode()


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -1, "completion_tokens": 3},
        {"prompt_tokens": 1, "completion_tokens": 10**12},
        {"prompt_tokens": True, "completion_tokens": 1},
        {"prompt_tokens": 1.5, "completion_tokens": 1},
        {"prompt_tokens": "7", "completion_tokens": 1},
    ],
)
def test_nonsense_usage_counts_as_unknown(usage: dict[str, object]) -> None:
    assert usage_counts(usage) is None


def test_sane_usage_is_read() -> None:
    assert usage_counts({"prompt_tokens": 7, "completion_tokens": 0}) == (7, 0)
