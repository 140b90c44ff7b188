"""A tier's replicas, walked in-process: which replica answers, when another is tried, what is blamed."""

from __future__ import annotations

import contextlib
from typing import Any

from fake_upstream import Ending, InProcessGateway, error, event_stream, no_answer, refused
from routing_fixtures import policy, snapshot, tier
from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_REPLICA, HEADER_TIER
from tiergate_gateway.core.errors import GatewayError
from tiergate_gateway.runtime.replicas import EjectionSettings


def pool_tier(name: str, replicas: list[str], **picking: Any) -> dict[str, Any]:
    document = tier(name, "1B")
    document["spec"]["endpoint"] = {"urls": [f"http://127.0.0.1:1/{r}" for r in replicas], "locality": "Local"}
    document["spec"]["replicaPicking"] = {"weights": {"kvCache": 0, "prefixAffinity": 0}, **picking}
    return document


def gateway(**options: Any) -> InProcessGateway:
    """`pool` (replicas a and b) first, then the `backup` tier."""
    tiers = [pool_tier("pool", ["a", "b"]), tier("backup", "8B")]
    return InProcessGateway(snapshot(tiers, policy(["pool", "backup"])), **options)


def test_a_failing_replica_is_retried_on_another_replica_of_the_same_tier() -> None:
    gw = gateway()
    gw.tiers.script("a", error(503))  # equal scores: the first request goes to the first replica, a
    result = gw.run(gw.answer())
    assert gw.tiers.tiers_called == ["a", "b"]  # the backup tier was never asked
    assert result.headers[HEADER_TIER] == "pool" and result.headers[HEADER_REPLICA] == "127.0.0.1:1"
    assert "pool[127.0.0.1:1]=ServerError" in result.headers[HEADER_FALLBACK_REASON]


def test_every_replica_failing_moves_the_chain_to_the_next_tier() -> None:
    gw = gateway()
    gw.tiers.script("a", refused())
    gw.tiers.script("b", refused())
    result = gw.run(gw.answer())
    assert sorted(gw.tiers.tiers_called[:2]) == ["a", "b"] and gw.tiers.tiers_called[2] == "backup"
    assert result.headers[HEADER_TIER] == "backup"
    assert "pool=ConnectionError" in result.headers[HEADER_FALLBACK_REASON]


def test_repeated_failures_eject_a_replica_until_its_probe_answers() -> None:
    gw = gateway(ejection=EjectionSettings(consecutive_failures=2, base_seconds=10))
    gw.tiers.script("a", refused())
    pool = gw.replicas.pool("default/pool")
    assert pool is not None

    async def scenario() -> list[str]:
        for _ in range(6):
            await gw.answer()
        return pool.ejected(gw.clock.wall())

    assert gw.run(scenario()) == ["http://127.0.0.1:1/a"]
    calls_to_a = gw.tiers.tiers_called.count("a")
    assert calls_to_a == 2  # ejected after two failures: the other four requests went to b alone
    gw.tiers.script("a")  # healed
    gw.clock.advance(11)
    gw.run(gw.answer())
    gw.run(gw.answer())
    assert gw.tiers.tiers_called.count("a") == calls_to_a + 1 and pool.ejected(gw.clock.wall()) == []


def test_the_callers_deadline_is_not_blamed_on_a_replica() -> None:
    gw = InProcessGateway(snapshot([pool_tier("pool", ["a", "b"])], policy(["pool"])))
    gw.tiers.script("a", no_answer())
    gw.tiers.script("b", no_answer())
    pool = gw.replicas.pool("default/pool")
    assert pool is not None
    with contextlib.suppress(GatewayError):  # whatever the refusal, the point is what was recorded
        gw.run(gw.answer(deadline_seconds=0.5))
    assert gw.tiers.tiers_called == ["a"]  # the deadline ran out on the first replica: no second try
    assert all(replica.failures == 0 and replica.in_flight == 0 for replica in pool.replicas)


def test_a_stream_that_breaks_after_its_first_byte_counts_against_its_replica() -> None:
    gw = gateway()
    gw.tiers.script("a", event_stream(2, then=Ending.BREAK))
    gw.tiers.script("b", event_stream(2, then=Ending.BREAK))
    pool = gw.replicas.pool("default/pool")
    assert pool is not None
    result, received = gw.run(gw.stream())
    assert b'"error"' in received and result.headers[HEADER_REPLICA] == "127.0.0.1:1"
    assert sum(replica.failures for replica in pool.replicas) == 1
    assert all(replica.in_flight == 0 for replica in pool.replicas)


def test_a_tier_without_ready_replicas_is_passed_over() -> None:
    gw = gateway()
    pool = gw.replicas.pool("default/pool")
    assert pool is not None
    pool.set_urls([])
    result = gw.run(gw.answer())
    assert result.headers[HEADER_TIER] == "backup"
    assert "pool=NoReadyReplica" in result.headers[HEADER_FALLBACK_REASON]
