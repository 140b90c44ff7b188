"""The access log's lines: fields, sampling that never drops errors, one write per loop turn."""

from __future__ import annotations

import asyncio
import io
import time

import orjson

from tiergate_gateway.telemetry.accesslog import AccessEntry, AccessLog


def _entry(status: int = 200, **fields: object) -> AccessEntry:
    entry = AccessEntry("req_1", "/v1/chat/completions", time.perf_counter(), status=status)
    for name, value in fields.items():
        setattr(entry, name, value)
    return entry


class _Sink(io.BytesIO):
    writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


def test_a_json_line_says_where_the_request_went_and_what_it_cost() -> None:
    sink = _Sink()
    AccessLog(stream=sink).record(
        _entry(policy="main", tier="small", task="Chat", attempts=2, fallback="big=RateLimited", cost_femto=1_500_000)
    )
    line = orjson.loads(sink.getvalue())
    assert line["name"] == "tiergate.access" and line["level"] == "INFO" and line["message"] == "request"
    assert {k: line[k] for k in ("request_id", "status", "policy", "tier", "task", "attempts", "fallback")} == {
        "request_id": "req_1",
        "status": 200,
        "policy": "main",
        "tier": "small",
        "task": "Chat",
        "attempts": 2,
        "fallback": "big=RateLimited",
    }
    assert line["cost_usd"] == 1.5e-9 and line["latency_ms"] >= 0 and "trace_id" not in line


def test_sampling_keeps_a_share_of_successes_and_every_error() -> None:
    sink = _Sink()
    log = AccessLog(stream=sink, sample=0.25, chance=iter([0.1, 0.9, 0.3, 0.2] * 10).__next__)
    for _ in range(8):
        log.record(_entry(200))
    log.record(_entry(503, error_code="no_tier_available"))
    log.record(_entry(499))
    statuses = [orjson.loads(line)["status"] for line in sink.getvalue().splitlines()]
    assert statuses == [200, 200, 200, 200, 503, 499]  # chances 0.1 and 0.2 of each four pass the 0.25 share


def test_off_writes_nothing_and_sample_zero_writes_only_errors() -> None:
    sink = _Sink()
    AccessLog(stream=sink, enabled=False).record(_entry(500))
    assert sink.getvalue() == b""
    sampled_out = AccessLog(stream=sink, sample=0)
    sampled_out.record(_entry(200))
    sampled_out.record(_entry(500))
    assert [orjson.loads(line)["status"] for line in sink.getvalue().splitlines()] == [500]


def test_lines_gather_into_one_write_that_comes_soon() -> None:
    sink = _Sink()
    log = AccessLog(stream=sink)

    async def trickle() -> None:
        for _ in range(5):
            log.record(_entry())
            await asyncio.sleep(0.001)
        assert sink.writes == 0  # still gathering
        await asyncio.sleep(0.2)

    asyncio.run(trickle())
    assert sink.writes == 1 and len(sink.getvalue().splitlines()) == 5


def test_a_full_buffer_is_written_at_once() -> None:
    sink = _Sink()
    log = AccessLog(stream=sink)

    async def flood() -> None:
        for _ in range(2000):  # well over 64 KiB of lines
            log.record(_entry(tier="t" * 50))
        assert sink.writes >= 1
        log.flush()

    asyncio.run(flood())
    assert len(sink.getvalue().splitlines()) == 2000


def test_text_format_is_one_readable_line() -> None:
    sink = _Sink()
    AccessLog(stream=sink, fmt="text").record(_entry(429, policy="main", error_code="budget_exceeded"))
    line = sink.getvalue().decode()
    assert line.count("\n") == 1 and " INFO tiergate.access request " in line
    assert "status=429" in line and "error_code=budget_exceeded" in line and "tier=" not in line
