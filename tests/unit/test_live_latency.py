"""A tier whose replicas report a long queue ranks as slow until the queue drains."""

from __future__ import annotations

from routing_fixtures import facts, fresh_health, policy, policy_view, tier
from tiergate_api.enums import LatencyClass, Strategy, Task
from tiergate_gateway.core.routing import Note, plan_request
from tiergate_gateway.runtime.live_latency import QueueAwareHealth
from tiergate_gateway.runtime.replicas import ReplicaBook


def names(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [step.tier.name for step in plan.steps]


def test_a_saturated_tier_loses_the_latency_ranking_and_wins_it_back_when_it_drains() -> None:
    fast = tier("fast", "7B", ttft=50, tps=200, local=True)
    slow = tier("slow", "7B", ttft=150, tps=150, local=True)
    view = policy_view([fast, slow], policy(["fast", "slow"], strategy=Strategy.LATENCY.value))
    book = ReplicaBook()
    book.sync(view.all_tiers)
    live = QueueAwareHealth(fresh_health(), book)
    request = facts(Task.CHAT)
    assert names(plan_request(view, request, live, now=1.0))[0] == "fast"
    pool = book.pool("default/fast")
    assert pool is not None
    pool.set_urls(["http://a/v1", "http://b/v1"])
    pool.record_signals("http://a/v1", running=8, waiting=16, kv_usage=0.9, now=1.0)
    pool.record_signals("http://b/v1", running=8, waiting=16, kv_usage=0.9, now=1.0)
    assert pool.queue_factor == 2.0
    assert names(plan_request(view, request, live, now=1.0))[0] == "slow"
    pool.record_signals("http://a/v1", running=3, waiting=0, kv_usage=0.2, now=2.0)
    pool.record_signals("http://b/v1", running=3, waiting=0, kv_usage=0.2, now=2.0)
    assert names(plan_request(view, request, live, now=2.0))[0] == "fast"


def test_stale_signals_stop_counting() -> None:
    book = ReplicaBook(stale_after=5.0)
    fast = tier("fast", "7B", local=True)
    book.sync(policy_view([fast], policy(["fast"])).all_tiers)
    pool = book.pool("default/fast")
    assert pool is not None
    pool.set_urls(["http://a/v1"])
    pool.record_signals("http://a/v1", running=2, waiting=10, kv_usage=None, now=0.0)
    assert book.queue_factor("default/fast") == 5.0
    pool.expire(6.0)
    assert book.queue_factor("default/fast") == 0.0
    assert book.queue_factor("default/unknown") == 0.0


def test_realtime_and_interactive_requests_pass_a_saturated_tier_and_say_so_batch_ones_wait_for_it() -> None:
    small = tier("small", "1.5B", local=True)
    other = tier("other", "3B", local=True)
    view = policy_view([small, other], policy(["small", "other"]))  # Capability: small first
    book = ReplicaBook()
    book.sync(view.all_tiers)
    pool = book.pool("default/small")
    assert pool is not None
    pool.set_urls(["http://a/v1"])
    pool.record_signals("http://a/v1", running=8, waiting=12, kv_usage=0.95, now=1.0)
    live = QueueAwareHealth(fresh_health(), book)
    for latency in (LatencyClass.REALTIME, LatencyClass.INTERACTIVE):
        hurried = plan_request(view, facts(Task.CHAT, latency=latency), live, now=1.0)
        assert names(hurried) == ["other", "small"] and Note.SATURATED_PASSED in hurried.notes
    batch = plan_request(view, facts(Task.CHAT, latency=LatencyClass.BATCH), live, now=1.0)
    assert names(batch)[0] == "small" and Note.SATURATED_PASSED not in batch.notes
    pool.record_signals("http://a/v1", running=8, waiting=2, kv_usage=0.5, now=2.0)  # the queue drained
    assert names(plan_request(view, facts(Task.CHAT, latency=LatencyClass.REALTIME), live, now=2.0))[0] == "small"
