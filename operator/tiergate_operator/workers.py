"""Per-object reconcile workers: one loop per tier and per policy, woken by watch events.

Each ModelTier and RoutingPolicy gets a Kopf daemon that runs `run_worker`: reconcile,
then sleep until something rings its wake-up (its own spec changed, one of its children
or pods changed, a Secret it references changed, a tier of its namespace changed) or
until the resync interval passes. One worker per object means one writer per object:
passes never overlap, and a burst of events costs one pass (`debounce_seconds`).

A failed pass raises `kopf.TemporaryError` with an exponential back-off (reset by the
next successful pass); Kopf sleeps that long and restarts the worker, which reconciles
at once. Errors that retrying cannot fix are turned into conditions by the reconciler
and never reach here as exceptions, so nothing retries hot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from tiergate_operator import telemetry
from tiergate_operator.errors import ApiError, RetryableError
from tiergate_operator.names import label_value
from tiergate_operator.reconcile import ObjectState, Outcome, Reconciler
from tiergate_operator.settings import OperatorConfig

Key = tuple[str, str, str]
"""(kind, namespace, name) of a reconciled object."""


class Wakeups:
    """The wake-up signal of every running worker, rung by the watch handlers."""

    def __init__(self) -> None:
        self._signals: dict[Key, asyncio.Event] = {}
        self._by_namespace: dict[tuple[str, str], set[Key]] = defaultdict(set)

    def register(self, key: Key) -> asyncio.Event:
        """The signal a worker waits on (created at its start)."""
        signal = self._signals[key] = asyncio.Event()
        self._by_namespace[key[:2]].add(key)
        return signal

    def unregister(self, key: Key, signal: asyncio.Event) -> None:
        """Forget a stopped worker's signal (unless a newer worker of the same name took the key)."""
        if self._signals.get(key) is not signal:
            return
        del self._signals[key]
        keys = self._by_namespace.get(key[:2])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_namespace[key[:2]]

    def ring(self, key: Key) -> None:
        """Wake one worker (nothing happens if it is not running)."""
        signal = self._signals.get(key)
        if signal is not None:
            signal.set()

    def ring_namespace(self, kind: str, namespace: str) -> None:
        """Wake every worker of a kind in a namespace."""
        for key in self._by_namespace.get((kind, namespace), ()):
            self._signals[key].set()

    def ring_tier_label(self, namespace: str, value: str) -> None:
        """Wake the tier whose `tiergate.io/tier` label value this is (pods carry only labels)."""
        for key in self._by_namespace.get(("ModelTier", namespace), ()):
            if label_value(key[2]) == value:
                self._signals[key].set()

    def __len__(self) -> int:
        return len(self._signals)

    def count(self, kind: str) -> int:
        """How many workers of a kind are running."""
        return sum(1 for key in self._signals if key[0] == kind)


@dataclass
class Runtime:
    """What the handlers share for the operator's lifetime (kept in Kopf's memo)."""

    config: OperatorConfig
    reconciler: Reconciler
    wakeups: Wakeups = field(default_factory=Wakeups)
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(16))

    @classmethod
    def create(cls, config: OperatorConfig, reconciler: Reconciler) -> Runtime:
        return cls(config=config, reconciler=reconciler, gate=asyncio.Semaphore(config.max_concurrent_reconciles))


def object_state(memo: Any) -> ObjectState:
    """The per-object state in Kopf's per-object memo (created on first use)."""
    state = memo.get("state") if isinstance(memo, Mapping) else None
    if state is None:
        state = ObjectState()
        memo["state"] = state
    return state


def backoff(config: OperatorConfig, failures: int) -> float:
    """Exponential back-off: initial, twice that, ... up to the maximum."""
    exponent = max(failures - 1, 0)
    return min(config.retry_max_seconds, config.retry_initial_seconds * (2 ** min(exponent, 30)))


async def run_worker(
    runtime: Runtime,
    key: Key,
    state: ObjectState,
    step: Callable[[], Awaitable[Outcome]],
    *,
    stopped: kopf.DaemonStopped,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    on_failure: Callable[[ApiError, int], None] | None = None,
) -> None:
    """Reconcile `key` whenever it is woken or the resync interval passes, until stopped."""
    config = runtime.config
    signal = runtime.wakeups.register(key)
    try:
        while not stopped:
            signal.clear()
            kind, namespace, name = key
            started = time.perf_counter()
            try:
                with telemetry.reconcile_span(kind, namespace, name) as span:
                    try:
                        async with runtime.gate:
                            outcome = await step()
                    except ApiError as exc:
                        span.set_attribute("tiergate.outcome", type(exc).__name__)
                        raise
                    span.set_attribute("tiergate.outcome", "ok")
            except ApiError as exc:
                telemetry.RECONCILES.labels(kind, "error").inc()
                telemetry.RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)
                state.failures += 1
                if on_failure is not None:
                    on_failure(exc, state.failures)
                delay = backoff(config, state.failures) if isinstance(exc, RetryableError) else config.retry_max_seconds
                raise kopf.TemporaryError(f"{exc} (attempt {state.failures}, next in {delay:g}s)", delay=delay) from exc
            telemetry.RECONCILES.labels(kind, "ok").inc()
            telemetry.RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)
            if state.failures:
                logger.info(f"Reconciled after {state.failures} failed attempts.")
            state.failures = 0
            timeout = min(outcome.recheck_after or config.resync_seconds, config.resync_seconds)
            woken = await _wait(signal, stopped, timeout)
            if not woken:
                state.last_status = None  # a resync compares with the live status, not our memory of it
            elif config.debounce_seconds:
                await asyncio.sleep(config.debounce_seconds)
    finally:
        runtime.wakeups.unregister(key, signal)
        if key[0] == "ModelTier":
            runtime.reconciler.census.update(key[1], key[2], None)


async def _wait(signal: asyncio.Event, stopped: kopf.DaemonStopped, timeout: float) -> bool:
    """Sleep until woken (True), stopped or timed out (False)."""

    async def stopping() -> None:
        await stopped.wait()

    woken = asyncio.ensure_future(signal.wait())
    halted = asyncio.ensure_future(stopping())
    try:
        await asyncio.wait({woken, halted}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (woken, halted):
            task.cancel()
        await asyncio.gather(woken, halted, return_exceptions=True)
    return woken.done() and not woken.cancelled()
