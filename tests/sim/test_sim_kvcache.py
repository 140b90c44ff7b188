"""The KV cache and the scheduler in-process: block hashes, accounting, eviction order, FIFO order."""

from __future__ import annotations

import asyncio

from tiergate_sim._engine import Engine
from tiergate_sim._kvcache import BlockPool, block_hashes
from tiergate_sim.knobs import EngineConfig

BLOCK = 16
BLOCK_CHARS = BLOCK * 4


def test_block_hashes_chain_each_block_to_everything_before_it() -> None:
    shared = "a" * BLOCK_CHARS * 2
    one, other = (
        block_hashes(shared + "b" * BLOCK_CHARS, BLOCK, 10),
        block_hashes(shared + "c" * BLOCK_CHARS, BLOCK, 10),
    )
    assert one[:2] == other[:2]
    assert one[2] != other[2]
    # Same third block, different first one: no block is shared, though the tails are equal.
    moved = block_hashes("z" * BLOCK_CHARS + "a" * BLOCK_CHARS + "b" * BLOCK_CHARS, BLOCK, 10)
    assert not set(moved) & set(one)


def test_block_hashes_count_only_full_blocks_up_to_the_limit() -> None:
    assert len(block_hashes("a" * (BLOCK_CHARS * 3 - 1), BLOCK, 10)) == 2
    assert len(block_hashes("a" * BLOCK_CHARS * 5, BLOCK, 3)) == 3
    assert len(block_hashes(tuple(range(BLOCK * 2 + 5)), BLOCK, 10)) == 2  # token ids: one a token


def hold(pool: BlockPool, hashes: tuple[int, ...], hit_limit: int, total_blocks: int) -> tuple[tuple[int, ...], int]:
    """Allocate, and fail the test if the pool has no room."""
    held = pool.allocate(hashes, hit_limit, total_blocks)
    assert held is not None
    return held


def test_shared_blocks_are_held_once_and_freed_when_the_last_holder_leaves() -> None:
    pool = BlockPool(20)
    hashes = block_hashes("a" * BLOCK_CHARS * 4, BLOCK, 4)
    first, first_hits = hold(pool, hashes, 3, 6)  # 4 full prompt blocks, 2 more for the rest
    second, second_hits = hold(pool, hashes, 3, 6)
    assert (first_hits, second_hits) == (0, 3)
    # The second shares 3 blocks; its 4th (the last, never a hit) and 2 more are its own.
    assert (first, second) == (hashes, hashes[:3])
    assert pool.in_use == 6 + 3
    assert pool.usage == 9 / 20
    pool.release(first, 6)
    assert pool.in_use == 6  # blocks the second still holds stay in use
    pool.release(second, 6)
    assert (pool.in_use, pool.cached_blocks) == (0, 4)


def test_allocation_fails_whole_when_the_cache_is_full() -> None:
    pool = BlockPool(8)
    running, _ = hold(pool, (), 0, 6)
    assert pool.allocate((), 0, 3) is None
    assert pool.in_use == 6
    pool.release(running, 6)
    assert pool.allocate((), 0, 8) is not None


def test_reviving_an_idle_hit_takes_room_too() -> None:
    pool = BlockPool(6)
    hashes = block_hashes("a" * BLOCK_CHARS * 3, BLOCK, 3)
    earlier, _ = hold(pool, hashes, 3, 4)
    pool.release(earlier, 4)  # 3 idle cached blocks
    hold(pool, (), 0, 3)
    # 3 hits cost no new blocks but leave the idle pool; 2 more would need 5 of the 3 left.
    assert pool.allocate(hashes, 3, 5) is None
    assert hold(pool, hashes, 2, 3)[1] == 2
    assert pool.in_use == 6


def test_idle_blocks_are_evicted_oldest_first_and_deepest_first() -> None:
    pool = BlockPool(6)
    a = block_hashes("a" * BLOCK_CHARS * 3, BLOCK, 3)
    b = block_hashes("b" * BLOCK_CHARS * 3, BLOCK, 3)
    for hashes in (a, b):
        cached, _ = hold(pool, hashes, 2, 3)
        pool.release(cached, 3)
    assert pool.cached_blocks == 6
    taker, _ = hold(pool, (), 0, 2)  # no room never used: 2 idle blocks go, a's deepest two
    again, hits = hold(pool, a, 3, 3)  # a's first block is left; its 2 others need room: b's deepest two go
    assert hits == 1
    assert pool.cached_blocks == 4
    pool.release(taker, 2)
    pool.release(again, 3)
    assert hold(pool, b, 3, 3)[1] == 1


def test_the_queue_head_is_not_overtaken() -> None:
    async def scenario() -> None:
        engine = Engine(EngineConfig(block_size=BLOCK, num_gpu_blocks_override=8))
        big = [engine.sequence(80, 0, None) for _ in range(2)]  # 5 blocks each: one at a time
        small = engine.sequence(10, 0, None)  # 1 block: it would fit beside a big one
        assert engine.submit(big[0]) is None
        second_admitted = engine.submit(big[1])
        small_admitted = engine.submit(small)
        assert second_admitted is not None and small_admitted is not None
        assert (engine.running, engine.waiting) == (1, 2)
        engine.leave(big[0])
        assert second_admitted.done() and small_admitted.done()
        assert (engine.running, engine.waiting, engine.pool.in_use) == (2, 0, 6)
        for sequence in (big[1], small):
            engine.leave(sequence)
        assert (engine.running, engine.pool.in_use) == (0, 0)

    asyncio.run(scenario())


def test_a_sequence_that_left_the_queue_is_skipped() -> None:
    async def scenario() -> None:
        engine = Engine(EngineConfig(max_num_seqs=1))
        holder, quitter, next_one = (engine.sequence(10, 5, None) for _ in range(3))
        engine.submit(holder)
        engine.submit(quitter)
        admitted = engine.submit(next_one)
        engine.leave(quitter)
        assert engine.waiting == 1
        engine.leave(holder)
        assert admitted is not None and admitted.done()
        assert (engine.running, engine.waiting) == (1, 0)

    asyncio.run(scenario())
