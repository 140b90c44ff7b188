"""Checks a completion request body and turns it into a `Plan` of the answer to give.

Only the fields that change the answer are read; everything else passes unexamined, as a
lenient upstream would. Tools, JSON output and logprobs are read by `_shape`, and only when
the body names one of them, so plain requests skip it. Refusals raise `SimRequestError`,
which the app maps to OpenAI's error body at one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from tiergate_sim._errors import SimRequestError, bad_request
from tiergate_sim._shape import CHAT_FIELDS, TEXT_FIELDS, Shape, chat_shape, text_shape
from tiergate_sim._textgen import chat_prefix_text, chat_prompt_tokens, completion_prefix, completion_prompt_sizes
from tiergate_sim.knobs import Knobs, SimConfig

MAX_CHOICES: Final = 128


class Kind(StrEnum):
    """Which endpoint a plan answers, which decides the wire shapes."""

    CHAT = "chat"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything about the answer that does not depend on timing or faults."""

    kind: Kind
    model: str
    prompt_tokens: int
    choices: int
    completion_tokens: int
    """Tokens in each choice."""
    finish_reason: str
    stream: bool
    include_usage: bool
    shape: Shape | None = None
    """Tool call, JSON content or logprobs; None for a plain answer (the fast path)."""
    prefix: str | tuple[int, ...] | None = None
    """The prompt as the prefix cache reads it (text or token ids); None unless prefix caching is on."""


def _model(body: dict[str, Any], config: SimConfig) -> str:
    model = body.get("model")
    if model is None:
        return config.listed_names[0]
    if not isinstance(model, str):
        raise bad_request("'model' must be a string.", "model", "invalid_type")
    if model not in config.accepted_names:
        raise SimRequestError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return model


def _optional_int(body: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad_request(f"'{name}' must be an integer of at least {low}.", name, "invalid_value")
    if high is not None and value > high:
        raise bad_request(f"'{name}' must be at most {high}.", name, "invalid_value")
    return value


def _streaming(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", "stream", "invalid_type")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", "stream_options", "invalid_type")
    include_usage = bool(stream) and bool(options and options.get("include_usage") is True)
    return bool(stream), include_usage


def _length(
    body: dict[str, Any], knobs: Knobs, prompt_tokens: int, prompt_param: str, shape: Shape | None
) -> tuple[int, str]:
    """Tokens per choice and the finish reason, honouring max tokens and the context limit.

    Plain answers have `output_tokens` tokens; JSON content and tool arguments are whole
    (however long) unless the limits cut them, as they would a real model's.
    """
    requested = _optional_int(body, "max_completion_tokens", 1, None)
    if requested is None:
        requested = _optional_int(body, "max_tokens", 1, None)
    limit = requested
    if knobs.max_model_len is not None:
        needed = prompt_tokens + (requested or 1)
        if needed > knobs.max_model_len:
            raise bad_request(
                f"This model's maximum context length is {knobs.max_model_len} tokens. "
                f"However, you requested {needed} tokens ({prompt_tokens} in the prompt, "
                f"{needed - prompt_tokens} for the completion). Please reduce the length "
                "of the prompt or completion.",
                prompt_param,
                "context_length_exceeded",
            )
        room = knobs.max_model_len - prompt_tokens
        limit = room if limit is None else min(limit, room)
    if shape is None or shape.pieces is None:
        full, finish = knobs.output_tokens, ("stop" if shape is None else shape.finish_reason)
    else:
        full, finish = len(shape.pieces), shape.finish_reason
    if limit is not None and limit < full:
        return limit, "length"
    return full, finish


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", None, "invalid_type")
    return body


def plan_chat(body: object, config: SimConfig, knobs: Knobs) -> Plan:
    """The answer to a `POST /v1/chat/completions` body."""
    request = _object(body)
    model = _model(request, config)
    messages = request.get("messages")
    if messages is None:
        raise bad_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array.", "messages", "invalid_type")
    if not all(isinstance(message, dict) for message in messages):
        raise bad_request("Each item of 'messages' must be an object.", "messages", "invalid_type")
    prompt_tokens = chat_prompt_tokens(messages)
    choices = _optional_int(request, "n", 1, MAX_CHOICES) or 1
    stream, include_usage = _streaming(request)
    shape = None if CHAT_FIELDS.isdisjoint(request) else chat_shape(request, messages, knobs.output_tokens)
    tokens, finish = _length(request, knobs, prompt_tokens, "messages", shape)
    prefix = chat_prefix_text(messages) if config.engine.enable_prefix_caching else None
    return Plan(Kind.CHAT, model, prompt_tokens, choices, tokens, finish, stream, include_usage, shape, prefix)


def plan_text(body: object, config: SimConfig, knobs: Knobs) -> Plan:
    """The answer to a `POST /v1/completions` body (one choice per prompt and per `n`)."""
    request = _object(body)
    model = _model(request, config)
    if "prompt" not in request:
        raise bad_request("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    sizes = completion_prompt_sizes(request["prompt"])
    if sizes is None:
        raise bad_request(
            "'prompt' must be a string, an array of strings, an array of token ids, "
            "or an array of arrays of token ids.",
            "prompt",
            "invalid_type",
        )
    per_prompt = _optional_int(request, "n", 1, MAX_CHOICES) or 1
    choices = per_prompt * len(sizes)
    if choices > MAX_CHOICES:
        raise bad_request(f"At most {MAX_CHOICES} choices (prompts times n) per request.", "n")
    stream, include_usage = _streaming(request)
    shape = None if TEXT_FIELDS.isdisjoint(request) else text_shape(request)
    tokens, finish = _length(request, knobs, max(sizes), "prompt", shape)
    prefix = completion_prefix(request["prompt"]) if config.engine.enable_prefix_caching else None
    return Plan(Kind.TEXT, model, sum(sizes), choices, tokens, finish, stream, include_usage, shape, prefix)
