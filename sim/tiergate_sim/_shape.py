"""Reads what a request asks beyond plain text (tool calls, JSON output, logprobs) into a `Shape`.

Only requests that carry one of `CHAT_FIELDS` or `TEXT_FIELDS` come here, so plain requests
pay nothing. A field sent as null counts as absent (the official SDKs send nulls). The
choice of tool follows OpenAI's rules but is deterministic: `auto` calls the first tool
unless the last message is a tool's result, so a client's tool loop ends after one round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from tiergate_sim._errors import bad_request
from tiergate_sim._logprobs import MAX_TOP_LOGPROBS
from tiergate_sim._schema import sample
from tiergate_sim._textgen import CHARS_PER_TOKEN, answer_text

CHAT_FIELDS: Final = frozenset(
    {"tools", "tool_choice", "functions", "function_call", "response_format", "logprobs", "top_logprobs"}
)
TEXT_FIELDS: Final = frozenset({"logprobs"})
_RESULT_ROLES: Final = frozenset({"tool", "function"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The one function the answer calls."""

    name: str
    legacy: bool
    """Answer with `function_call` (the request used `functions`) rather than `tool_calls`."""


@dataclass(frozen=True, slots=True)
class Shape:
    """What the answer carries instead of, or besides, the plain fake text."""

    call: ToolCall | None
    pieces: tuple[str, ...] | None
    """The tokens of the JSON content or of the call's arguments; None for the plain text."""
    logprobs: int | None
    """None for no logprobs, else how many alternatives per token (`top_logprobs`, `logprobs`)."""

    @property
    def finish_reason(self) -> str:
        """Why a complete answer stops."""
        if self.call is None:
            return "stop"
        return "function_call" if self.call.legacy else "tool_calls"


def chat_shape(body: dict[str, Any], messages: list[dict[str, Any]], output_tokens: int) -> Shape | None:
    """The shape a chat request asks for, or None when it asks only for plain text."""
    logprobs = _chat_logprobs(body)
    call, parameters = _tool_call(body, messages)
    if call is not None:
        arguments = sample(parameters) if isinstance(parameters, dict) else {}
        text = orjson.dumps(arguments if isinstance(arguments, dict) else {}).decode()
        return Shape(call, split_tokens(text), logprobs)
    content = _json_content(body, output_tokens)
    if content is None and logprobs is None:
        return None
    return Shape(None, None if content is None else split_tokens(content), logprobs)


def text_shape(body: dict[str, Any]) -> Shape | None:
    """The shape a completions request asks for (only `logprobs: N` there), or None."""
    top = _top(body, "logprobs")
    return None if top is None else Shape(None, None, top)


def split_tokens(text: str) -> tuple[str, ...]:
    """`text` cut into tokens of `CHARS_PER_TOKEN` characters (the stream sends one per chunk)."""
    return tuple(text[start : start + CHARS_PER_TOKEN] for start in range(0, len(text), CHARS_PER_TOKEN))


def _top(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOP_LOGPROBS:
        raise bad_request(f"'{name}' must be an integer from 0 to {MAX_TOP_LOGPROBS}.", name, "invalid_value")
    return value


def _chat_logprobs(body: dict[str, Any]) -> int | None:
    wanted = body.get("logprobs")
    if wanted is not None and not isinstance(wanted, bool):
        raise bad_request("'logprobs' must be a boolean.", "logprobs", "invalid_type")
    top = _top(body, "top_logprobs")
    if top is not None and not wanted:
        raise bad_request("'top_logprobs' needs 'logprobs' set to true.", "top_logprobs", "invalid_value")
    return (top or 0) if wanted else None


def _functions(body: dict[str, Any], param: str) -> list[dict[str, Any]]:
    """The function definitions in `tools` (function tools only) or legacy `functions`."""
    value = body.get(param)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{param}' must be an array.", param, "invalid_type")
    found: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if param == "tools":
            if not isinstance(item, dict):
                raise bad_request(f"'tools[{index}]' must be an object.", f"tools[{index}]", "invalid_type")
            if item.get("type") != "function":
                continue  # other tool kinds exist; the simulator never calls them
            item = item.get("function")
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            where = f"tools[{index}].function.name" if param == "tools" else f"functions[{index}].name"
            raise bad_request(f"Missing required parameter: '{where}'.", where, "missing_required_parameter")
        found.append(item)
    return found


def _tool_call(body: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[ToolCall | None, object]:
    """The function to call and its `parameters` schema, or (None, None) for a text answer."""
    legacy = body.get("tools") is None and body.get("tool_choice") is None
    param, choice_param = ("functions", "function_call") if legacy else ("tools", "tool_choice")
    functions = _functions(body, param)
    choice = body.get(choice_param)
    if choice == "none":
        return None, None
    if choice is None or choice == "auto":
        if not functions or messages[-1].get("role") in _RESULT_ROLES:
            return None, None
        chosen = functions[0]
    elif choice == "required" and not legacy:
        if not functions:
            raise bad_request("'tool_choice' is 'required' but no function tools were given.", choice_param)
        chosen = functions[0]
    else:
        name = _named(choice, legacy)
        if name is None:
            raise bad_request(f"Invalid value for '{choice_param}'.", choice_param, "invalid_value")
        matches = [function for function in functions if function["name"] == name]
        if not matches:
            raise bad_request(f"'{choice_param}' names '{name}', which is not among the {param}.", choice_param)
        chosen = matches[0]
    return ToolCall(chosen["name"], legacy), chosen.get("parameters")


def _named(choice: object, legacy: bool) -> str | None:
    """The name in `{"type": "function", "function": {"name": ...}}` (legacy: `{"name": ...}`)."""
    if not isinstance(choice, dict):
        return None
    if not legacy:
        function = choice.get("function")
        if choice.get("type") != "function" or not isinstance(function, dict):
            return None
        choice = function
    name = choice.get("name")
    return name if isinstance(name, str) else None


def _json_content(body: dict[str, Any], output_tokens: int) -> str | None:
    """The JSON text `response_format` asks for, or None for plain text."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise bad_request("'response_format' must be an object.", "response_format", "invalid_type")
    match fmt.get("type"):
        case "text":
            return None
        case "json_object":
            value: Any = {"answer": answer_text(output_tokens)}
        case "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict):
                raise bad_request(
                    "Missing required parameter: 'response_format.json_schema'.",
                    "response_format.json_schema",
                    "missing_required_parameter",
                )
            schema = spec.get("schema")
            value = sample(schema) if isinstance(schema, dict) else {"answer": answer_text(output_tokens)}
        case _:
            raise bad_request(
                "'response_format.type' must be one of 'text', 'json_object', 'json_schema'.",
                "response_format.type",
                "invalid_value",
            )
    return orjson.dumps(value).decode()
