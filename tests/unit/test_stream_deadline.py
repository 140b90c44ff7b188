"""A stream's reads are bounded by the request's deadline, and the deadline is told from the tier's silence."""

from __future__ import annotations

import asyncio
import time

import pytest

from tiergate_gateway.upstream.forward import DeadlineReached, _rest


class _Silent:
    """A response whose reads time out, a little early by the clock, as event-loop timers may."""

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        assert timeout is not None
        await asyncio.sleep(timeout * 0.9)
        raise TimeoutError


def _drain(until: float | None, read_timeout: float) -> None:
    async def scenario() -> None:
        async for _ in _rest(_Silent(), read_timeout, until):  # type: ignore[arg-type]
            pass

    asyncio.run(scenario())


def test_a_read_cut_by_the_deadline_is_the_deadline_even_when_the_timer_fires_early() -> None:
    with pytest.raises(DeadlineReached):
        _drain(time.monotonic() + 0.05, read_timeout=10)


def test_a_silence_shorter_than_the_deadline_is_the_tiers_timeout() -> None:
    with pytest.raises(TimeoutError):
        _drain(time.monotonic() + 10, read_timeout=0.05)
    with pytest.raises(TimeoutError):
        _drain(None, read_timeout=0.05)
