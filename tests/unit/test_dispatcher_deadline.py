"""Time limits in-process: each attempt's own timeout, and the request's deadline shared across
attempts with the Local last resort's time kept back (virtual time: exact and instant)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fake_upstream import InProcessGateway, event_stream, no_answer
from routing_fixtures import policy, snapshot, tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_TIER
from tiergate_gateway.core.errors import NoTierAvailableError

LOCAL_SECONDS = 0.2
"""What the Local tier (and remote-b) are expected to take for a 100-token answer: 100 ms to the
first token, then 1,000 a second."""


def gateway(*, attempt_timeout: int = 3, request_timeout: int | None = None, **remote_a: Any) -> InProcessGateway:
    """remote-a (32B), remote-b (70B), then local, for a Reasoning request."""
    tiers = [
        tier("remote-a", "32B", local=False, **remote_a),
        tier("remote-b", "70B", local=False, ttft=100, tps=1000),
        tier("local", "1B", ttft=100, tps=1000),
    ]
    document = policy(["remote-a", "remote-b", "local"])
    document["spec"]["fallback"]["attemptTimeoutSeconds"] = attempt_timeout
    if request_timeout is not None:
        document["spec"]["fallback"]["requestTimeoutSeconds"] = request_timeout
    return InProcessGateway(snapshot(tiers, document))


def test_each_attempt_gets_the_whole_attempt_timeout_when_no_deadline_is_set() -> None:
    gw = gateway(attempt_timeout=3)
    gw.tiers.script("remote-a", no_answer())
    gw.tiers.script("remote-b", no_answer())

    result = gw.run(gw.answer(task="Reasoning", max_tokens=100))

    assert [sent.at for sent in gw.tiers.sent] == [0, 3, 6]
    assert result.headers[HEADER_FALLBACK_REASON].startswith("remote-a=Timeout; remote-b=Timeout")


def test_the_request_timeout_is_shared_and_the_local_tier_keeps_its_time() -> None:
    gw = gateway(attempt_timeout=3, request_timeout=5)
    gw.tiers.script("remote-a", no_answer())
    gw.tiers.script("remote-b", no_answer())

    result = gw.run(gw.answer(task="Reasoning", max_tokens=100))

    # remote-a: its whole 3 s; remote-b: what is left (2 s) minus the Local tier's expected 0.2 s.
    assert [round(sent.at, 6) for sent in gw.tiers.sent] == [0, 3, 5 - LOCAL_SECONDS]
    assert result.headers[HEADER_TIER] == "local"
    assert result.headers[HEADER_FALLBACK_REASON].startswith("remote-a=Timeout; remote-b=DeadlineExceeded")


def test_a_timeout_cut_short_by_the_callers_deadline_is_not_held_against_the_tier() -> None:
    gw = gateway(attempt_timeout=3, request_timeout=5)
    gw.tiers.script("remote-a", no_answer())
    gw.tiers.script("remote-b", no_answer())

    gw.run(gw.answer(task="Reasoning", max_tokens=100))

    health = gw.dispatcher.health
    assert health.stats("default/remote-a").consecutive_failures == 1
    assert health.stats("default/remote-b").consecutive_failures == 0


def test_the_callers_deadline_overrides_the_policys() -> None:
    gw = gateway(attempt_timeout=3, request_timeout=60)
    gw.tiers.script("remote-a", no_answer())
    gw.tiers.script("remote-b", no_answer())

    gw.run(gw.answer(task="Reasoning", max_tokens=100, deadline_seconds=2))

    assert [round(sent.at, 6) for sent in gw.tiers.sent] == [0, 2 - LOCAL_SECONDS]  # remote-b: no time left


def test_a_tier_whose_first_tokens_came_slowly_is_passed_over_when_time_is_short() -> None:
    gw = gateway(attempt_timeout=10, ttft=100, tps=1000)  # remote-a's priors: 0.2 s for this answer
    gw.tiers.script("remote-a", replace(event_stream(3), delay=6))  # but it took 6 s to its first token

    async def scenario() -> str:
        await gw.stream(task="Reasoning", max_tokens=100)
        return (await gw.answer(task="Reasoning", max_tokens=100, deadline_seconds=6)).headers[HEADER_TIER]

    assert gw.run(scenario()) == "remote-b"  # 6.1 s expected no longer fits 6 s less the Local tier's 0.2


def test_a_tier_too_slow_for_the_time_left_is_passed_over() -> None:
    gw = gateway(request_timeout=5, ttft=10_000)  # remote-a is expected to take 10 s to its first token

    result = gw.run(gw.answer(task="Reasoning", max_tokens=100))

    assert gw.tiers.tiers_called == ["remote-b"]
    assert result.headers[HEADER_FALLBACK_REASON] == "remote-a=DeadlineTooShort"


def test_a_request_whose_deadline_passes_fails_with_deadline_exceeded() -> None:
    gw = gateway(attempt_timeout=3, request_timeout=5)
    for name in ("remote-a", "remote-b", "local"):
        gw.tiers.script(name, no_answer())

    with pytest.raises(NoTierAvailableError) as raised:
        gw.run(gw.answer(task="Reasoning", max_tokens=100))

    assert raised.value.instance_code == "deadline_exceeded"
    assert gw.clock.monotonic() == pytest.approx(5)


def test_a_stream_still_running_at_the_deadline_ends_with_a_deadline_event_and_no_tier_failure() -> None:
    gw = gateway(request_timeout=5)
    gw.tiers.script("remote-a", event_stream(100, gap=1.5))  # 100 events 1.5 s apart

    _, received = gw.run(gw.stream(task="Reasoning", max_tokens=100))

    assert received.count(b'"delta"') == 4  # at 0, 1.5, 3 and 4.5 s; the next would come after the deadline
    assert b'"code":"deadline_exceeded"' in received and received.endswith(b"data: [DONE]\n\n")
    assert gw.clock.monotonic() == pytest.approx(5)
    assert gw.dispatcher.health.stats("default/remote-a").consecutive_failures == 0
