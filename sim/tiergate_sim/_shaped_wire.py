"""OpenAI's wire shapes for answers with a `Shape`: tool calls, JSON content and logprobs.

Apart from `_wire` so the plain answers keep their byte templates untouched: these chunks
are built with orjson per token, which costs more, but only requests that ask pay it.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from tiergate_sim._logprobs import chat_logprobs, text_logprobs
from tiergate_sim._requests import Kind, Plan
from tiergate_sim._shape import Shape, ToolCall
from tiergate_sim._textgen import text_piece
from tiergate_sim._wire import StreamFrames, envelope

_NOT_FINISHED = b',"finish_reason":null'


def call_id(answer_id: str, index: int) -> str:
    """The tool call's id in choice `index`: `call_<answer serial>_<index>`."""
    return f"call_{answer_id.partition('-')[2]}_{index}"


def _shape_of(plan: Plan) -> Shape:
    if plan.shape is None:
        raise ValueError("a plain plan goes to _wire, not _shaped_wire")
    return plan.shape


def _tokens(plan: Plan, shape: Shape) -> list[str]:
    """The tokens of each choice, cut to the plan's length."""
    if shape.pieces is not None:
        return list(shape.pieces[: plan.completion_tokens])
    return [text_piece(index) for index in range(plan.completion_tokens)]


def _call_message(call: ToolCall, arguments: str, answer_id: str, index: int) -> dict[str, Any]:
    function = {"name": call.name, "arguments": arguments}
    if call.legacy:
        return {"role": "assistant", "content": None, "function_call": function}
    tool_call = {"id": call_id(answer_id, index), "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [tool_call]}


def shaped_body(plan: Plan, answer_id: str, created: int) -> bytes:
    """The whole non-streaming answer for a shaped plan."""
    shape = _shape_of(plan)
    tokens = _tokens(plan, shape)
    text = "".join(tokens)
    choices: list[dict[str, Any]]
    if plan.kind is Kind.TEXT:
        logprobs = None if shape.logprobs is None else text_logprobs(tokens, 0, 0, shape.logprobs)
        choices = [
            {"index": index, "text": text, "logprobs": logprobs, "finish_reason": plan.finish_reason}
            for index in range(plan.choices)
        ]
    elif shape.call is not None:
        choices = [
            {
                "index": index,
                "message": _call_message(shape.call, text, answer_id, index),
                "logprobs": None,
                "finish_reason": plan.finish_reason,
            }
            for index in range(plan.choices)
        ]
    else:
        logprobs = None if shape.logprobs is None else chat_logprobs(tokens, 0, shape.logprobs)
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "logprobs": logprobs,
                "finish_reason": plan.finish_reason,
            }
            for index in range(plan.choices)
        ]
    return envelope(plan, answer_id, created, choices)


class ShapedFrames(StreamFrames):
    """`StreamFrames` whose opening and token chunks carry a tool call, JSON or logprobs."""

    __slots__ = ("_answer_id", "_offsets", "_shape")

    def __init__(self, plan: Plan, answer_id: str, created: int) -> None:
        super().__init__(plan, answer_id, created)
        self._shape = _shape_of(plan)
        self._answer_id = answer_id
        # Completions' logprobs carry each token's character offset in the answer.
        self._offsets: list[int] = []
        if not self._chat and self._shape.logprobs is not None:
            lengths = (len(self._piece(index)) for index in range(plan.completion_tokens))
            self._offsets = list(itertools.accumulate(lengths, initial=0))

    def _piece(self, index: int) -> str:
        pieces = self._shape.pieces
        return text_piece(index) if pieces is None else pieces[index]

    def opening(self) -> bytes:
        """The role chunks; for a tool call they also name the function, with empty arguments."""
        call = self._shape.call
        if call is None or not self._chat:
            return super().opening()
        frames: list[bytes] = []
        for index, head in enumerate(self._heads):
            function = {"name": call.name, "arguments": ""}
            delta: dict[str, Any] = {"role": "assistant", "content": None}
            if call.legacy:
                delta["function_call"] = function
            else:
                identity = call_id(self._answer_id, index)
                delta["tool_calls"] = [{"index": 0, "id": identity, "type": "function", "function": function}]
            body = b'"delta":' + orjson.dumps(delta) + b',"logprobs":null' + _NOT_FINISHED
            frames.append(head + body + self._tail)
        return b"".join(frames)

    def token(self, index: int) -> bytes:
        """Token `index` for every choice: a content piece, an arguments piece, with its logprobs."""
        piece = self._piece(index)
        shape = self._shape
        delta: dict[str, Any]
        if not self._chat:
            logprobs = None
            if shape.logprobs is not None:
                logprobs = text_logprobs([piece], index, self._offsets[index], shape.logprobs)
            body = b'"text":' + orjson.dumps(piece) + b',"logprobs":' + orjson.dumps(logprobs)
        else:
            call = shape.call
            logprobs = None
            if call is None:
                delta = {"content": piece}
                if shape.logprobs is not None:
                    logprobs = chat_logprobs([piece], index, shape.logprobs)
            elif call.legacy:
                delta = {"function_call": {"arguments": piece}}
            else:
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            body = b'"delta":' + orjson.dumps(delta) + b',"logprobs":' + orjson.dumps(logprobs)
        body += _NOT_FINISHED
        return b"".join(head + body + self._tail for head in self._heads)
