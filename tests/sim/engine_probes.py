"""Helpers for the engine's tests: read /metrics, wait for a gauge, time a stream's first token."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

import httpx

from tiergate_sim.process import SimProcess

WAIT: Final = 5.0
"""Longest wait for the simulator to reach a state (it notices a disconnect a little later)."""


def metrics(sim: SimProcess) -> dict[str, float]:
    """`/metrics` as name -> value (each vLLM series has one label set here)."""
    text = httpx.get(f"{sim.url}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series.split("{", 1)[0]] = float(value)
    return values


def wait_for(sim: SimProcess, condition: Callable[[dict[str, float]], bool], within: float = WAIT) -> dict[str, float]:
    """Poll /metrics until `condition` holds; the metrics that satisfied it."""
    deadline = time.monotonic() + within
    while not condition(values := metrics(sim)):
        assert time.monotonic() < deadline, f"the metrics never got there: {values}"
        time.sleep(0.01)
    return values


@contextlib.contextmanager
def let_go_on_exit() -> Iterator[threading.Event]:
    """An event for holding clients (`first_token_at(hold=...)`), set when the block ends, even
    by a failure: enter it inside the thread pool's block, so the clients leave before it joins them."""
    leave = threading.Event()
    try:
        yield leave
    finally:
        leave.set()


def chat(content: str, *, system: str | None = None, stream: bool = False, **extra: object) -> dict[str, object]:
    """A chat body (for the default model): an optional system message, then one user message."""
    messages = [{"role": "user", "content": content}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return {"messages": messages, "stream": stream, **extra}


def first_token_at(sim: SimProcess, body: dict[str, object], *, hold: float | threading.Event | None = None) -> float:
    """Stream `body`; the monotonic time its first content token arrived. With `hold` (seconds,
    or an event to wait for), the client then leaves mid-answer; without, it reads to the end."""
    with (
        httpx.Client(base_url=sim.url, timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response,
    ):
        response.raise_for_status()
        lines = response.iter_lines()
        next(line for line in lines if '"delta":{"content"' in line)
        arrived = time.monotonic()
        if isinstance(hold, threading.Event):
            assert hold.wait(30), "the test never let the client go"
        elif hold is not None:
            time.sleep(hold)
        else:
            assert "data: [DONE]" in list(lines)
    return arrived
