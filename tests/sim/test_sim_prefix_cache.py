"""Prefix caching: hits counted in tokens as vLLM counts them, prefill skipped for them, LRU eviction.

A chat prompt's blocks are cut from its roles and contents joined by U+001F, 64 characters
(16 tokens) a block; a completions prompt of token ids, 16 ids a block.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from engine_probes import chat, first_token_at, metrics

from tiergate_sim.process import SimProcess

type Spawn = Callable[..., SimProcess]

QUERIES = "vllm:prefix_cache_queries_total"
HITS = "vllm:prefix_cache_hits_total"
# With "system\x1f" ahead of it, exactly 100 blocks of 16 tokens (6400 characters).
SYSTEM = "You answer questions about the attached manual. " * 133 + "x" * (6393 - 48 * 133)


def tokens(*contents: str) -> int:
    """A chat prompt's size as the simulator (and the gateway) estimates it: 4 characters a token."""
    return -(-sum(map(len, contents)) // 4)


def complete(sim: SimProcess, body: dict[str, object]) -> None:
    httpx.post(f"{sim.url}/v1/chat/completions", json=body, timeout=10).raise_for_status()


def hits_of(sim: SimProcess, body: dict[str, object]) -> float:
    """The prefix-cache hits (tokens) one request adds."""
    before = metrics(sim)[HITS]
    complete(sim, body)
    return metrics(sim)[HITS] - before


def test_a_shared_prefix_is_a_cache_hit_and_skips_its_prefill(spawn: Spawn) -> None:
    sim = spawn(
        "--model", "m", "--enable-prefix-caching", "--prefill-tokens-per-second", "2000", "--ttft-ms", "50",
    )  # fmt: skip
    first_question, second_question = "What does chapter two cover?", "Which page lists the errors?"
    started = time.monotonic()
    first_ttft = first_token_at(sim, chat(first_question, system=SYSTEM)) - started
    started = time.monotonic()
    second_ttft = first_token_at(sim, chat(second_question, system=SYSTEM)) - started

    counted = metrics(sim)
    first_tokens, second_tokens = tokens(SYSTEM, first_question), tokens(SYSTEM, second_question)
    assert counted[QUERIES] == first_tokens + second_tokens
    assert counted[HITS] == 1600  # the system prompt's 100 blocks
    assert first_ttft >= 0.05 + first_tokens / 2000
    assert second_ttft < first_ttft / 2  # 0.05 s plus 6 uncached tokens' prefill
    engine = httpx.get(f"{sim.url}/sim/stats", timeout=10).json()["engine"]
    assert (engine["prefix_cache_queries"], engine["prefix_cache_hits"]) == (first_tokens + second_tokens, 1600)
    httpx.delete(f"{sim.url}/sim/stats", timeout=10).raise_for_status()
    assert (metrics(sim)[QUERIES], metrics(sim)[HITS]) == (0, 0)
    assert hits_of(sim, chat(first_question, system=SYSTEM)) == 1600  # the cache itself is kept


def test_the_last_prompt_token_is_always_computed(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--enable-prefix-caching", "--output-tokens", "2")
    body = {"prompt": list(range(32))}  # token ids: exactly two blocks
    for _ in range(2):
        httpx.post(f"{sim.url}/v1/completions", json=body, timeout=10).raise_for_status()
    counted = metrics(sim)
    # As in vLLM, the second request recomputes its last token, so its last block is not a hit.
    assert (counted[QUERIES], counted[HITS]) == (64, 16)


def test_idle_cached_blocks_are_evicted_least_recently_used_first(spawn: Spawn) -> None:
    # 8 blocks. Each prompt is 3 full blocks plus a partial one (52 tokens), which with a 4-token
    # answer holds 4 blocks while it runs, and leaves its 3 full blocks cached.
    sim = spawn("--model", "m", "--enable-prefix-caching", "--num-gpu-blocks-override", "8", "--output-tokens", "4")
    a, b, c = (chat(letter * 207) for letter in "abc")
    assert [hits_of(sim, body) for body in (a, b, c)] == [0, 0, 0]
    # c needed 4 blocks with 2 never used: a's 2 deeper blocks, the least recently released, went.
    assert hits_of(sim, a) == 16
    # a took 4 blocks again, evicting 2 of b's (now the oldest): c, the most recent, kept all 3.
    assert hits_of(sim, c) == 48
    engine = httpx.get(f"{sim.url}/sim/stats", timeout=10).json()["engine"]
    assert (engine["cached_blocks"], engine["kv_blocks_used"], engine["kv_cache_usage"]) == (7, 0, 0)


def test_without_prefix_caching_nothing_is_reused_or_counted(spawn: Spawn) -> None:
    sim = spawn("--model", "m", "--prefill-tokens-per-second", "2000")
    body = chat("y" * 1600)  # 400 tokens: 0.2 s of prefill
    ttfts = []
    for _ in range(2):
        started = time.monotonic()
        ttfts.append(first_token_at(sim, body) - started)
    assert min(ttfts) >= 0.2
    counted = metrics(sim)
    assert (counted[QUERIES], counted[HITS]) == (0, 0)
