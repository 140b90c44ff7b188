"""vLLM's scheduler, reduced to admission: a limit on running sequences, a FIFO queue, the KV cache.

A request becomes a `Sequence`. It runs at once when fewer than `max_num_seqs` sequences run,
nobody is waiting, and the KV cache has room for it (its prompt's blocks that are not cached,
plus its answer's); otherwise it waits its turn. As in vLLM's first-come-first-served policy,
the head of the queue blocks the rest: a small request never overtakes a big one that does not
fit yet. A sequence leaves when its answer ends or its client goes, freeing its slot and
blocks, and the queue is served again. Prefix-cache hits are found when a sequence is admitted,
so a request that waited can reuse what ran meanwhile.

Everything runs on the event loop's thread: no locks, and O(prompt blocks) work per request.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from enum import Enum, auto
from typing import Any

from tiergate_sim._errors import SimRequestError
from tiergate_sim._kvcache import BlockPool, Prefix, block_hashes
from tiergate_sim.knobs import EngineConfig


class _State(Enum):
    NEW = auto()
    WAITING = auto()
    RUNNING = auto()
    DONE = auto()


class Sequence:
    """One request as the scheduler sees it: its sizes, its place, and the blocks it holds."""

    __slots__ = (
        "admitted",
        "cached",
        "cached_tokens",
        "hashes",
        "hit_limit",
        "prompt_tokens",
        "state",
        "total_blocks",
    )

    def __init__(self, prompt_tokens: int, hashes: tuple[int, ...], hit_limit: int, total_blocks: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.hashes = hashes
        self.hit_limit = hit_limit
        self.total_blocks = total_blocks
        self.state = _State.NEW
        self.admitted: asyncio.Future[None] | None = None
        self.cached: tuple[int, ...] = ()
        """Hashes of the cached blocks it holds while it runs."""
        self.cached_tokens = 0
        """Prompt tokens found in the prefix cache at admission (whole blocks)."""

    @property
    def uncached_tokens(self) -> int:
        """Prompt tokens the prefill has to compute."""
        return self.prompt_tokens - self.cached_tokens


class Engine:
    """The running sequences, the waiting queue and the KV cache of one simulator."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.pool = BlockPool(config.num_gpu_blocks)
        self.running = 0
        self.waiting = 0
        self.prefix_cache_queries = 0
        """Prompt tokens looked up in the prefix cache (vLLM's counter, in tokens)."""
        self.prefix_cache_hits = 0
        """Prompt tokens found there."""
        self._max_running = config.max_num_seqs or sys.maxsize
        self._caching = config.enable_prefix_caching
        self._queue: deque[Sequence] = deque()
        """Waiting sequences in arrival order; those that left stay until they reach the head."""

    def sequence(self, prompt_tokens: int, answer_tokens: int, prefix: Prefix | None) -> Sequence:
        """The sequence of a request; a 400 when it could never fit in the KV cache."""
        block_size = self.config.block_size
        total_blocks = -(-(prompt_tokens + answer_tokens) // block_size)
        if total_blocks > self.pool.capacity:
            raise SimRequestError(
                400,
                f"This request needs {total_blocks} KV-cache blocks of {block_size} tokens "
                f"({prompt_tokens} prompt and {answer_tokens} answer tokens), but the cache "
                f"holds {self.pool.capacity} (simulated --num-gpu-blocks-override).",
                code="context_length_exceeded",
            )
        if prefix is None or not self._caching:
            return Sequence(prompt_tokens, (), 0, total_blocks)
        hashes = block_hashes(prefix, block_size, prompt_tokens // block_size)
        # vLLM recomputes at least the prompt's last token, to have its logits.
        return Sequence(prompt_tokens, hashes, (prompt_tokens - 1) // block_size, total_blocks)

    def submit(self, sequence: Sequence) -> asyncio.Future[None] | None:
        """Run `sequence` now (None) or queue it: the future completes when it is admitted."""
        if not self.waiting and self._start(sequence):
            return None
        admitted = asyncio.get_running_loop().create_future()
        sequence.admitted = admitted
        sequence.state = _State.WAITING
        self._queue.append(sequence)
        self.waiting += 1
        return admitted

    def leave(self, sequence: Sequence) -> None:
        """The answer ended or its client left: free the slot and the blocks, serve the queue."""
        state = sequence.state
        sequence.state = _State.DONE
        if state is _State.RUNNING:
            self.pool.release(sequence.cached, sequence.total_blocks)
            self.running -= 1
        elif state is _State.WAITING:
            self.waiting -= 1
            if not self.waiting:
                self._queue.clear()  # only sequences that left remain
                return
        else:
            return
        if self.waiting:
            self._serve_queue()

    def _start(self, sequence: Sequence) -> bool:
        if self.running >= self._max_running:
            return False
        held = self.pool.allocate(sequence.hashes, sequence.hit_limit, sequence.total_blocks)
        if held is None:
            return False
        sequence.cached, hit_blocks = held
        sequence.state = _State.RUNNING
        self.running += 1
        if self._caching:
            sequence.cached_tokens = hit_blocks * self.config.block_size
            self.prefix_cache_queries += sequence.prompt_tokens
            self.prefix_cache_hits += sequence.cached_tokens
        return True

    def _serve_queue(self) -> None:
        queue = self._queue
        while queue:
            head = queue[0]
            if head.state is not _State.WAITING:
                queue.popleft()  # its client left while it waited
                continue
            if not self._start(head):
                return
            queue.popleft()
            self.waiting -= 1
            if head.admitted is not None and not head.admitted.done():
                head.admitted.set_result(None)

    def reset_counters(self) -> None:
        """Zero the prefix-cache counters (the cache itself is kept)."""
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0

    def to_public(self) -> dict[str, Any]:
        """The engine's part of `/sim/stats`."""
        pool = self.pool
        return {
            "running": self.running,
            "waiting": self.waiting,
            "kv_cache_usage": pool.usage,
            "kv_blocks_used": pool.in_use,
            "kv_blocks_total": pool.capacity,
            "cached_blocks": pool.cached_blocks,
            "prefix_cache_queries": self.prefix_cache_queries,
            "prefix_cache_hits": self.prefix_cache_hits,
        }
