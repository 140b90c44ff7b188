"""Prompt and answer text on the server span: opt in with TIERGATE_TRACE_CONTENT=true (off by default).

The attributes are OpenTelemetry's GenAI semantic conventions for content, as of v1.37 (which
replaced the `gen_ai.prompt` and `gen_ai.completion` span events; docs/gen-ai/gen-ai-spans.md,
"Recording content on attributes", of open-telemetry/semantic-conventions):

- `gen_ai.input.messages`: the chat history sent, `[{"role", "parts": [{"type": "text", "content"}]}]`;
- `gen_ai.output.messages`: one message per choice, with its `finish_reason`.

Both are opt-in in the conventions and both are JSON strings here: the conventions allow a JSON
string on spans where structured values are not supported, as in the Python SDK. Parts follow the
conventions' schemas: `text`, `tool_call` (`id`, `name`, `arguments`) and `tool_call_response`
(`id`, `response`); an image, audio or file part appears with its type alone, never its data.

Only message content is taken, from the parsed body and the answer: never a header (so never the
Authorization header or a gateway or tier key) and no other body field. Each attribute holds at
most `trace_content_max_bytes` of text (UTF-8, default 4096): texts are kept in order, the one that
crosses the cap is cut there (on a character boundary) and ends with `…[truncated]`, and what
follows is left out, as the conventions allow ("instrumentations MAY provide a way ... to truncate").
A stream's text is gathered as its chunks pass to the client, up to the same cap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson
from opentelemetry.trace import Span

from tiergate_gateway.core.protocol import Endpoint, ParsedRequest
from tiergate_gateway.server.settings import GatewaySettings
from tiergate_gateway.upstream.streamtap import event_data

INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
TRUNCATED: Final = "…[truncated]"


class _Cap:
    """What is left of one attribute's text allowance."""

    __slots__ = ("cut", "left")

    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.cut = False
        """The allowance ran out: a text was cut, and later texts are left out."""

    def take(self, text: str) -> str:
        """The text, or as much of it as fits followed by the marker."""
        size = len(text.encode())
        if size <= self.left:
            self.left -= size
            return text
        kept = text.encode()[: self.left].decode(errors="ignore")
        self.left, self.cut = 0, True
        return kept + TRUNCATED


def _text(cap: _Cap, text: str) -> dict[str, Any]:
    return {"type": "text", "content": cap.take(text)}


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _tool_call(cap: _Cap, call: object) -> dict[str, Any] | None:
    """A tool call the model asked for (`tool_calls[]` of an assistant message)."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return None
    function = call["function"]
    arguments = _string(function.get("arguments"))
    return {
        "type": "tool_call",
        "id": _string(call.get("id")),
        "name": _string(function.get("name")) or "",
        "arguments": None if arguments is None else cap.take(arguments),
    }


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _input_parts(cap: _Cap, message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if message.get("role") == "tool":
        text = content if isinstance(content, str) else _joined_text(content)
        return [{"type": "tool_call_response", "id": _string(message.get("tool_call_id")), "response": cap.take(text)}]
    parts = []
    if isinstance(content, str):
        parts.append(_text(cap, content))
    elif isinstance(content, list):
        for part in content:
            if cap.cut:
                break
            piece = _string(part.get("text"))  # parse_request checked that every part is an object
            parts.append(_text(cap, piece) if piece is not None else {"type": str(part.get("type", "unknown"))})
    for call in _list(message.get("tool_calls")):
        found = None if cap.cut else _tool_call(cap, call)
        if found is not None:
            parts.append(found)
    return parts


def _joined_text(content: object) -> str:
    return "".join(p["text"] for p in _list(content) if isinstance(p, dict) and isinstance(p.get("text"), str))


def input_messages(parsed: ParsedRequest, max_bytes: int) -> str:
    """`gen_ai.input.messages` of a request: its chat messages, or its prompt as one user message."""
    cap = _Cap(max_bytes)
    if parsed.endpoint == "completions":
        return orjson.dumps([{"role": "user", "parts": [_text(cap, parsed.prompt_text)]}]).decode()
    found = []
    for message in parsed.messages:
        if cap.cut:
            break
        found.append({"role": message.get("role"), "parts": _input_parts(cap, message)})
    return orjson.dumps(found).decode()


class _Choice:
    """One choice of an answer, gathered whole or delta by delta."""

    __slots__ = ("finish_reason", "role", "text", "tool_calls")

    def __init__(self) -> None:
        self.role = "assistant"
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None


class OutputMessages:
    """`gen_ai.output.messages` of an answer: fed a whole body (`add_answer`) or a stream's chunks (`feed`)."""

    def __init__(self, endpoint: Endpoint, max_bytes: int) -> None:
        self._chat = endpoint == "chat"
        self._cap = _Cap(max_bytes)
        self._choices: dict[int, _Choice] = {}

    def add_answer(self, body: bytes) -> None:
        """The choices of a non-streaming answer."""
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        if isinstance(answer, dict):
            self._add(answer, "message")

    def feed(self, chunk: bytes) -> None:
        """The choices' deltas in a chunk of whole stream events, as relayed to the client."""
        for data in event_data(chunk):
            # With the allowance spent only a finish reason can still change the attribute.
            if self._cap.cut and b'"finish_reason":"' not in data and b'"finish_reason": "' not in data:
                continue
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # [DONE], or what a broken tier sent
            if isinstance(event, dict):
                self._add(event, "delta")

    def _add(self, answer: dict[str, Any], field: str) -> None:
        for choice in _list(answer.get("choices")):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            gathered = self._choices.setdefault(index if isinstance(index, int) else 0, _Choice())
            reason = _string(choice.get("finish_reason"))
            if reason is not None:
                gathered.finish_reason = reason
            if self._cap.cut:
                continue
            message = choice.get(field) if self._chat else choice
            if not isinstance(message, dict):
                continue
            gathered.role = _string(message.get("role")) or gathered.role
            text = _string(message.get("content") if self._chat else message.get("text"))
            if text:
                gathered.text.append(self._cap.take(text))
            for call in _list(message.get("tool_calls")):
                self._add_tool_call(gathered, call)

    def _add_tool_call(self, choice: _Choice, call: object) -> None:
        """A tool call, whole or (in a stream) a piece: the first names it, later ones add to its arguments."""
        if not isinstance(call, dict) or self._cap.cut:
            return
        position = call.get("index")
        found = choice.tool_calls.setdefault(
            position if isinstance(position, int) else len(choice.tool_calls),
            {"type": "tool_call", "id": None, "name": "", "arguments": None},
        )
        found["id"] = _string(call.get("id")) or found["id"]
        function = call.get("function")
        if isinstance(function, dict):
            found["name"] = _string(function.get("name")) or found["name"]
            piece = _string(function.get("arguments"))
            if piece is not None:
                found["arguments"] = (found["arguments"] or "") + self._cap.take(piece)

    def to_json(self) -> str:
        """The attribute's value; a choice the tier never finished has the finish reason `error`."""
        messages = []
        for _, choice in sorted(self._choices.items()):
            parts: list[dict[str, Any]] = []
            if choice.text:
                parts.append({"type": "text", "content": "".join(choice.text)})
            parts += [call for _, call in sorted(choice.tool_calls.items())]
            messages.append({"role": choice.role, "parts": parts, "finish_reason": choice.finish_reason or "error"})
        return orjson.dumps(messages).decode()


class ContentCapture:
    """The opt-in content of one request, put on its server span."""

    def __init__(self, span: Span, max_bytes: int) -> None:
        self._span = span
        self._max_bytes = max_bytes
        self._endpoint: Endpoint = "chat"
        self._output: OutputMessages | None = None

    def record_request(self, parsed: ParsedRequest) -> None:
        """The messages (or prompt) sent."""
        self._endpoint = parsed.endpoint
        self._span.set_attribute(INPUT_MESSAGES, input_messages(parsed, self._max_bytes))

    def record_answer(self, body: bytes) -> None:
        """The choices of a whole answer."""
        output = OutputMessages(self._endpoint, self._max_bytes)
        output.add_answer(body)
        self._span.set_attribute(OUTPUT_MESSAGES, output.to_json())

    def watch_stream(self) -> Callable[[bytes], None]:
        """What to call with each chunk relayed to the client; `record_stream_end` once it ends."""
        self._output = OutputMessages(self._endpoint, self._max_bytes)
        return self._output.feed

    def record_stream_end(self) -> None:
        """The choices gathered from the stream (however it ended)."""
        if self._output is not None:
            self._span.set_attribute(OUTPUT_MESSAGES, self._output.to_json())


def content_capture(settings: GatewaySettings, span: Span) -> ContentCapture | None:
    """A capture for this request's span when the settings opt in and the span is recorded, else None."""
    if not settings.trace_content or not span.is_recording():
        return None
    return ContentCapture(span, settings.trace_content_max_bytes)
