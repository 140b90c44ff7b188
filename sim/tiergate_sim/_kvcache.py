"""The KV cache's blocks: what a sequence holds, which blocks are cached, which go first (pure).

As in vLLM's automatic prefix caching, a prompt is cut into full blocks of `block_size` tokens,
and each block is named by a hash of its parent block's hash and its own tokens, so two prompts
share a block only if they share everything up to its end. A token is `CHARS_PER_TOKEN`
characters of the prompt text (or one token id, for completions sent as ids).

A running sequence holds its prompt's cached blocks (shared and reference counted) and private
blocks for the rest: the prompt's partial last block and the whole answer, reserved at
admission because the simulator knows the answer's length in advance. A cached block that no
sequence holds stays cached until its room is needed; the least recently released goes first
(released deepest-first, so a prefix outlives its extensions). Never-used room is taken before
any cached block is evicted, as vLLM reuses blocks without a hash first. vLLM counts one block
as its null block; here all `capacity` blocks hold tokens.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from tiergate_sim._textgen import CHARS_PER_TOKEN

type Prefix = str | tuple[int, ...]
"""A prompt as the prefix cache reads it: text, or token ids."""
type Held = tuple[tuple[int, ...], int]
"""What `allocate` gave a sequence: the hashes of the cached blocks it holds (its hits first,
then the blocks it added), and how many leading blocks were hits. Its other blocks are its own."""

_NOTHING_CACHED: Final[Held] = ((), 0)


def block_hashes(prefix: Prefix, block_size: int, max_blocks: int) -> tuple[int, ...]:
    """Chained hashes of the prompt's first `max_blocks` full blocks (fewer if the prompt is shorter)."""
    step = block_size * CHARS_PER_TOKEN if isinstance(prefix, str) else block_size
    count = min(len(prefix) // step, max_blocks)
    hashes: list[int] = []
    parent = 0
    for start in range(0, count * step, step):
        parent = hash((parent, prefix[start : start + step]))
        hashes.append(parent)
    return tuple(hashes)


class BlockPool:
    """A fixed number of KV-cache blocks: in use by running sequences, cached but idle, or never used."""

    __slots__ = ("_idle", "_refs", "capacity", "in_use")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        """Blocks held by at least one running sequence (a shared block counts once)."""
        self._refs: dict[int, int] = {}
        """Every cached block's hash -> how many running sequences hold it (0: idle, evictable)."""
        self._idle: OrderedDict[int, None] = OrderedDict()
        """Cached blocks no sequence holds, least recently released first."""

    @property
    def usage(self) -> float:
        """Share of the blocks held by running sequences (vLLM's `kv_cache_usage_perc`), 0 to 1."""
        return self.in_use / self.capacity

    @property
    def cached_blocks(self) -> int:
        """Blocks with a hash in the cache, held or idle."""
        return len(self._refs)

    def allocate(self, hashes: Sequence[int], hit_limit: int, total_blocks: int) -> Held | None:
        """Hold `total_blocks` blocks for a sequence whose prompt has these full-block hashes.

        Its leading blocks found in the cache (at most `hit_limit`) are shared instead of
        computed; its other full prompt blocks enter the cache. None, holding nothing, when
        the free and evictable blocks are too few.
        """
        if not hashes:  # nothing to share or cache: the common case, kept short
            if total_blocks > self.capacity - self.in_use:
                return None
            self.in_use += total_blocks
            if self._idle:
                self._evict()
            return _NOTHING_CACHED
        refs = self._refs
        hits = revived = 0
        for block in hashes[:hit_limit]:
            holders = refs.get(block)
            if holders is None:
                break
            hits += 1
            revived += holders == 0
        new = total_blocks - hits
        if new + revived > self.capacity - self.in_use:
            return None
        idle = self._idle
        for block in hashes[:hits]:
            holders = refs[block]
            if holders == 0:
                del idle[block]
            refs[block] = holders + 1
        cached = list(hashes[:hits])
        for block in hashes[hits:]:
            # A block already cached here (the last one, which a hit may not cover) stays private.
            if block not in refs:
                refs[block] = 1
                cached.append(block)
        self.in_use += revived + new
        self._evict()
        return tuple(cached), hits

    def _evict(self) -> None:
        """Drop the least recently released idle blocks until the blocks in use and the idle fit."""
        idle, refs = self._idle, self._refs
        for _ in range(self.in_use + len(idle) - self.capacity):
            evicted, _none = idle.popitem(last=False)
            del refs[evicted]

    def release(self, cached: tuple[int, ...], total_blocks: int) -> None:
        """A sequence holding `total_blocks`, `cached` among them, ended: its own blocks are free,
        the cached ones idle once nobody holds them."""
        freed = total_blocks - len(cached)
        if not cached:
            self.in_use -= freed
            return
        refs, idle = self._refs, self._idle
        for block in reversed(cached):
            holders = refs[block] - 1
            refs[block] = holders
            if holders == 0:
                idle[block] = None
                freed += 1
        self.in_use -= freed
