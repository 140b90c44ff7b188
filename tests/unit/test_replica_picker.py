"""Replica picking: the scorers, the load bound, the prefix index and outlier ejection (pure, fake clock)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tiergate_gateway.core.replicas import (
    NEUTRAL_KV,
    PickWeights,
    block_hashes,
    chat_prefix_text,
    kv_score,
    pick,
    scores,
)
from tiergate_gateway.runtime.replicas import EjectionSettings, ReplicaPool

URLS = [f"http://r{i}:8000/v1" for i in range(4)]
W = PickWeights()
SYSTEM = "You are a careful assistant for the accounts team. " * 60  # ~3,000 characters


def blocks_of(system: str, user: str = "hello") -> list[int]:
    text = chat_prefix_text({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]})
    return block_hashes(text, W.block_chars, W.max_blocks)


# ---- hashing -------------------------------------------------------------------------------------


def test_prompts_sharing_a_prefix_share_their_leading_block_hashes() -> None:
    first, second = blocks_of(SYSTEM, "question one"), blocks_of(SYSTEM, "another question")
    assert first and first[: len(first) - 1] == second[: len(first) - 1]
    assert blocks_of("x" + SYSTEM)[0] != first[0]


def test_a_block_hash_depends_on_everything_before_it() -> None:
    a = block_hashes("A" * 256 + "B" * 256, 256, 10)
    b = block_hashes("C" * 256 + "B" * 256, 256, 10)
    assert a[1] != b[1]  # same second block, different first: different chain


def test_short_prompts_and_the_block_cap() -> None:
    assert block_hashes("short", 256, 10) == []
    assert len(block_hashes("y" * 256 * 50, 256, 8)) == 8


def test_prefix_text_reads_text_parts_and_ignores_malformed_messages() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]}, 7]}
    assert chat_prefix_text(body) == "user\x1fhi"


# ---- the scorers ---------------------------------------------------------------------------------


def test_least_loaded_replica_wins_without_prefixes() -> None:
    assert pick([3, 1, 2], [NEUTRAL_KV] * 3, {}, 0) == 1


def test_free_kv_cache_breaks_a_tie_in_load() -> None:
    assert pick([1, 1], [kv_score(0.9), kv_score(0.1)], {}, 0) == 1


def test_prefix_affinity_wins_a_small_load_difference_and_loses_a_large_one() -> None:
    kv = [NEUTRAL_KV] * 2
    assert pick([0, 1], kv, {1: 10}, 10) == 1  # one more request in flight: keep the cache
    assert pick([0, 6], kv, {1: 10}, 10) == 0  # far busier: go elsewhere


def test_equal_scores_rotate_with_the_start() -> None:
    picks = {pick([0, 0, 0], [NEUTRAL_KV] * 3, {}, 0, start=start) for start in range(3)}
    assert picks == {0, 1, 2}


def test_skipped_replicas_are_never_picked() -> None:
    assert pick([5, 0], [NEUTRAL_KV] * 2, {1: 4}, 4, skip={1}) == 0
    assert pick([0, 0], [NEUTRAL_KV] * 2, {}, 0, skip={0, 1}) == -1


def test_scores_explain_the_pick() -> None:
    explained = scores(["a", "b"], [0, 1], [NEUTRAL_KV] * 2, {1: 10}, 10, W)
    assert max(explained, key=lambda s: s.total).key == "b"
    assert explained[1].prefix == 1.0 and explained[0].prefix == 0.0
    assert set(explained[0].as_dict()) == {"replica", "score", "queue", "kvCache", "prefix", "overLoadBound"}


loads_strategy = st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=16)


weights_strategy = st.builds(
    PickWeights,
    queue=st.integers(0, 100),
    kv_cache=st.integers(0, 100),
    prefix=st.integers(0, 100),
    affinity_load_bound_percent=st.integers(100, 300),
)


@settings(max_examples=500, deadline=None)
@given(loads=loads_strategy, weights=weights_strategy, data=st.data())
def test_the_load_bound_holds_whatever_the_prefix_says(
    loads: list[int], weights: PickWeights, data: st.DataObject
) -> None:
    """A replica over the bound is chosen only when it would win on load and kv alone."""
    count = len(loads)
    kv = data.draw(st.lists(st.floats(0, 1), min_size=count, max_size=count))
    holders = data.draw(st.dictionaries(st.integers(0, count - 1), st.integers(1, 20), max_size=4))
    chosen = pick(loads, kv, holders, 20, weights)
    bound = sum(loads) / count * weights.affinity_load_bound_percent / 100 + 1
    if loads[chosen] > bound:
        without_prefix = pick(loads, kv, {}, 20, weights)
        assert weights.queue * loads[chosen] - weights.kv_cache * kv[chosen] * (max(loads) + 1) <= (
            weights.queue * loads[without_prefix] - weights.kv_cache * kv[without_prefix] * (max(loads) + 1)
        ) + 1e-6


# ---- the pool ------------------------------------------------------------------------------------


def test_a_shared_prefix_keeps_going_to_the_replica_that_served_it() -> None:
    pool = ReplicaPool(URLS)
    first = pool.choose(blocks_of(SYSTEM, "one"), W, 0.0)
    assert first is not None
    for turn in range(10):
        again = pool.choose(blocks_of(SYSTEM, f"turn {turn}"), W, 0.0)
        assert again is first


def test_load_spreads_when_requests_pile_up() -> None:
    pool = ReplicaPool(URLS)
    for _ in range(12):
        replica = pool.choose([], W, 0.0)
        assert replica is not None
        pool.started(replica)
    assert sorted(r.in_flight for r in pool.replicas) == [3, 3, 3, 3]


def test_a_hot_prefix_overflows_to_other_replicas_at_the_load_bound() -> None:
    # Affinity weighted far above load: only the bound keeps one replica from taking everything.
    greedy = PickWeights(queue=5, kv_cache=0, prefix=100, affinity_load_bound_percent=150)
    pool = ReplicaPool(URLS)
    blocks = blocks_of(SYSTEM)
    served = []
    for _ in range(16):  # none finishes: load builds up on whoever holds the prefix
        replica = pool.choose(blocks, greedy, 0.0)
        assert replica is not None
        pool.started(replica)
        served.append(replica.url)
    assert len(set(served)) > 1
    assert max(r.in_flight for r in pool.replicas) <= 16 / 4 * 1.5 + 1


def test_waiting_requests_reported_by_a_replica_count_as_load_until_stale() -> None:
    pool = ReplicaPool(URLS[:2], stale_after=5.0)
    pool.record_signals(URLS[0], running=8, waiting=20, kv_usage=0.95, now=100.0)
    chosen = pool.choose([], W, 101.0)
    assert chosen is not None and chosen.url == URLS[1]
    pool.expire(106.0)
    assert pool.replicas[0].signals.at < 0
    assert {pool.choose([], W, 106.0).url for _ in range(2)} == set(URLS[:2])  # type: ignore[union-attr]


def test_consecutive_failures_eject_then_one_probe_readmits() -> None:
    pool = ReplicaPool(URLS[:2], ejection=EjectionSettings(consecutive_failures=2, base_seconds=10))
    bad = pool.get(URLS[0])
    assert bad is not None
    for now in (0.0, 1.0):
        pool.started(bad)
        ejected = pool.finished(bad, ok=False, now=now)
    assert ejected and pool.ejected(2.0) == [URLS[0]]
    assert all(pool.choose([], W, 5.0).url == URLS[1] for _ in range(4))  # type: ignore[union-attr]
    probe = next(r for r in (pool.choose([], W, 12.0) for _ in range(2)) if r is not None and r.url == URLS[0])
    pool.started(probe)
    assert all(pool.choose([], W, 12.0).url == URLS[1] for _ in range(4))  # type: ignore[union-attr]
    assert not pool.finished(probe, ok=True, now=12.5)
    assert pool.ejected(13.0) == [] and bad.ejected_until == 0.0


def test_a_failed_probe_ejects_for_longer() -> None:
    pool = ReplicaPool(URLS[:2], ejection=EjectionSettings(consecutive_failures=1, base_seconds=10))
    bad = pool.get(URLS[0])
    assert bad is not None
    pool.started(bad)
    pool.finished(bad, ok=False, now=0.0)
    assert bad.ejected_until == 10.0
    pool.started(bad)
    assert pool.finished(bad, ok=False, now=11.0)  # the probe failed
    assert bad.ejected_until == 31.0


def test_ejection_never_takes_out_more_than_its_share() -> None:
    pool = ReplicaPool(URLS[:2], ejection=EjectionSettings(consecutive_failures=1, max_ejected_percent=50))
    first, second = pool.replicas
    pool.started(first)
    assert pool.finished(first, ok=False, now=0.0)
    pool.started(second)
    assert not pool.finished(second, ok=False, now=0.0)  # the last one in rotation stays
    assert pool.choose([], W, 1.0) is second


def test_replicas_that_stay_keep_their_state_across_discovery_changes() -> None:
    pool = ReplicaPool(URLS[:2])
    kept = pool.get(URLS[1])
    gone = pool.get(URLS[0])
    assert kept is not None and gone is not None
    pool.started(kept)
    pool.started(gone)
    pool.set_urls([URLS[1], URLS[2]])
    assert pool.get(URLS[1]) is kept and kept.in_flight == 1
    pool.finished(gone, ok=False, now=0.0)  # an attempt to a replica that left ends quietly
    assert pool.urls == [URLS[1], URLS[2]]
    assert pool.choose([], W, 0.0) is pool.get(URLS[2])


def test_an_empty_pool_has_no_replica() -> None:
    assert ReplicaPool([]).choose([], W, 0.0) is None


def test_the_prefix_index_is_bounded() -> None:
    pool = ReplicaPool(URLS, index_capacity=100)
    for prompt in range(50):
        pool.choose(blocks_of(f"prompt {prompt} " * 200), W, 0.0)
    assert len(pool._index) <= 100


# ---- remembered prefix hashes ----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    system=st.text(min_size=0, max_size=120),
    turns=st.lists(st.text(max_size=40), max_size=3),
    block_tokens=st.integers(1, 8),
)
def test_remembered_hashes_equal_hashing_the_whole_prompt(system: str, turns: list[str], block_tokens: int) -> None:
    from types import SimpleNamespace

    from tiergate_gateway.core.protocol import parse_request
    from tiergate_gateway.dispatch.replica_tries import PrefixHashes

    weights = PickWeights(block_tokens=block_tokens, max_blocks=16)
    tier = SimpleNamespace(picking=weights)
    hashes = PrefixHashes(capacity=2)
    for turn in [*turns, "last"]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": turn}]
        body = {"model": "auto", "messages": messages}
        parsed = parse_request(orjson.dumps(body), "chat")
        expected = block_hashes(chat_prefix_text(body), weights.block_chars, weights.max_blocks)
        assert hashes.of(parsed, tier) == expected  # type: ignore[arg-type]
