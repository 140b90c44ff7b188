"""The access log: one structured line per request, what an operator greps and ships.

Each line says where the request went and what it cost: request id, route, status, latency,
policy, tier, task, tries, fallback reasons, estimated cost, stream or not, tenant, and the
trace id when tracing is on. Never prompt or answer content, never a key.

Why not the `logging` module: a LogRecord plus python-json-logger's formatter cost about
25 us a line here, a tenth of the gateway's whole budget per request. This builds one dict,
encodes it with orjson, and writes what gathered in one write at most every 50 ms (or at
64 KiB): one write syscall per request would cost more than the line itself at low
concurrency. A crash loses at most those 50 ms of lines. Lines share the shape of the
other JSON log lines (`time`, `level`, `name`, `message`).

`TIERGATE_ACCESS_LOG_SAMPLE` (0 to 1) keeps that share of successful requests; every
answer of 400 or more, and every request the client abandoned (499), is always written.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Final

import orjson

from tiergate_gateway.telemetry.batching import BatchedLines

NAME: Final = "tiergate.access"
CLIENT_CLOSED: Final = 499
"""The status logged when the client left before its answer (nginx's convention)."""
FLUSH_BYTES: Final = 64 * 1024


@dataclass(slots=True)
class AccessEntry:
    """What one request did, filled in as it goes."""

    request_id: str
    route: str
    started: float
    """perf_counter() when the request arrived."""
    status: int = 500
    model: str = ""
    policy: str = ""
    tier: str = ""
    task: str = ""
    attempts: int = 0
    fallback: str = ""
    cost_femto: int | None = None
    stream: bool = False
    tenant: str = ""
    error_code: str = ""
    trace_id: str = ""


class AccessLog(BatchedLines):
    """Writes access entries as JSON (or text) lines; sampled, written in batches."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        sample: float = 1.0,
        fmt: str = "json",
        stream: IO[bytes] | None = None,
        chance: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(FLUSH_BYTES)
        self.enabled = enabled
        self.sample = min(1.0, max(0.0, sample))
        self.text = fmt == "text"
        self.stream = stream if stream is not None else sys.stderr.buffer
        self.chance = chance
        self._second = -1
        self._stamp = ""

    def record(self, entry: AccessEntry) -> None:
        """Queue the entry's line (unless sampled out); it is written within FLUSH_SECONDS."""
        if not self.enabled:
            return
        if entry.status < 400 and self.sample < 1.0 and self.chance() >= self.sample:
            return
        self._queue(self._text(entry) if self.text else self._json(entry))

    def _write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or full: losing log lines must not fail requests
            pass

    def _fields(self, entry: AccessEntry) -> dict[str, object]:
        fields: dict[str, object] = {
            "time": self._now(),
            "level": "INFO" if entry.status < 500 else "WARNING",
            "name": NAME,
            "message": "request",
            "request_id": entry.request_id,
            "route": entry.route,
            "status": entry.status,
            "latency_ms": round((time.perf_counter() - entry.started) * 1000, 3),
            "model": entry.model,
            "policy": entry.policy,
            "tier": entry.tier,
            "task": entry.task,
            "attempts": entry.attempts,
            "stream": entry.stream,
        }
        if entry.fallback:
            fields["fallback"] = entry.fallback
        if entry.cost_femto is not None:
            fields["cost_usd"] = entry.cost_femto / 1e15
        if entry.error_code:
            fields["error_code"] = entry.error_code
        if entry.tenant:
            fields["tenant"] = entry.tenant
        if entry.trace_id:
            fields["trace_id"] = entry.trace_id
        return fields

    def _json(self, entry: AccessEntry) -> bytes:
        return orjson.dumps(self._fields(entry), option=orjson.OPT_APPEND_NEWLINE)

    def _text(self, entry: AccessEntry) -> bytes:
        fields = self._fields(entry)
        head = f"{fields.pop('time')} {fields.pop('level')} {fields.pop('name')} {fields.pop('message')}"
        rest = " ".join(f"{key}={value}" for key, value in fields.items() if value != "")
        return f"{head} {rest}\n".encode()

    def _now(self) -> str:
        """The time as the logging module writes `asctime`, formatted once per second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"
