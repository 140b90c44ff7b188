"""Which replica of a tier gets a request: filter, score, pick (pure).

Three scorers, each from 0 (worst) to 1 (best), weighted and summed, as the Gateway API Inference
Extension's endpoint picker and llm-d do:

- **queue**: the replica's load (requests the gateway has in flight to it, plus what its vLLM
  reports waiting) against the busiest replica's: `1 - load / (max_load + 1)`. Not min-max
  normalised: with min-max, a difference of one request would swing the whole weight and drown
  the prefix scorer; this form lets affinity win small differences and lose large ones.
- **kv cache**: `1 - kv_cache_usage` from the replica's metrics; neutral (0.5) when unknown or stale.
- **prefix affinity**: the share of the prompt's leading blocks that this replica recently served,
  so its prefix cache likely holds them. Only while the replica's load is within the load bound
  (`affinity_load_bound` times the mean load, plus one): one hot prefix cannot pile onto one replica,
  the bounded-load rule of consistent hashing.

The prompt is hashed in fixed-size blocks, each hash chained to the one before, as vLLM's prefix
cache does, so two prompts share a block hash only if they share everything up to its end. The
gateway's blocks need not match vLLM's (`--block-size`, in tokens): they only decide where a request
goes, and coarser blocks cost fewer hashes per request.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tiergate_gateway.core.protocol import CHARS_PER_TOKEN

_MASK: Final = (1 << 64) - 1
NEUTRAL_KV: Final = 0.5
"""The kv-cache score of a replica whose metrics are unknown or stale: neither favoured nor avoided."""


@dataclass(frozen=True, slots=True)
class PickWeights:
    """How much each scorer counts (integers, as in the API), and the prefix scorer's knobs."""

    queue: int = 50
    kv_cache: int = 20
    prefix: int = 30
    affinity_load_bound_percent: int = 125
    block_tokens: int = 64
    max_blocks: int = 128

    @property
    def block_chars(self) -> int:
        """Block size in characters (the gateway estimates a token as `CHARS_PER_TOKEN` characters)."""
        return self.block_tokens * CHARS_PER_TOKEN


DEFAULT_WEIGHTS: Final = PickWeights()


@dataclass(frozen=True, slots=True)
class Score:
    """One replica's scores, for explanations (spans, the explain API); never built on the hot path."""

    key: str
    total: float
    queue: float
    kv_cache: float
    prefix: float
    over_load_bound: bool

    def as_dict(self) -> dict[str, Any]:
        """For JSON (the explain API)."""
        return {
            "replica": self.key,
            "score": round(self.total, 3),
            "queue": round(self.queue, 3),
            "kvCache": round(self.kv_cache, 3),
            "prefix": round(self.prefix, 3),
            "overLoadBound": self.over_load_bound,
        }


def host_port(url: str) -> str:
    """A replica's `host:port` (its URL without scheme and path): its name in headers, spans and metrics."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def chat_prefix_text(body: dict[str, Any]) -> str:
    """The text a chat request's prefix cache is built from: roles and contents, in order.

    Only strings and text parts count; a malformed message contributes nothing (the request
    was validated before, this only has to be deterministic).
    """
    parts: list[str] = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        parts.append(role if isinstance(role, str) else "")
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\x1f".join(parts)


def block_hashes(text: str, block_chars: int, max_blocks: int, known: Sequence[int] = ()) -> list[int]:
    """Chained hashes of the text's whole blocks (a trailing partial block is not cached by vLLM either).

    Chained by arithmetic on the previous hash (no tuple per block): the hot path hashes up to
    `max_blocks` blocks per request. `known`: the hashes of the text's leading blocks, already
    computed (for a prefix of the text); hashing goes on from there.
    """
    count = min(len(text) // block_chars, max_blocks)
    hashes = list(known[:count])
    previous = hashes[-1] if hashes else 0
    for start in range(len(hashes) * block_chars, count * block_chars, block_chars):
        previous = (previous * 1_000_003 ^ hash(text[start : start + block_chars])) & _MASK
        hashes.append(previous)
    return hashes


def pick(
    loads: Sequence[float],
    kv_scores: Sequence[float],
    matched: Mapping[int, int],
    total_blocks: int,
    weights: PickWeights = DEFAULT_WEIGHTS,
    *,
    start: int = 0,
    skip: Container[int] = (),
) -> int:
    """The index of the best replica, or -1 when every one is skipped.

    `loads` and `kv_scores` are per replica (kv score = 1 - usage, or `NEUTRAL_KV`); `matched` maps
    the few replicas that served the prompt's leading blocks to how many they served. Equal scores
    go to the first from `start` on (the caller rotates it). The constant part of the queue score is
    left out: it shifts every total alike.
    """
    count = len(loads)
    if count == 0:
        return -1
    queue_per_load = weights.queue / (max(loads) + 1.0)
    kv_weight = weights.kv_cache
    # One C-level pass: totals by comprehension, the best by max() over a rotated index range.
    totals = [kv_weight * kv - queue_per_load * load for kv, load in zip(kv_scores, loads, strict=True)]
    order: Iterable[int] = itertools.chain(range(start, count), range(start)) if start else range(count)
    if skip:
        order = (index for index in order if index not in skip)
    best = max(order, key=totals.__getitem__, default=-1)
    best_total = totals[best] if best >= 0 else -math.inf
    if matched and total_blocks and weights.prefix:
        bound = _load_bound(loads, weights)
        per_block = weights.prefix / total_blocks
        for index, blocks in matched.items():
            load = loads[index]
            if load > bound or index in skip:
                continue
            total = kv_weight * kv_scores[index] - queue_per_load * load + per_block * blocks
            if total > best_total:
                best, best_total = index, total
    return best


def scores(
    keys: Sequence[str],
    loads: Sequence[float],
    kv_scores: Sequence[float],
    matched: Mapping[int, int],
    total_blocks: int,
    weights: PickWeights = DEFAULT_WEIGHTS,
) -> list[Score]:
    """Every replica's scores as `pick` weighs them, with the constant part (for explanations)."""
    if not loads:
        return []
    max_load = max(loads)
    bound = _load_bound(loads, weights)
    result = []
    for index, key in enumerate(keys):
        load = loads[index]
        queue = 1.0 - load / (max_load + 1.0)
        over = load > bound
        prefix = matched.get(index, 0) / total_blocks if total_blocks and not over else 0.0
        total = weights.queue * queue + weights.kv_cache * kv_scores[index] + weights.prefix * prefix
        result.append(Score(key, total, queue, kv_scores[index], prefix, over))
    return result


def kv_score(usage: float | None) -> float:
    """The kv-cache scorer: free share of the cache, neutral when unknown."""
    return NEUTRAL_KV if usage is None else 1.0 - min(1.0, max(0.0, usage))


def _load_bound(loads: Sequence[float], weights: PickWeights) -> float:
    """The most load a replica may carry and still attract its prefixes: bound x mean, plus one."""
    return sum(loads) / len(loads) * weights.affinity_load_bound_percent / 100 + 1.0
