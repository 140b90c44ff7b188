"""What a team's own classifier service said about a request (`spec.classifier.external`), read purely.

The gateway sends the service the client's request body and reads back `{"task": ..., "confidence": ...}`.
Any other outcome (no answer in time, an error status, an answer that names no task) is a verdict too:
the built-in classifier then decides, and explain, metrics and traces say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import orjson

from tiergate_api.enums import Task
from tiergate_api.tasks import task_named

MAX_ANSWER_BYTES: Final = 64 * 1024
"""A classifier's answer is a few bytes; more than this is not an answer."""


class ExternalOutcome(StrEnum):
    """How asking the external classifier ended."""

    OK = "Ok"
    TIMEOUT = "Timeout"
    CONNECTION_ERROR = "ConnectionError"
    HTTP_ERROR = "HttpError"
    INVALID_ANSWER = "InvalidAnswer"
    SECRET_NOT_FOUND = "SecretNotFound"
    CIRCUIT_OPEN = "CircuitOpen"
    """Not asked: it failed several times in a row and is left alone for a while."""


@dataclass(frozen=True, slots=True)
class ExternalVerdict:
    """The outcome of one request to the external classifier; `task` is set only when it is OK."""

    outcome: ExternalOutcome
    detail: str = ""
    latency_ms: float = 0.0
    task: Task | None = None
    confidence: float | None = None
    """The service's own confidence (0 to 1), when it gave one; lowConfidence applies to it."""

    @property
    def failed(self) -> bool:
        """Whether the built-in classifier had to decide instead."""
        return self.outcome != ExternalOutcome.OK


def read_answer(content: bytes) -> tuple[Task, float | None]:
    """The task and optional confidence of an answer body; ValueError (safe to show) when it is not one."""
    if len(content) > MAX_ANSWER_BYTES:
        raise ValueError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ValueError("the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    name = answer.get("task")
    if not isinstance(name, str):
        raise ValueError('the answer has no "task" string')
    task = task_named(name[:64])
    if task is None:
        raise ValueError(f"unknown task {name[:64]!r}; expected one of: {', '.join(t.value for t in Task)}")
    confidence = answer.get("confidence")
    if confidence is None:
        return task, None
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ValueError('"confidence" must be a number from 0 to 1')
    return task, float(confidence)
