"""OpenAI wire format: the few request fields routing needs, and error and SSE framing.

Only what routing needs is read from a request (model, stream, max_tokens, features and
the text size); everything else passes through untouched. Validation here is shallow on
purpose: the upstream server validates the rest, and the gateway must not reject fields
it does not know. `null` counts as absent for every optional field, as in OpenAI's API. A
wrong shape is a 400 `invalid_request_error` naming the field in `param`, as OpenAI answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from tiergate_api.enums import Feature
from tiergate_gateway.core.errors import InvalidRequestError

Endpoint = Literal["chat", "completions"]
ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
CHARS_PER_TOKEN: Final = 4
TOKENS_PER_MESSAGE: Final = 4
_IMAGE_PARTS: Final = frozenset({"image_url", "input_image", "image"})
_JSON_FORMATS: Final = frozenset({"json_object", "json_schema"})


@dataclass(slots=True)
class ParsedRequest:
    """A validated request: the parsed body plus the facts routing uses."""

    endpoint: Endpoint
    body: dict[str, Any]
    model: str
    stream: bool
    max_tokens: int | None
    prompt_tokens: int
    features: frozenset[Feature]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Chat messages ([] for completions)."""
        return self.body.get("messages", []) if self.endpoint == "chat" else []

    @property
    def prompt_text(self) -> str:
        """The completions prompt as one text ('' for chat)."""
        prompt = self.body.get("prompt", "")
        if isinstance(prompt, list):
            return "\n".join(p for p in prompt if isinstance(p, str))
        return prompt if isinstance(prompt, str) else ""


def parse_request(raw: bytes, endpoint: Endpoint) -> ParsedRequest:
    """Parse and check a chat or completions body; raise a 4xx GatewayError when it is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("'model' is required: a policy alias (such as 'auto') or a tier name", param="model")
    stream = body.get("stream")
    if stream is None:  # OpenAI's API, and so its SDKs, treat null as "not given" for every optional field
        stream = False
    elif not isinstance(stream, bool):
        raise InvalidRequestError("'stream' must be a boolean", param="stream")
    max_tokens = _max_tokens(body)
    if endpoint == "chat":
        chars, features = _chat_size_and_features(body)
        message_count = len(body["messages"])
    else:
        chars, features = _prompt_size(body), frozenset()
        message_count = 0
    features |= _declared_features(body)
    prompt_tokens = -(-chars // CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * message_count
    return ParsedRequest(endpoint, body, model, stream, max_tokens, prompt_tokens, features)


def _max_tokens(body: dict[str, Any]) -> int | None:
    for field in ("max_completion_tokens", "max_tokens"):
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidRequestError(f"'{field}' must be a positive integer", param=field)
        return value
    return None


def _chat_size_and_features(body: dict[str, Any]) -> tuple[int, frozenset[Feature]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' is required: a non-empty list of chat messages", param="messages")
    chars = 0
    vision = False
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{index}] must be an object", param=f"messages[{index}]")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise InvalidRequestError(
                f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}", param=f"messages[{index}].role"
            )
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    raise InvalidRequestError(
                        f"messages[{index}].content parts must be objects", param=f"messages[{index}].content"
                    )
                text = part.get("text")
                if isinstance(text, str):
                    chars += len(text)
                kind = part.get("type")
                if isinstance(kind, str) and kind in _IMAGE_PARTS:
                    vision = True
        elif content is not None:
            raise InvalidRequestError(
                f"messages[{index}].content must be a string, a list of parts or null",
                param=f"messages[{index}].content",
            )
    return chars, frozenset({Feature.VISION}) if vision else frozenset()


def _prompt_size(body: dict[str, Any]) -> int:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return len(prompt)
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return sum(len(p) for p in prompt)
        if all(isinstance(p, int) for p in prompt):  # token ids
            return len(prompt) * CHARS_PER_TOKEN
    raise InvalidRequestError("'prompt' is required: a string or a list of strings", param="prompt")


def _declared_features(body: dict[str, Any]) -> frozenset[Feature]:
    found = set()
    if body.get("tools") or body.get("functions"):
        found.add(Feature.TOOLS)
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if isinstance(kind, str) and kind in _JSON_FORMATS:
        found.add(Feature.JSON_MODE)
    return frozenset(found)


_MAX_TOKENS_REPORTED: Final = 10**9


def usage_counts(usage: object) -> tuple[int, int] | None:
    """(prompt, completion) tokens from a tier's `usage`, or None when absent or nonsense (negative,
    huge, not integers): counting nonsense would corrupt cost, and counters refuse negative steps."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    sane = type(prompt) is int and type(completion) is int
    if sane and 0 <= prompt <= _MAX_TOKENS_REPORTED and 0 <= completion <= _MAX_TOKENS_REPORTED:  # type: ignore[operator]
        return prompt, completion  # type: ignore[return-value]
    return None


_MAX_TIER_MESSAGE: Final = 2000
_CODE_BY_STATUS: Final = {400: "invalid_request", 409: "conflict", 413: "payload_too_large", 422: "invalid_request"}


def tier_error_body(status: int, raw: bytes, secret: str | None = None) -> bytes:
    """A tier's refusal of the request (a 4xx) as OpenAI's error body, never relayed as it came.

    vLLM answers a flat `{"object": "error", "message", "type", "param", "code": 400}` and other
    servers answer HTML or plain text: the client gets `{"error": {...}}` with a string `code`
    (what the SDKs expose), and a message that cannot carry the credential the gateway sent.
    """
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    fields: dict[str, Any] = {}
    if isinstance(parsed, dict):
        fields = parsed["error"] if isinstance(parsed.get("error"), dict) else parsed

    def text(name: str) -> str | None:
        value = fields.get(name)
        if not isinstance(value, str) or not value:
            return None
        if secret:  # before cutting, so no prefix of the credential survives the cut
            value = value.replace(secret, "[redacted]")
        return value[:_MAX_TIER_MESSAGE]

    return error_body(
        text("message") or f"the model server rejected the request ({status})",
        text("type") or "invalid_request_error",
        text("code") or _CODE_BY_STATUS.get(status, "upstream_rejected"),
        text("param"),
    )


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> bytes:
    """OpenAI's error body as bytes."""
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def sse_error_event(message: str, type_: str = "upstream_error", code: str | None = "stream_interrupted") -> bytes:
    """The event that ends a stream that failed after its first byte (the openai client raises on it)."""
    return b"data: " + error_body(message, type_, code) + b"\n\ndata: [DONE]\n\n"
