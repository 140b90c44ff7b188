"""One tier's attempt over its replicas: pick one, and on a fast failure try another.

A tier with one URL and nothing discovered has no pool here, and its attempt goes to its URL as
before (nothing extra on the hot path). A tier with several replicas gets one picked per request
(`runtime/replicas.py`, scored by `core/replicas.py`); a connection error, 5xx, timeout or broken
answer from that replica is recorded against the replica (outlier ejection) and the request tries
another replica of the same tier, while the request's deadline allows, up to `max_tries` replicas.
Only when they all fail does the tier's attempt fail, which is what the tier's circuit breaker and
the fallback chain see: a tier is unhealthy when its replicas are, not when one of them is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from tiergate_gateway.core.protocol import ParsedRequest
from tiergate_gateway.core.replicas import Score, block_hashes, chat_prefix_text, host_port
from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.replicas import Replica, ReplicaBook, ReplicaPool
from tiergate_gateway.telemetry import observe
from tiergate_gateway.upstream.forward import AttemptFailure, FailureKind, UpstreamClientError

_RETRIED: Final = frozenset(
    {FailureKind.CONNECTION_ERROR, FailureKind.SERVER_ERROR, FailureKind.TIMEOUT, FailureKind.INVALID_RESPONSE}
)
MIN_RETRY_SECONDS: Final = 0.05
"""A retry on another replica needs at least this much of the request's deadline left."""


@dataclass(slots=True)
class Chosen:
    """The replica an attempt went to (None: the tier's own URL), and its pool."""

    replica: Replica | None
    pool: ReplicaPool | None

    @property
    def label(self) -> str | None:
        """host:port of the replica, for `x-tiergate-replica` and spans."""
        return None if self.replica is None else host_port(self.replica.url)

    def finished(self, tier: TierView, ok: bool, now: float) -> None:
        """The attempt on this replica ended with a verdict (a stream's, when it ends)."""
        if self.replica is not None and self.pool is not None:
            ejected = self.pool.finished(self.replica, ok, now)
            observe.record_replica(tier.name, self.replica.url, "ok" if ok else "failed", ejected)

    def released(self) -> None:
        """The attempt ended without a verdict (the client left, the caller's deadline)."""
        if self.replica is not None and self.pool is not None:
            self.pool.released(self.replica)


NO_REPLICA: Final = Chosen(None, None)


class ReplicaTries:
    """Runs a tier's attempt on its replicas."""

    def __init__(self, book: ReplicaBook | None, *, max_tries: int = 2, clock: Callable[[], float]) -> None:
        self.book = book
        self.max_tries = max(1, max_tries)
        self.clock = clock
        self.hashes = PrefixHashes()

    def pool_of(self, tier: TierView) -> ReplicaPool | None:
        """The tier's pool when it has replicas to pick from; None when its own URL is the only way."""
        if self.book is None:
            return None
        pool = self.book.pool(tier.key)
        if pool is None:
            return None
        replicas = pool.replicas
        if len(replicas) == 1 and replicas[0].url == tier.url:
            return None
        return pool

    async def send[T](
        self,
        pool: ReplicaPool | None,
        tier: TierView,
        parsed: ParsedRequest,
        reasons: list[str],
        seconds_left: Callable[[], float | None],
        send: Callable[[str | None], Awaitable[T]],
    ) -> tuple[T, Chosen]:
        """`send(base_url)` on a replica of the tier (or its URL), trying others on fast failures.

        Raises the last replica's failure when every try failed; the caller treats it as the
        tier's. Each failed try adds `tier[host:port]=Kind` to `reasons`, except the last one,
        which the caller records as the tier's failure.
        """
        if pool is None:
            return await send(None), NO_REPLICA
        blocks = self.hashes.of(parsed, tier) if tier.picking.prefix else []
        tried: list[str] = []
        while True:
            replica = pool.choose(blocks, tier.picking, self.clock(), exclude=tried)
            if replica is None:
                if tried:
                    raise AttemptFailure(FailureKind.CONNECTION_ERROR, "every replica tried failed")
                raise AttemptFailure(FailureKind.CONNECTION_ERROR, "the tier has no ready replica")
            chosen = Chosen(replica, pool)
            pool.started(replica)
            try:
                return await send(replica.url), chosen
            except AttemptFailure as failure:
                left = seconds_left()
                if failure.kind == FailureKind.TIMEOUT and left is not None and left < MIN_RETRY_SECONDS:
                    chosen.released()  # the caller's deadline ran out, not the replica's time: no verdict
                    raise
                chosen.finished(tier, False, self.clock())
                tried.append(replica.url)
                if (
                    failure.kind not in _RETRIED
                    or len(tried) >= min(self.max_tries, len(pool.replicas))
                    or (left is not None and left < MIN_RETRY_SECONDS)
                ):
                    raise
                reasons.append(f"{tier.name}[{chosen.label}]={failure.kind.value}")
                observe.record_replica_retry(tier.name)
            except UpstreamClientError:
                chosen.finished(tier, True, self.clock())  # the replica answered: the request was refused
                raise
            except BaseException:
                chosen.released()
                raise

    def explain(self, parsed: ParsedRequest, tiers: list[TierView]) -> dict[str, Any]:
        """Per tier with replicas, every usable replica's scores for this request (nothing recorded)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for tier in tiers:
            pool = self.pool_of(tier)
            if pool is None:
                continue
            blocks = self.hashes.of(parsed, tier) if tier.picking.prefix else []
            scores: list[Score] = pool.explain(blocks, tier.picking, self.clock())
            found[tier.name] = [score.as_dict() for score in scores]
        return found


class PrefixHashes:
    """Block hashes of prompts, remembering those of recent first messages (system prompts).

    Most requests that share a prefix share it as their first message, so its blocks are hashed
    once and the rest of each prompt is hashed from there: about a third of the cost for a
    2,000-token system prompt (the memo's lookup still reads the message once). Bounded; the
    oldest entries go first.
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._known: dict[tuple[int, str], list[int]] = {}

    def of(self, parsed: ParsedRequest, tier: TierView) -> list[int]:
        """The prompt's block hashes for this tier's block size."""
        size, most = tier.picking.block_chars, tier.picking.max_blocks
        if parsed.endpoint != "chat":
            return block_hashes(parsed.prompt_text, size, most)
        text = chat_prefix_text(parsed.body)
        first = _first_part(parsed.body)
        if len(first) < size:
            return block_hashes(text, size, most)
        key = (size, first)
        known = self._known.get(key)
        if known is None:
            known = block_hashes(first, size, most)
            if len(self._known) >= self.capacity:
                del self._known[next(iter(self._known))]
            self._known[key] = known
        return block_hashes(text, size, most, known)


def _first_part(body: dict[str, Any]) -> str:
    """The first message as `chat_prefix_text` writes it (role, separator, text), or ''."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return ""
    role, content = messages[0].get("role"), messages[0].get("content")
    if not isinstance(role, str) or not isinstance(content, str):
        return ""
    return f"{role}\x1f{content}"

