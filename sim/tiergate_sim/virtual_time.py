"""Virtual time: an asyncio event loop whose clock moves only when every task waits.

A scenario runs on `VirtualClock.run`: whenever the loop would sleep until its next timer, the
clock jumps straight to it instead. A 30 s attempt timeout or a day of simulated traffic passes
at once and exactly, and everything that reads the clock (the loop's `time()`, a dispatcher's
`clock` and `timer`) agrees to the microsecond. Used by the dispatcher tests (through
tests/fake_upstream.py) and the capacity simulation (bench/capacity_bench.py), which run the
gateway's real routing and scaling code on it.

Only for scenarios without real I/O or threads: nothing outside the loop can wake it, and a
loop with no timer and nothing ready is a deadlock, reported as such.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

EPOCH = 1_767_268_800.0
"""The wall clock at virtual time 0 by default: 2026-01-01 12:00 UTC (mid-day, far from a budget day's end)."""


class VirtualClock:
    """Time that passes only when every task waits for a timer, jumping straight to the next one."""

    def __init__(self, wall_at_start: float = EPOCH) -> None:
        self._elapsed = 0.0
        self._wall_at_start = wall_at_start

    def monotonic(self) -> float:
        """Seconds since the scenario started: the loop's `time()` and a dispatcher's `timer`."""
        return self._elapsed

    def wall(self) -> float:
        """The wall clock (a dispatcher's `clock`)."""
        return self._wall_at_start + self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time on (timers now due fire at the loop's next turn)."""
        self._elapsed += seconds

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run a scenario to its end on a loop driven by this clock."""
        return asyncio.run(main, loop_factory=lambda: _VirtualTimeLoop(self))


class _IdleSelector(selectors.BaseSelector):
    """Where the loop would sleep until its next timer, moves the clock to it instead."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._real = selectors.DefaultSelector()  # the loop's own wake-up pipe is registered here

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            raise RuntimeError("every task waits for something that never comes (no timer is set)")
        self._clock.advance(timeout)
        return ready

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        self._virtual = clock
        super().__init__(_IdleSelector(clock))

    def time(self) -> float:
        return self._virtual.monotonic()
