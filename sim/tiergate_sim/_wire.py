"""OpenAI's wire format: response bodies, stream chunks (as byte templates) and error bodies.

Stream chunks are the hot part (one per token per choice), so `StreamFrames` builds each
request's constant bytes once and only splices in the choice index and the token. Answers
with a tool call, JSON content or logprobs take `_shaped_wire`'s slower path instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson

from tiergate_sim._requests import Kind, Plan
from tiergate_sim._textgen import answer_text, json_piece

DONE: Final = b"data: [DONE]\n\n"

_ERROR_TYPE_BY_STATUS: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}


def error_type_for(status: int) -> str:
    """OpenAI's `error.type` for an HTTP status."""
    if status >= 500:
        return "server_error"
    return _ERROR_TYPE_BY_STATUS.get(status, "invalid_request_error")


def error_body(message: str, error_type: str, param: str | None, code: str | None) -> bytes:
    """`{"error": {"message", "type", "param", "code"}}`."""
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def usage(plan: Plan) -> dict[str, int]:
    """The `usage` object, counting the tokens of every choice."""
    completion = plan.completion_tokens * plan.choices
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": plan.prompt_tokens + completion,
    }


def response_id(plan: Plan, serial: str) -> str:
    """An id in OpenAI's style: `chatcmpl-…` for chat, `cmpl-…` for completions."""
    return ("chatcmpl-" if plan.kind is Kind.CHAT else "cmpl-") + serial


def completion_body(plan: Plan, answer_id: str, created: int) -> bytes:
    """The whole non-streaming answer: `chat.completion` or `text_completion`."""
    text = answer_text(plan.completion_tokens)
    choices: list[dict[str, Any]]
    if plan.kind is Kind.CHAT:
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": plan.finish_reason,
            }
            for index in range(plan.choices)
        ]
    else:
        choices = [
            {"index": index, "text": text, "logprobs": None, "finish_reason": plan.finish_reason}
            for index in range(plan.choices)
        ]
    return envelope(plan, answer_id, created, choices)


def envelope(plan: Plan, answer_id: str, created: int, choices: list[dict[str, Any]]) -> bytes:
    """A non-streaming answer around its `choices`, with the usage totals."""
    return orjson.dumps(
        {
            "id": answer_id,
            "object": "chat.completion" if plan.kind is Kind.CHAT else "text_completion",
            "created": created,
            "model": plan.model,
            "system_fingerprint": None,
            "choices": choices,
            "usage": usage(plan),
        }
    )


class StreamFrames:
    """The SSE events of one streamed answer, each `data: {...}\\n\\n`, as bytes."""

    __slots__ = ("_chat", "_heads", "_plan", "_prefix", "_tail")

    def __init__(self, plan: Plan, answer_id: str, created: int) -> None:
        self._plan = plan
        self._chat = plan.kind is Kind.CHAT
        obj = b"chat.completion.chunk" if self._chat else b"text_completion"
        self._prefix = b"".join(
            (
                b'data: {"id":',
                orjson.dumps(answer_id),
                b',"object":"',
                obj,
                b'","created":',
                b"%d" % created,
                b',"model":',
                orjson.dumps(plan.model),
                b',"system_fingerprint":null,"choices":[',
            )
        )
        self._heads = tuple(self._prefix + b'{"index":%d,' % index for index in range(plan.choices))
        # With include_usage every chunk carries "usage": null and a last chunk the totals.
        self._tail = b'}],"usage":null}\n\n' if plan.include_usage else b"}]}\n\n"

    def opening(self) -> bytes:
        """The chat role chunks (`delta: {role, content: ""}`); nothing for completions."""
        if not self._chat:
            return b""
        body = b'"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null'
        return b"".join(head + body + self._tail for head in self._heads)

    def token(self, index: int) -> bytes:
        """Token `index` for every choice."""
        piece = json_piece(index)
        if self._chat:
            body = b'"delta":{"content":' + piece + b'},"logprobs":null,"finish_reason":null'
        else:
            body = b'"text":' + piece + b',"logprobs":null,"finish_reason":null'
        return b"".join(head + body + self._tail for head in self._heads)

    def closing(self) -> bytes:
        """The finish_reason chunks, the usage chunk when asked for, and `[DONE]`."""
        reason = orjson.dumps(self._plan.finish_reason)
        if self._chat:
            body = b'"delta":{},"logprobs":null,"finish_reason":' + reason
        else:
            body = b'"text":"","logprobs":null,"finish_reason":' + reason
        frames: list[bytes] = [head + body + self._tail for head in self._heads]
        if self._plan.include_usage:
            frames.append(self._prefix + b'],"usage":' + orjson.dumps(usage(self._plan)) + b"}\n\n")
        frames.append(DONE)
        return b"".join(frames)


def models_body(names: Iterable[str], root: str, created: int, max_model_len: int | None) -> bytes:
    """`GET /v1/models`, in vLLM's shape (with `root` and `max_model_len`)."""
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": created,
                    "owned_by": "tiergate-sim",
                    "root": root,
                    "parent": None,
                    "max_model_len": max_model_len,
                }
                for name in names
            ],
        }
    )
