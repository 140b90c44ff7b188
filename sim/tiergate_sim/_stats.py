"""What the simulator has seen: counts by outcome and the last requests, for `/sim/stats` and `/metrics`.

Recording keeps references to the raw header list and the parsed body; they are turned
into JSON only when someone asks, so the request path pays for a deque append.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

RECENT_REQUESTS: Final = 32


class Outcome(StrEnum):
    """How a completion request ended."""

    OK = "ok"
    DROPPED = "dropped"
    CLIENT_GONE = "client_gone"
    """The client disconnected while the answer was being delayed or streamed."""
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    HUNG = "hung"
    STATUS_OVERRIDE = "status_override"
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    MODEL_NOT_FOUND = "model_not_found"


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One completion request as it arrived."""

    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    body: Any

    def to_public(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return {"method": self.method, "path": self.path, "headers": headers, "body": self.body}


class Stats:
    """Counters and recent requests of one simulator process."""

    __slots__ = ("in_flight", "outcomes", "recent", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.outcomes: Counter[Outcome] = Counter()
        self.recent: deque[SeenRequest] = deque(maxlen=RECENT_REQUESTS)

    def seen(self, request: SeenRequest) -> None:
        self.requests += 1
        self.recent.append(request)

    def to_public(self) -> dict[str, Any]:
        """The `/sim/stats` document."""
        recent = [request.to_public() for request in self.recent]
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "outcomes": {outcome.value: self.outcomes[outcome] for outcome in Outcome},
            "last_request": recent[-1] if recent else None,
            "recent_requests": recent,
        }

    def reset(self) -> None:
        """Forget everything but the requests still running."""
        self.requests = 0
        self.outcomes.clear()
        self.recent.clear()
