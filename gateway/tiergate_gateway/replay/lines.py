"""One log line in, one replayable request (or the reason it is bad) out (pure).

Accepted shapes (docs/replay.md, "Log format"), one JSON object per line:
- an OpenAI chat or completions request body (`messages` or `prompt`);
- a wrapper `{"request": {...}, "response": {"usage": {...}}, "timestamp": ..., "latency_ms": ...,
  "headers": {...}, "shape": {...}}`, which is also what the gateway's decision log writes;
- an OpenAI Batch API line (`{"custom_id", "method", "url", "body"}`), with the batch output's
  `response.body.usage` when present.
A request logged without its text (a decision log without capture) carries `shape`: the task
and the size the gateway saw, which replay then uses instead of classifying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import orjson

from tiergate_api.constants import HEADER_LATENCY_CLASS, HEADER_TASK
from tiergate_api.enums import Feature, Task
from tiergate_gateway.core.classify import Classification, classify_messages, classify_prompt
from tiergate_gateway.core.decision import parse_latency_class, parse_task
from tiergate_gateway.core.errors import GatewayError
from tiergate_gateway.core.protocol import Endpoint, ParsedRequest, parse_request, usage_counts
from tiergate_gateway.core.routing import DEFAULT_OUTPUT_TOKENS

MAX_LINE_BYTES: Final = 16 * 1024 * 1024
"""Longer lines are reported (LineTooLong), not parsed: the gateway refuses bodies past 10 MiB anyway."""
_MS_EPOCH: Final = 10**11
"""Numeric timestamps above this are milliseconds (1e11 seconds is the year 5138)."""
_FEATURES: Final = {f.value: f for f in Feature}


class BadKind(StrEnum):
    """Why a line could not be replayed (the JSON report's `bad_lines.listed[].kind`)."""

    INVALID_JSON = "InvalidJSON"
    NOT_AN_OBJECT = "NotAnObject"
    INVALID_UTF8 = "InvalidUTF8"
    LINE_TOO_LONG = "LineTooLong"
    NO_REQUEST = "NoRequest"
    INVALID_REQUEST = "InvalidRequest"
    INVALID_FIELD = "InvalidField"
    UNREADABLE_FILE = "UnreadableFile"


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that was not replayed, where it is and why."""

    file: str
    line: int
    kind: BadKind
    detail: str


class _Bad(Exception):
    def __init__(self, kind: BadKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(slots=True)
class LoggedRequest:
    """A request as routing will see it, with the tokens it really used when the log says."""

    endpoint: Endpoint
    parsed: ParsedRequest | None
    """The request with its text; None when it was logged without content."""
    prompt_tokens: int
    """The gateway's estimate from the text (what routing plans with)."""
    max_tokens: int | None
    features: frozenset[Feature]
    stream: bool
    headers: dict[str, str]
    """Routing headers it was sent with (lower-case names)."""
    usage: tuple[int, int] | None
    """(prompt, completion) tokens the answer reported, when logged."""
    timestamp: float | None
    logged_task: Task | None = None
    """The task the gateway used, for requests logged without content."""
    _classified: list[Classification] = field(default_factory=list, repr=False)

    @property
    def billed_tokens(self) -> tuple[int, int]:
        """The tokens a bill counts: the logged usage, else the estimate (routing's default output length)."""
        if self.usage is not None:
            return self.usage
        return self.prompt_tokens, self.max_tokens or DEFAULT_OUTPUT_TOKENS

    def classified_task(self) -> Task:
        """The classifier's task (worked out once, shared by every policy), or the logged one without content."""
        found = self.classification()
        return found.task if found is not None else self.logged_task or Task.CHAT

    def classification(self) -> Classification | None:
        """The classifier's reading of the request (once); None for a request logged without its text."""
        if self.parsed is None:
            return None
        if not self._classified:
            parsed = self.parsed
            self._classified.append(
                classify_messages(parsed.messages) if parsed.endpoint == "chat" else classify_prompt(parsed.prompt_text)
            )
        return self._classified[0]


def parse_line(raw: bytes) -> LoggedRequest:
    """Parse one non-blank line; raise `_Bad` (through `read_line`) when it cannot be replayed."""
    if len(raw) > MAX_LINE_BYTES:
        raise _Bad(BadKind.LINE_TOO_LONG, f"{len(raw)} bytes; at most {MAX_LINE_BYTES}")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _is_bad_utf8(raw):
            raise _Bad(BadKind.INVALID_UTF8, "not UTF-8 text") from None
        raise _Bad(BadKind.INVALID_JSON, f"{exc.msg} at position {exc.pos}") from None
    if not isinstance(document, dict):
        raise _Bad(BadKind.NOT_AN_OBJECT, f"a JSON {type(document).__name__}, not an object")
    body, response, wrapper = _unwrap(document)
    timestamp = _timestamp(wrapper.get("timestamp"))
    headers = _headers(wrapper.get("headers"))
    usage = _usage(response)
    endpoint: Endpoint = "chat" if "messages" in body else "completions"
    if "messages" not in body and "prompt" not in body:
        return _without_content(body, wrapper.get("shape"), headers, usage, timestamp)
    if not isinstance(body.get("model"), str) or not body.get("model"):
        body = {**body, "model": "replay"}  # routing ignores the model a log was sent to: every policy is replayed
    try:
        parsed = parse_request(orjson.dumps(body), endpoint)
    except GatewayError as exc:
        raise _Bad(BadKind.INVALID_REQUEST, exc.message) from None
    return LoggedRequest(
        endpoint,
        parsed,
        parsed.prompt_tokens,
        parsed.max_tokens,
        parsed.features,
        parsed.stream,
        headers,
        usage,
        timestamp,
    )


def read_line(file: str, number: int, raw: bytes) -> LoggedRequest | BadLine:
    """A request, or the bad line's report."""
    try:
        return parse_line(raw)
    except _Bad as bad:
        return BadLine(file, number, bad.kind, bad.detail)


def _is_bad_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


def _unwrap(document: dict[str, Any]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """(request body, response, wrapper) of any accepted shape."""
    if "request" in document:
        body = document["request"]
        where = "request"
    elif "body" in document and "url" in document:  # OpenAI Batch API input line
        body = document["body"]
        where = "body"
    elif "messages" in document or "prompt" in document:
        return document, None, {}
    else:
        raise _Bad(BadKind.NO_REQUEST, "no 'messages', 'prompt', 'request' or batch 'body'")
    if not isinstance(body, dict):
        raise _Bad(BadKind.NO_REQUEST, f"'{where}' must be a JSON object")
    response = document.get("response")
    if isinstance(response, dict) and isinstance(response.get("body"), dict):  # Batch API output line
        response = response["body"]
    return body, response, document


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Bad(BadKind.INVALID_FIELD, "timestamp must be ISO 8601 text or Unix seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise _Bad(BadKind.INVALID_FIELD, f"timestamp {value!r} is not a time")
        return value / 1000 if value > _MS_EPOCH else float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Bad(BadKind.INVALID_FIELD, f"timestamp {value[:40]!r} is not ISO 8601") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # logs without a zone are taken as UTC
        return moment.timestamp()
    raise _Bad(BadKind.INVALID_FIELD, "timestamp must be ISO 8601 text or Unix seconds")


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Bad(BadKind.INVALID_FIELD, "headers must be an object of strings")
    headers = {str(k).lower(): v for k, v in value.items()}
    try:  # the gateway would have answered 400: so is the line bad
        if headers.get(HEADER_TASK):
            parse_task(headers[HEADER_TASK], HEADER_TASK)
        if headers.get(HEADER_LATENCY_CLASS):
            parse_latency_class(headers[HEADER_LATENCY_CLASS])
    except GatewayError as exc:
        raise _Bad(BadKind.INVALID_FIELD, exc.message) from None
    return headers


def _usage(response: Any) -> tuple[int, int] | None:
    if not isinstance(response, dict) or response.get("usage") is None:
        return None
    counts = usage_counts(response["usage"])
    if counts is None:
        raise _Bad(BadKind.INVALID_FIELD, "response.usage needs prompt_tokens and completion_tokens (integers >= 0)")
    return counts


def _without_content(
    body: dict[str, Any], shape: Any, headers: dict[str, str], usage: tuple[int, int] | None, timestamp: float | None
) -> LoggedRequest:
    """A request logged without its text: routing uses the size and the task the log recorded."""
    if not isinstance(shape, dict):
        raise _Bad(BadKind.NO_REQUEST, "the request has no 'messages' or 'prompt' and the line no 'shape'")
    tokens = shape.get("prompt_tokens")
    if type(tokens) is not int or tokens < 0:
        raise _Bad(BadKind.INVALID_FIELD, "shape.prompt_tokens must be an integer >= 0")
    try:
        task = parse_task(str(shape.get("task", "")), "shape.task")
    except GatewayError as exc:
        raise _Bad(BadKind.INVALID_FIELD, exc.message) from None
    names = shape.get("features", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n in _FEATURES for n in names):
        raise _Bad(BadKind.INVALID_FIELD, f"shape.features must list some of {', '.join(_FEATURES)}")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise _Bad(BadKind.INVALID_FIELD, "max_tokens must be a positive integer")
    endpoint: Endpoint = "completions" if shape.get("endpoint") == "completions" else "chat"
    return LoggedRequest(
        endpoint,
        None,
        tokens,
        max_tokens,
        frozenset(_FEATURES[n] for n in names),
        body.get("stream") is True,
        headers,
        usage,
        timestamp,
        logged_task=task,
    )
