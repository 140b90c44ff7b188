"""An attempt gives back what it took on every exit path: the tier's slot and its half-open probe.

A probe that was never released kept a tier `CircuitOpen` until restart (a request body that
failed to serialise was enough). Each case injects an exception at one step of an attempt
against a half-open tier, in-process, and checks that the next request may probe again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from opentelemetry import trace

from routing_fixtures import policy, snapshot, tier
from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.dispatch import dispatcher as dispatch
from tiergate_gateway.dispatch.dispatcher import Dispatcher
from tiergate_gateway.runtime.health import BreakerSettings, CircuitState, HealthBook
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.telemetry import observe

KEY = "default/only"
ANSWER = orjson.dumps(
    {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
)


class Boom(Exception):
    """The injected failure."""


class _FakeResponse:
    def __init__(self, fail_read: bool) -> None:
        self.status = 200
        self.headers = {"content-type": "application/json", "content-length": str(len(ANSWER))}
        self._parts = [ANSWER]
        self.fail_read = fail_read

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        if self.fail_read:
            raise Boom
        return self._parts.pop() if self._parts else b""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _FakePool:
    def __init__(self, step: str) -> None:
        self.step = step

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> _FakeResponse:
        if self.step == "post":
            raise Boom
        return _FakeResponse(fail_read=self.step == "read")


def _raise(*_: Any, **__: Any) -> Any:
    raise Boom


STEPS = {
    "start_attempt": (observe, "start_attempt"),
    "propagation_headers": (dispatch, "propagation_headers"),
    "upstream_body": (dispatch, "_upstream_body"),
    "post": None,
    "read": None,
    "usage_of": (dispatch, "_usage_of"),
    "account": (Dispatcher, "_account"),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_an_exception_at_any_step_releases_the_slot_and_the_probe(step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = STEPS[step]
    if target is not None:
        monkeypatch.setattr(*target, _raise)
    if step == "propagation_headers":  # reached only with a trace to continue: give the attempt one
        traced = trace.NonRecordingSpan(trace.SpanContext(trace_id=1, span_id=2, is_remote=False))
        monkeypatch.setattr(observe, "start_attempt", lambda *_, **__: traced)
    store = SnapshotStore()
    store.publish(snapshot([tier("only", "1B")], policy(["only"], max_attempts=1)))
    health = HealthBook(BreakerSettings(consecutive_failures=1, open_seconds=10))
    now = 1000.0
    health.record_failure(KEY, now - 20)  # opened 20 s ago: half-open now
    assert health.state(KEY, now) == CircuitState.HALF_OPEN
    dispatcher = Dispatcher(store, _FakePool(step), health=health, clock=lambda: now)  # type: ignore[arg-type]
    parsed = parse_request(b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}', "chat")

    async def attempt() -> None:
        decision = dispatcher.decide(parsed, {"x-tiergate-task": "Chat"})
        await dispatcher.run(parsed, decision)

    with pytest.raises(Exception):  # noqa: B017 - whatever it becomes, it must not leak
        asyncio.run(attempt())
    assert dispatcher.limits.tier_in_flight(KEY) == 0
    if step in ("usage_of", "account"):  # the tier had answered: its verdict settled the probe
        return
    assert health.stats(KEY).probes_in_flight == 0
    assert health.blocked(KEY, now + 1) is None  # the next request may probe again


def test_a_body_nested_too_deep_to_send_is_a_400_and_releases_the_probe() -> None:
    store = SnapshotStore()
    store.publish(snapshot([tier("only", "1B")], policy(["only"], max_attempts=1)))
    health = HealthBook(BreakerSettings(consecutive_failures=1, open_seconds=10))
    health.record_failure(KEY, 0)
    dispatcher = Dispatcher(store, _FakePool("none"), health=health, clock=lambda: 100.0)  # type: ignore[arg-type]
    deep = "[" * 300 + '"x"' + "]" * 300  # orjson reads 1,024 levels but writes only 254
    raw = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + deep.encode() + b"}"
    parsed = parse_request(raw, "chat")

    async def attempt() -> None:
        await dispatcher.run(parsed, dispatcher.decide(parsed, {"x-tiergate-task": "Chat"}))

    with pytest.raises(dispatch.InvalidRequestError):
        asyncio.run(attempt())
    assert health.stats(KEY).probes_in_flight == 0 and health.blocked(KEY, 101) is None


def test_live_figures_of_deleted_tiers_are_dropped_at_the_next_swap() -> None:
    """Tier churn must not grow the health book and the rate windows for ever."""
    store = SnapshotStore()
    store.publish(snapshot([tier("only", "1B"), tier("gone", "1B")], policy(["only", "gone"])))
    dispatcher = Dispatcher(store, _FakePool("none"), clock=lambda: 100.0)  # type: ignore[arg-type]
    parsed = parse_request(b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}', "chat")
    dispatcher.decide(parsed, {"x-tiergate-task": "Chat"})
    dispatcher.health.record_failure("default/gone", 99.0)
    dispatcher.limits._window("default/gone", 99.0)
    store.publish(snapshot([tier("only", "1B")], policy(["only"])))
    dispatcher.decide(parsed, {"x-tiergate-task": "Chat"})
    assert "default/gone" not in dispatcher.health._stats
    assert "default/gone" not in dispatcher.limits._windows
