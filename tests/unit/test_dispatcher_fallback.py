"""The attempt plan, walked in-process: which tiers are tried, in which order, and what a
Retry-After does to the next requests (fake tiers, virtual time: see tests/fake_upstream.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fake_upstream import Ending, InProcessGateway, Step, answer, error, no_answer, refused
from routing_fixtures import policy, snapshot, tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER
from tiergate_gateway.core.errors import SHOULD_RETRY_HEADER, NoTierAvailableError, TierRateLimitError
from tiergate_gateway.runtime.health import BlockReason
from tiergate_gateway.runtime.limits import LimitReason


def gateway(**policy_options: Any) -> InProcessGateway:
    """Two remote tiers and a Local one; a Reasoning request plans remote-a, remote-b, then local."""
    tiers = [tier("remote-a", "32B", local=False), tier("remote-b", "70B", local=False), tier("local", "1B")]
    return InProcessGateway(snapshot(tiers, policy(["remote-a", "remote-b", "local"], **policy_options)))


def test_falls_back_to_local_when_primary_rate_limited() -> None:
    gw = InProcessGateway(
        snapshot([tier("remote-a", "32B", local=False), tier("local", "1B")], policy(["remote-a", "local"]))
    )
    gw.tiers.script("remote-a", error(429))

    result = gw.run(gw.answer(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote-a", "local"]
    assert result.status == 200
    assert result.headers[HEADER_TIER] == "local"
    assert "remote-a=RateLimited" in result.headers[HEADER_FALLBACK_REASON]


def test_tries_every_planned_tier_in_order_until_one_answers() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", error(503))
    gw.tiers.script("remote-b", refused())

    result = gw.run(gw.answer(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote-a", "remote-b", "local"]
    assert result.headers[HEADER_TIER] == "local"
    assert result.headers[HEADER_FALLBACK_REASON].startswith("remote-a=ServerError; remote-b=ConnectionError")
    assert gw.tiers.sent[0].body["model"] == "model-remote-a"  # each tier gets its own model id
    assert gw.tiers.sent[2].body["model"] == "model-local"


def test_the_first_tier_that_answers_ends_the_walk() -> None:
    gw = gateway()

    result = gw.run(gw.answer(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote-a"]
    assert HEADER_FALLBACK_REASON not in result.headers
    assert gw.tiers.released == 1  # read to its end: the connection goes back to the pool


def test_a_rate_limited_tier_is_skipped_until_its_retry_after_ends_then_used_again() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", error(429, retry_after="120"), answer())

    async def scenario() -> list[str]:
        tiers = []
        for wait in (0, 60, 61):  # t=0: 429; t=60: cooling down; t=121: the cool-down is over
            await asyncio.sleep(wait)
            tiers.append((await gw.answer(task="Reasoning")).headers[HEADER_TIER])
        return tiers

    assert gw.run(scenario()) == ["remote-b", "remote-b", "remote-a"]
    assert gw.tiers.tiers_called == ["remote-a", "remote-b", "remote-b", "remote-a"]


def test_a_tier_cooling_down_is_named_in_the_fallback_reason() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", error(429, retry_after="120"), answer())

    async def scenario() -> str:
        await gw.answer(task="Reasoning")
        return (await gw.answer(task="Reasoning")).headers[HEADER_FALLBACK_REASON]

    assert f"remote-a={BlockReason.COOLING_DOWN}" in gw.run(scenario())


def test_a_failure_the_policy_does_not_retry_on_ends_the_walk() -> None:
    gw = gateway(retry_on=["ServerError"])
    gw.tiers.script("remote-a", error(429))

    with pytest.raises(NoTierAvailableError, match="remote-a: RateLimited"):
        gw.run(gw.answer(task="Reasoning"))
    assert gw.tiers.tiers_called == ["remote-a"]


def test_a_request_the_tier_rejects_as_invalid_is_relayed_without_fallback() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", error(422))

    result = gw.run(gw.answer(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote-a"]
    assert result.status == 422
    assert result.headers[SHOULD_RETRY_HEADER] == "false"


def test_when_every_tier_fails_the_error_names_each_failure() -> None:
    gw = gateway()
    for name in ("remote-a", "remote-b", "local"):
        gw.tiers.script(name, error(500))

    with pytest.raises(NoTierAvailableError) as raised:
        gw.run(gw.answer(task="Reasoning"))

    assert gw.tiers.tiers_called == ["remote-a", "remote-b", "local"]
    assert raised.value.message.count("ServerError (server error (500))") == 3


def test_an_attempt_that_gets_no_answer_times_out_and_falls_back() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", no_answer())

    result = gw.run(gw.answer(task="Reasoning"))

    assert result.headers[HEADER_TIER] == "remote-b"
    assert result.headers[HEADER_FALLBACK_REASON] == "remote-a=Timeout"
    assert gw.tiers.sent[1].at == 30  # the policy's default attempt timeout, to the microsecond


def test_an_answer_that_stops_midway_times_out_and_its_connection_is_dropped() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", Step(ending=Ending.SILENCE))

    result = gw.run(gw.answer(task="Reasoning"))

    assert result.headers[HEADER_FALLBACK_REASON] == "remote-a=Timeout"
    assert gw.tiers.closed == 1  # never given back for reuse: the rest of that answer could still arrive


def test_a_tier_that_starts_cooling_down_while_a_request_walks_its_plan_is_skipped() -> None:
    gw = gateway()
    gw.tiers.script("remote-a", no_answer())
    gw.tiers.script("remote-b", error(429, retry_after="60"), answer())

    async def scenario() -> str:
        walking = asyncio.create_task(gw.answer(task="Reasoning"))  # waits 30 s on remote-a
        await asyncio.sleep(1)
        with pytest.raises(NoTierAvailableError):
            await gw.answer(model="remote-b")  # a request for that tier alone finds it rate limited
        return (await walking).headers[HEADER_FALLBACK_REASON]

    assert gw.run(scenario()).startswith(f"remote-a=Timeout; remote-b={BlockReason.COOLING_DOWN}")
    assert gw.tiers.tiers_called == ["remote-a", "remote-b", "local"]


def test_a_tier_at_its_requests_per_minute_is_passed_over_until_the_next_minute() -> None:
    limited = tier("remote-a", "32B", local=False)
    limited["spec"]["limits"] = {"requestsPerMinute": 1}
    gw = InProcessGateway(snapshot([limited, tier("local", "1B")], policy(["remote-a", "local"])))

    async def scenario() -> list[str]:
        first = await gw.answer(task="Reasoning")
        second = await gw.answer(task="Reasoning")
        assert second.headers[HEADER_FALLBACK_REASON].startswith(f"remote-a={LimitReason.RATE_LIMITED}")
        await asyncio.sleep(60)  # the next minute's window
        third = await gw.answer(task="Reasoning")
        return [result.headers[HEADER_TIER] for result in (first, second, third)]

    assert gw.run(scenario()) == ["remote-a", "local", "remote-a"]


def test_when_every_planned_tier_is_at_its_rate_limit_the_answer_is_429_until_the_window_ends() -> None:
    only = tier("only", "1B")
    only["spec"]["limits"] = {"requestsPerMinute": 1}
    gw = InProcessGateway(snapshot([only], policy(["only"])))

    async def scenario() -> None:
        await gw.answer()
        await asyncio.sleep(15)
        await gw.answer()

    with pytest.raises(TierRateLimitError) as raised:
        gw.run(scenario())
    assert raised.value.headers["retry-after"] == "45"  # virtual time starts on a whole minute
    assert gw.tiers.tiers_called == ["only"]
