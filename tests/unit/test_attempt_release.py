"""An attempt gives back what it took on every exit path: the tier's slot and its half-open probe.

A probe that was never released kept a tier `CircuitOpen` until restart (a request body that
failed to serialise was enough). Each case injects an exception at one step of an attempt
against a half-open tier whose in-flight cap is one, in-process, and checks that the next
request may take the slot and probe again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry import trace

from fake_upstream import FakeResponse, FakeTiers, InProcessGateway, event_stream, no_answer
from routing_fixtures import policy, snapshot, tier
from tiergate_gateway.core.errors import InvalidRequestError
from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.core.views import TierView
from tiergate_gateway.dispatch import dispatcher as dispatch
from tiergate_gateway.dispatch.dispatcher import Dispatcher
from tiergate_gateway.runtime.attempt import Attempt
from tiergate_gateway.runtime.budget import SpendBook
from tiergate_gateway.runtime.health import BreakerSettings, CircuitState, HealthBook
from tiergate_gateway.runtime.limits import Limits
from tiergate_gateway.runtime.state import LocalState
from tiergate_gateway.telemetry import observe

KEY = "default/only"


class Boom(Exception):
    """The injected failure."""


def _raise(*_: Any, **__: Any) -> Any:
    raise Boom


STEPS = {
    "start_attempt": (observe, "start_attempt"),
    "propagation_headers": (dispatch, "propagation_headers"),
    "upstream_body": (dispatch, "_upstream_body"),
    "post": (FakeTiers, "post"),
    "read": (FakeResponse, "read_chunk"),
    "usage_of": (dispatch, "_usage_of"),
    "account": (Dispatcher, "_account"),
}


def half_open_gateway() -> tuple[InProcessGateway, TierView]:
    """One tier that takes one request at a time, its circuit opened 20 s ago for 10 s: half-open now."""
    only = tier("only", "1B")
    only["spec"]["limits"] = {"maxInFlight": 1}
    gw = InProcessGateway(
        snapshot([only], policy(["only"], max_attempts=1)),
        breaker=BreakerSettings(consecutive_failures=1, open_seconds=10),
    )
    health = gw.dispatcher.health
    health.record_failure(KEY, gw.clock.wall() - 20)
    assert health.state(KEY, gw.clock.wall()) == CircuitState.HALF_OPEN
    return gw, gw.dispatcher.store.current.tiers[KEY]


def assert_given_back(gw: InProcessGateway, view: TierView) -> None:
    assert not gw.dispatcher.limits.at_capacity(view)  # the slot
    assert gw.dispatcher.health.stats(KEY).probes_in_flight == 0
    assert gw.dispatcher.health.blocked(KEY, gw.clock.wall() + 1) is None  # the next request may probe again


@pytest.mark.parametrize("step", list(STEPS))
def test_an_exception_at_any_step_releases_the_slot_and_the_probe(step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(*STEPS[step], _raise)
    if step == "propagation_headers":  # reached only with a trace to continue: give the attempt one
        traced = trace.NonRecordingSpan(trace.SpanContext(trace_id=1, span_id=2, is_remote=False))
        monkeypatch.setattr(observe, "start_attempt", lambda *_, **__: traced)
    gw, view = half_open_gateway()

    with pytest.raises(Boom):
        gw.run(gw.answer())

    assert not gw.dispatcher.limits.at_capacity(view)
    if step in ("usage_of", "account"):  # the tier had answered: its verdict settled the probe
        return
    assert_given_back(gw, view)


def test_a_body_nested_too_deep_to_send_is_a_400_and_releases_the_probe() -> None:
    gw, view = half_open_gateway()
    deep = "[" * 300 + '"x"' + "]" * 300  # orjson reads 1,024 levels but writes only 254
    raw = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + deep.encode() + b"}"
    parsed = parse_request(raw, "chat")

    async def attempt() -> None:
        await gw.dispatcher.run(parsed, gw.dispatcher.decide(parsed, {"x-tiergate-task": "Chat"}))

    with pytest.raises(InvalidRequestError):
        gw.run(attempt())
    assert_given_back(gw, view)


def test_a_request_cancelled_while_it_waits_for_the_tier_releases_the_slot_and_the_probe() -> None:
    gw, view = half_open_gateway()
    gw.tiers.script("only", no_answer())

    async def scenario() -> None:
        request = asyncio.create_task(gw.answer())
        await asyncio.sleep(1)  # the client leaves while the tier thinks
        assert gw.dispatcher.limits.at_capacity(view)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request

    gw.run(scenario())
    assert_given_back(gw, view)
    assert gw.dispatcher.health.stats(KEY).consecutive_failures == 1  # not a verdict on the tier


def test_a_stream_the_client_leaves_midway_gives_its_slot_back() -> None:
    gw, view = half_open_gateway()
    gw.tiers.script("only", event_stream(5))

    async def scenario() -> None:
        answer = await gw.ask(stream=True)
        chunks = answer.chunks  # type: ignore[union-attr]
        await anext(chunks)
        assert gw.dispatcher.limits.at_capacity(view)
        await chunks.aclose()  # what the server does when the client disconnects

    gw.run(scenario())
    assert not gw.dispatcher.limits.at_capacity(view)
    assert gw.tiers.closed == 1  # the tier sees the client leave and stops generating


def test_live_figures_of_deleted_tiers_are_dropped_at_the_next_swap() -> None:
    """Tier churn must not grow the health book and the rate windows for ever."""
    gw = InProcessGateway(snapshot([tier("only", "1B"), tier("gone", "1B")], policy(["only", "gone"])))
    dispatcher = gw.dispatcher
    gw.run(gw.answer())
    dispatcher.health.record_failure("default/gone", gw.clock.wall())
    dispatcher.limits._window("default/gone", gw.clock.wall())
    dispatcher.store.publish(snapshot([tier("only", "1B")], policy(["only"])))
    gw.run(gw.answer())
    assert "default/gone" not in dispatcher.health._stats
    assert "default/gone" not in dispatcher.limits._windows


# -- the attempt object on its own


def _state(cap: int = 1) -> LocalState:
    health = HealthBook(BreakerSettings(consecutive_failures=1, open_seconds=10))
    health.record_failure(KEY, 0.0)  # half-open from t=10
    return LocalState(health, SpendBook(), Limits(tier_default_max_in_flight=cap))


def _busy(state: LocalState) -> bool:
    view = snapshot([tier("only", "1B")], policy(["only"])).tiers[KEY]
    return state.limits.at_capacity(view)


def test_an_attempt_left_by_an_exception_frees_its_slot_and_unused_probe() -> None:
    state = _state()
    with pytest.raises(Boom), Attempt(state, KEY, 20.0):
        assert _busy(state) and state.health.stats(KEY).probes_in_flight == 1
        raise Boom
    assert not _busy(state) and state.health.stats(KEY).probes_in_flight == 0


def test_an_attempt_with_a_verdict_leaves_the_probe_to_the_verdict() -> None:
    state = _state()
    with Attempt(state, KEY, 20.0) as attempt:
        assert attempt.succeeded(20.0) == CircuitState.CLOSED
    assert not _busy(state) and state.health.state(KEY, 20.0) == CircuitState.CLOSED


def test_an_attempt_handed_over_keeps_its_slot_until_released_once() -> None:
    state = _state(cap=2)
    with Attempt(state, KEY, 20.0) as first, Attempt(state, KEY, 20.0) as second:
        first.hand_over()
        second.hand_over()
    assert _busy(state)  # two of two slots, held by their relays
    first.release()
    first.release()
    assert not _busy(state)
    with Attempt(state, KEY, 20.0):
        assert _busy(state)  # two of two again: the second release gave back nothing
    second.release()
    assert not _busy(state)
