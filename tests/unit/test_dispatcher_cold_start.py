"""Cold in-cluster tiers, walked in-process on virtual time: fall back or wait, wake once, come back.

An autoscaled tier at zero has no ready replica: Interactive requests go down the plan at once
and say why (`ScaledToZero`), Batch requests wait within their bound, the first request that
wants the tier starts it, and when discovery sees a ready replica the traffic returns to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fake_upstream import InProcessGateway, answer
from routing_fixtures import COLD_REPLICA as REPLICA
from routing_fixtures import COLD_SERVICE as SERVICE
from routing_fixtures import COLD_TIER as LOCAL
from routing_fixtures import policy, snapshot, tier, vllm_tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER
from tiergate_gateway.core.errors import NoTierAvailableError
from tiergate_gateway.core.health_view import BlockReason
from tiergate_gateway.core.routing import SkipReason


def gateway(
    latency_class: str = "Interactive",
    *,
    batch_wait: int | None = None,
    tiers: list[str] | None = None,
    **tier_options: Any,
) -> InProcessGateway:
    """`local` (cold, at zero unless told otherwise) first by capability, then the `remote` API."""
    names = tiers or ["local", "remote"]
    document = policy(names, latency_class=latency_class)
    if batch_wait is not None:
        document["spec"]["coldStart"] = {"maxWaitSeconds": {"batch": batch_wait}}
    documents = [vllm_tier(**tier_options), tier("remote", "70B", local=False, price_in="1", price_out="2")]
    gw = InProcessGateway(snapshot([d for d in documents if d["metadata"]["name"] in names], document))
    gw.replicas.discovered(SERVICE, [REPLICA] if tier_options.get("ready") else [])
    return gw


def test_an_interactive_request_falls_back_at_once_and_its_demand_starts_the_tier() -> None:
    gw = gateway()
    result = gw.run(gw.answer())
    assert result.headers[HEADER_TIER] == "remote"
    assert "local=ScaledToZero" in result.headers[HEADER_FALLBACK_REASON]
    assert gw.woken == [LOCAL]
    now = gw.clock.wall()
    assert gw.cold.state(LOCAL, now) == BlockReason.STARTING
    assert gw.cold.demand(LOCAL, now) == 2  # the request, and one more while the tier starts


def test_requests_while_the_tier_starts_fall_back_as_starting_without_a_second_start() -> None:
    gw = gateway()
    gw.run(gw.answer())
    gw.clock.advance(5)
    result = gw.run(gw.answer())
    assert "local=Starting" in result.headers[HEADER_FALLBACK_REASON]
    assert gw.woken == [LOCAL]
    assert gw.cold.demand(LOCAL, gw.clock.wall()) == 3


def test_traffic_returns_to_the_tier_once_a_replica_is_ready() -> None:
    gw = gateway()
    gw.run(gw.answer())
    gw.clock.advance(90)
    gw.replicas.discovered(SERVICE, [REPLICA])  # the pod passed its readiness probe
    result = gw.run(gw.answer())
    assert result.headers[HEADER_TIER] == "local" and HEADER_FALLBACK_REASON not in result.headers
    assert gw.tiers.tiers_called == ["remote", "v1"]
    assert gw.cold.ready_at(LOCAL, gw.clock.wall()) == gw.clock.wall()


def test_a_batch_request_waits_for_the_start_and_is_served_by_the_cheap_tier() -> None:
    gw = gateway("Batch")

    async def scenario() -> tuple[Any, float]:
        started = gw.clock.monotonic()
        pending = asyncio.ensure_future(gw.answer())
        await asyncio.sleep(40)
        assert not pending.done()  # still waiting, well within the default 120 s
        gw.replicas.discovered(SERVICE, [REPLICA])
        result = await pending
        return result, gw.clock.monotonic() - started

    result, took = gw.run(scenario())
    assert result.headers[HEADER_TIER] == "local"
    assert gw.tiers.tiers_called == ["v1"]  # the remote API was never paid
    assert took == pytest.approx(40, abs=0.1)
    assert gw.woken == [LOCAL]


def test_a_batch_request_falls_back_when_its_wait_runs_out() -> None:
    gw = gateway("Batch", batch_wait=10)

    async def scenario() -> tuple[Any, float]:
        started = gw.clock.monotonic()
        result = await gw.answer()
        return result, gw.clock.monotonic() - started

    result, took = gw.run(scenario())
    assert result.headers[HEADER_TIER] == "remote"
    assert "local=Starting" in result.headers[HEADER_FALLBACK_REASON]
    assert took == pytest.approx(10, abs=0.1)


def test_batch_does_not_wait_for_a_start_expected_to_outlast_its_wait() -> None:
    gw = gateway("Batch", batch_wait=60)
    gw.run(gw.answer())  # waits 60 s, in vain: the tier starts, falls back
    gw.clock.advance(140)
    gw.replicas.discovered(SERVICE, [REPLICA])  # this start took 200 s: the book learns it
    gw.replicas.discovered(SERVICE, [])
    gw.cold.set_desired(LOCAL, 0, gw.clock.wall())  # idle again, at zero
    gw.clock.advance(3600)

    async def scenario() -> tuple[Any, float]:
        started = gw.clock.monotonic()
        result = await gw.answer()
        return result, gw.clock.monotonic() - started

    result, took = gw.run(scenario())
    assert result.headers[HEADER_TIER] == "remote" and took < 1
    decision = gw.dispatcher.decide(*_parsed())
    skip = decision.plan.skip_reason("local")
    assert skip is not None and skip.reason == SkipReason.STARTING and "past the 60s" in skip.detail


def test_an_interactive_request_never_waits_even_when_batch_would() -> None:
    gw = gateway("Interactive", batch_wait=3600)

    async def scenario() -> float:
        started = gw.clock.monotonic()
        await gw.answer()
        return gw.clock.monotonic() - started

    assert gw.run(scenario()) < 1


def test_with_nothing_else_to_answer_a_request_waits_for_the_start_instead_of_failing() -> None:
    gw = gateway("Interactive", tiers=["local"])

    async def scenario() -> Any:
        pending = asyncio.ensure_future(gw.answer())
        await asyncio.sleep(20)  # within the policy's 30 s attempt timeout
        gw.replicas.discovered(SERVICE, [REPLICA])
        return await pending

    result = gw.run(scenario())
    assert result.headers[HEADER_TIER] == "local" and gw.woken == [LOCAL]


def test_with_nothing_else_a_start_that_never_ends_is_a_refusal_with_retry_after() -> None:
    gw = gateway("Interactive", tiers=["local"])
    with pytest.raises(NoTierAvailableError) as refused:
        gw.run(gw.answer())
    assert "local: Starting" in refused.value.message or "local=Starting" in refused.value.message
    assert "retry-after" in refused.value.headers


def test_a_tier_scaled_to_zero_by_its_spec_is_skipped_but_never_started() -> None:
    gw = gateway(autoscaled=False, desired=0)
    result = gw.run(gw.answer())
    assert "local=ScaledToZero" in result.headers[HEADER_FALLBACK_REASON]
    assert gw.woken == []  # the operator owns its replica count: starting it would fight the operator
    assert gw.cold.demand(LOCAL, gw.clock.wall()) == 0


def test_a_warm_tier_is_served_and_its_demand_counted() -> None:
    gw = gateway(desired=1, ready=1)
    gw.tiers.script("v1", answer("warm"))
    result = gw.run(gw.answer())
    assert result.headers[HEADER_TIER] == "local" and gw.woken == []
    assert gw.cold.demand(LOCAL, gw.clock.wall()) == 1


def test_explain_names_the_cold_tier_and_why() -> None:
    gw = gateway()
    decision = gw.dispatcher.decide(*_parsed())
    skip = decision.plan.skip_reason("local")
    assert skip is not None and skip.reason == SkipReason.SCALED_TO_ZERO
    assert "does not wait" in skip.detail
    assert [step.tier.name for step in decision.plan.steps] == ["remote"]


def _parsed() -> tuple[Any, dict[str, str]]:
    import orjson

    from tiergate_gateway.core.protocol import parse_request

    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    return parse_request(orjson.dumps(body), "chat"), {"x-tiergate-task": "Chat"}
