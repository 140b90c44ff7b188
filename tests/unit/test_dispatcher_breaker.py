"""Circuit breakers driven through the dispatcher: opening after failures, half-opening after the
open period, one probe at a time, closing or reopening on its verdict (virtual time)."""

from __future__ import annotations

import asyncio

from fake_upstream import InProcessGateway, answer, error
from routing_fixtures import policy, snapshot, tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER
from tiergate_gateway.runtime.health import BreakerSettings, CircuitState

REMOTE = "default/remote"
OPEN_SECONDS = 30


def gateway() -> InProcessGateway:
    """A remote tier (the primary for Reasoning) whose circuit opens after 3 failures in a row, and a Local one."""
    tiers = [tier("remote", "32B", local=False), tier("local", "1B")]
    breaker = BreakerSettings(consecutive_failures=3, open_seconds=OPEN_SECONDS)
    return InProcessGateway(snapshot(tiers, policy(["remote", "local"])), breaker=breaker)


async def ask(gw: InProcessGateway) -> str:
    """Which tier answered a Reasoning request."""
    return (await gw.answer(task="Reasoning")).headers[HEADER_TIER]


async def open_the_circuit(gw: InProcessGateway) -> None:
    gw.tiers.script("remote", error(500), error(500), error(500), answer())
    for _ in range(3):
        assert await ask(gw) == "local"
    assert gw.dispatcher.health.state(REMOTE, gw.clock.wall()) == CircuitState.OPEN


def test_the_circuit_opens_after_consecutive_failures_and_the_tier_is_skipped() -> None:
    gw = gateway()

    async def scenario() -> str:
        await open_the_circuit(gw)
        await asyncio.sleep(OPEN_SECONDS - 1)
        result = await gw.answer(task="Reasoning")
        assert result.headers[HEADER_TIER] == "local"
        return result.headers[HEADER_FALLBACK_REASON]

    assert "remote=CircuitOpen" in gw.run(scenario())
    assert gw.tiers.tiers_called.count("remote") == 3  # not tried while open


def test_after_its_open_period_a_successful_probe_closes_the_circuit() -> None:
    gw = gateway()

    async def scenario() -> list[str]:
        await open_the_circuit(gw)
        await asyncio.sleep(OPEN_SECONDS)
        assert gw.dispatcher.health.state(REMOTE, gw.clock.wall()) == CircuitState.HALF_OPEN
        return [await ask(gw), await ask(gw)]

    assert gw.run(scenario()) == ["remote", "remote"]
    assert gw.dispatcher.health.state(REMOTE, gw.clock.wall()) == CircuitState.CLOSED


def test_a_failed_probe_reopens_the_circuit_for_another_open_period() -> None:
    gw = gateway()

    async def scenario() -> list[str]:
        await open_the_circuit(gw)
        gw.tiers.script("remote", error(500), answer())
        await asyncio.sleep(OPEN_SECONDS)
        probed = await ask(gw)  # the probe fails: local answers
        assert gw.dispatcher.health.state(REMOTE, gw.clock.wall()) == CircuitState.OPEN
        await asyncio.sleep(OPEN_SECONDS - 1)
        still_open = await ask(gw)
        await asyncio.sleep(1)
        return [probed, still_open, await ask(gw)]

    assert gw.run(scenario()) == ["local", "local", "remote"]
    assert gw.tiers.tiers_called.count("remote") == 5  # three failures, the failed probe, the good one


def test_a_half_open_circuit_lets_one_probe_through_at_a_time() -> None:
    gw = gateway()

    async def scenario() -> tuple[str, str]:
        await open_the_circuit(gw)
        gw.tiers.script("remote", answer(delay=5))  # the probe takes 5 s to answer
        await asyncio.sleep(OPEN_SECONDS)
        probe = asyncio.create_task(ask(gw))
        await asyncio.sleep(1)
        other = await ask(gw)  # while the probe is out
        return await probe, other

    assert gw.run(scenario()) == ("remote", "local")
    assert gw.dispatcher.health.state(REMOTE, gw.clock.wall()) == CircuitState.CLOSED


def test_a_failed_probe_reopens_a_circuit_another_replica_opened() -> None:
    gw = gateway()  # this replica saw no failure of its own: only the probe's verdict can reopen it
    gw.dispatcher.health.open_until(REMOTE, gw.clock.wall() + OPEN_SECONDS, gw.clock.wall())
    gw.tiers.script("remote", error(500))

    async def scenario() -> list[str]:
        still_open = await ask(gw)
        await asyncio.sleep(OPEN_SECONDS)
        return [still_open, await ask(gw), await ask(gw)]

    assert gw.run(scenario()) == ["local", "local", "local"]
    assert gw.tiers.tiers_called.count("remote") == 1  # the probe, and no second try while open again
    assert gw.dispatcher.health.state(REMOTE, gw.clock.wall()) == CircuitState.OPEN
