"""Live state of each tier's replicas: who is there, how loaded, what they cached, who is ejected.

A tier's replica list comes from its spec (`endpoint.urls`, or the single `url`) or, in
Kubernetes mode, from the EndpointSlices of its Service. The picker (`core/replicas.py`) scores
what this module knows:

- the gateway's own in-flight count per replica (exact, always fresh);
- the replica's vLLM metrics (waiting queue, KV-cache use), written by the scraper; signals
  older than `stale_after` seconds are dropped (`expire`): a stale signal is ignored, the replica
  is not;
- which replica recently served which prompt blocks (the prefix index, bounded in entries);
- passive outlier ejection, as Envoy does: consecutive failures eject a replica for a while
  (longer each time), then it is on probation: one request at a time until one succeeds. At most
  `max_ejected_percent` of a pool is ejected at once (at least one replica may always be), so a
  tier stays usable while any replica is.

The per-replica figures the picker reads are kept in parallel lists, updated when they change
(an attempt starts or ends, a scrape lands), so a pick reads lists instead of building objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

from tiergate_gateway.core.replicas import NEUTRAL_KV, PickWeights, Score, kv_score, pick, scores


class ReplicaReason(StrEnum):
    """Why a tier with replicas was passed over."""

    NONE_READY = "NoReadyReplica"


MAX_HOLDERS: Final = 4
"""Replicas remembered per prompt block (the most recent first)."""


@dataclass(frozen=True, slots=True)
class EjectionSettings:
    """Passive outlier ejection (Envoy's `consecutive_5xx` with a growing ejection time)."""

    consecutive_failures: int = 3
    base_seconds: float = 10.0
    max_seconds: float = 120.0
    max_ejected_percent: int = 50


@dataclass(slots=True)
class Signals:
    """What a replica's own metrics said, and when (`at` < 0: nothing known)."""

    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float | None = None
    at: float = -1.0


@dataclass(slots=True, eq=False)
class Replica:
    """One replica: its base URL, load, last metrics and ejection state."""

    url: str
    position: int = -1
    """Its index in the pool's lists; -1 once it left the pool."""
    in_flight: int = 0
    signals: Signals = field(default_factory=Signals)
    failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    """0 when in rotation; else ejected until then, and on probation (one request at a time) after."""


class ReplicaPool:
    """The replicas of one tier, their prefix index and their ejection state."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        ejection: EjectionSettings | None = None,
        stale_after: float = 5.0,
        index_capacity: int = 50_000,
    ) -> None:
        self.ejection = ejection or EjectionSettings()
        self.stale_after = stale_after
        self.index_capacity = index_capacity
        self.replicas: list[Replica] = []
        self._by_url: dict[str, Replica] = {}
        self._loads: list[float] = []
        self._kv: list[float] = []
        self._out = 0  # replicas ejected or on probation
        self._index: dict[int, tuple[str, ...]] = {}
        self._turn = itertools.count()
        self.scrape_interval = 1.0
        self.scraped_at = -1.0
        self.name = ""
        """The tier's name (for metrics)."""
        self.waiting_total = 0.0
        self.running_total = 0.0
        """Sums of the replicas' current (not stale) vLLM gauges, kept as signals come and go."""
        self.set_urls(urls)

    # ---- membership and signals -----------------------------------------------------------------

    def set_urls(self, urls: Iterable[str]) -> None:
        """The replica set now (discovery or a new spec); known replicas keep their state."""
        wanted = list(dict.fromkeys(urls))
        kept = {url: self._by_url.get(url) or Replica(url) for url in wanted}
        for url, replica in self._by_url.items():
            if url not in kept:
                replica.position = -1
        self.replicas = list(kept.values())
        self._by_url = kept
        for position, replica in enumerate(self.replicas):
            replica.position = position
        self._loads = [self._load_of(r) for r in self.replicas]
        self._kv = [kv_score(r.signals.kv_usage) for r in self.replicas]
        self._out = sum(1 for r in self.replicas if r.ejected_until > 0.0)
        known = [r.signals for r in self.replicas if r.signals.at >= 0.0]
        self.waiting_total = sum(s.waiting for s in known)
        self.running_total = sum(s.running for s in known)

    @property
    def urls(self) -> list[str]:
        """Replica base URLs, in discovery order."""
        return [r.url for r in self.replicas]

    def get(self, url: str) -> Replica | None:
        """The replica with this base URL, if it is in the pool."""
        return self._by_url.get(url)

    def record_signals(self, url: str, running: float, waiting: float, kv_usage: float | None, now: float) -> None:
        """A scrape's result (ignored for a replica that went away meanwhile)."""
        replica = self._by_url.get(url)
        if replica is None:
            return
        self._forget_totals(replica.signals)
        replica.signals = Signals(running, waiting, kv_usage, now)
        self.waiting_total += waiting
        self.running_total += running
        self._loads[replica.position] = self._load_of(replica)
        self._kv[replica.position] = kv_score(kv_usage)

    def mark_stale(self, url: str) -> None:
        """A failed scrape: forget the replica's signals, keep the replica."""
        replica = self._by_url.get(url)
        if replica is not None and replica.signals.at >= 0.0:
            self._clear_signals(replica)

    def expire(self, now: float) -> None:
        """Drop signals older than `stale_after` (a failed or slow scrape leaves the replica unscored)."""
        oldest = now - self.stale_after
        for replica in self.replicas:
            if 0.0 <= replica.signals.at < oldest:
                self._clear_signals(replica)

    def _clear_signals(self, replica: Replica) -> None:
        """Forget what a replica's metrics said: it is scored on this gateway's in-flight count alone."""
        self._forget_totals(replica.signals)
        replica.signals = Signals()
        self._loads[replica.position] = float(replica.in_flight)
        self._kv[replica.position] = NEUTRAL_KV

    def _forget_totals(self, signals: Signals) -> None:
        if signals.at >= 0.0:
            self.waiting_total = max(0.0, self.waiting_total - signals.waiting)
            self.running_total = max(0.0, self.running_total - signals.running)

    @property
    def queue_factor(self) -> float:
        """Requests waiting per request running, over the replicas' current signals (0: no queue known).

        A request that arrives now waits about this many service times before it starts.
        """
        return self.waiting_total / max(1.0, self.running_total)

    @staticmethod
    def _load_of(replica: Replica) -> float:
        return replica.in_flight + (replica.signals.waiting if replica.signals.at >= 0.0 else 0.0)

    # ---- picking ------------------------------------------------------------------------------

    def choose(
        self, blocks: Sequence[int], weights: PickWeights, now: float, exclude: Iterable[str] = ()
    ) -> Replica | None:
        """The replica for a request with these prompt blocks, or None when every one is out."""
        replicas = self.replicas
        count = len(replicas)
        if count == 1 and not self._out and not exclude:
            return replicas[0]
        skip = self._skipped(now, exclude)
        matched = self._matched(blocks) if blocks else {}
        index = pick(
            self._loads,
            self._kv,
            matched,
            len(blocks),
            weights,
            start=next(self._turn) % count if count else 0,
            skip=skip,
        )
        if index < 0:
            return None
        chosen = replicas[index]
        if len(blocks) > matched.get(index, 0):
            self._remember(blocks, chosen.url)
        return chosen

    def explain(self, blocks: Sequence[int], weights: PickWeights, now: float) -> list[Score]:
        """Every usable replica's scores, as `choose` would weigh them (nothing is recorded)."""
        skip = self._skipped(now, ())
        every = scores(self.urls, self._loads, self._kv, self._matched(blocks) if blocks else {}, len(blocks), weights)
        return [score for index, score in enumerate(every) if index not in skip]

    def _skipped(self, now: float, exclude: Iterable[str]) -> set[int]:
        """Positions that may not take this request: ejected, on probation with a request out, excluded."""
        skip = {r.position for url in exclude if (r := self._by_url.get(url)) is not None}
        if self._out:
            skip.update(r.position for r in self.replicas if not _admits(r, now))
        return skip

    def _matched(self, blocks: Sequence[int]) -> dict[int, int]:
        """Per replica position, how many leading blocks it recently served."""
        matched: dict[str, int] = {}
        index = self._index
        for position, block in enumerate(blocks):
            holders = index.get(block)
            if holders is None:
                break
            progressed = False
            for url in holders:
                if matched.get(url, 0) == position:
                    matched[url] = position + 1
                    progressed = True
            if not progressed:
                break
        by_url = self._by_url
        return {replica.position: count for url, count in matched.items() if (replica := by_url.get(url)) is not None}

    def _remember(self, blocks: Sequence[int], url: str) -> None:
        """Note that `url` now holds these blocks; the oldest entries go when the index is full."""
        index = self._index
        for block in blocks:
            holders = index.get(block)
            if holders is None:
                index[block] = (url,)
            elif holders[0] != url:
                index[block] = (url, *(h for h in holders if h != url))[:MAX_HOLDERS]
        overflow = len(index) - self.index_capacity
        if overflow > 0:  # first in, first out: a dict keeps insertion order
            for block in list(itertools.islice(index, overflow)):
                del index[block]

    # ---- outcomes -----------------------------------------------------------------------------

    def started(self, replica: Replica) -> None:
        """An attempt went to this replica."""
        replica.in_flight += 1
        if replica.position >= 0:
            self._loads[replica.position] += 1.0

    def released(self, replica: Replica) -> None:
        """The attempt ended without a verdict (the client left, the caller's deadline)."""
        if replica.in_flight > 0:
            replica.in_flight -= 1
            if replica.position >= 0:
                self._loads[replica.position] -= 1.0

    def finished(self, replica: Replica, ok: bool, now: float) -> bool:
        """The attempt ended with a verdict; True when this outcome ejected the replica."""
        self.released(replica)
        on_probation = replica.ejected_until > 0.0
        if ok:
            replica.failures = 0
            if on_probation:  # the probe answered: back in rotation
                self._set_ejection(replica, 0.0)
                replica.ejections = 0
            return False
        replica.failures += 1
        if on_probation or replica.failures >= self.ejection.consecutive_failures:
            return self._eject(replica, now)
        return False

    def _eject(self, replica: Replica, now: float) -> bool:
        others_out = sum(1 for r in self.replicas if r.ejected_until > now and r is not replica)
        allowed = max(1, len(self.replicas) * self.ejection.max_ejected_percent // 100)
        replica.failures = 0
        if others_out >= allowed:  # too many out already: keep this one in rotation
            self._set_ejection(replica, 0.0)
            return False
        replica.ejections += 1
        self._set_ejection(
            replica, now + min(self.ejection.base_seconds * replica.ejections, self.ejection.max_seconds)
        )
        return True

    def _set_ejection(self, replica: Replica, until: float) -> None:
        was_out = replica.ejected_until > 0.0
        replica.ejected_until = until
        if replica.position >= 0:
            self._out += (until > 0.0) - was_out

    def ejected(self, now: float) -> list[str]:
        """Replicas out of rotation now."""
        return [r.url for r in self.replicas if r.ejected_until > now]


def _admits(replica: Replica, now: float) -> bool:
    """In rotation, or on probation after its ejection with no request in flight (one probe)."""
    until = replica.ejected_until
    return until <= 0.0 or (now >= until and replica.in_flight == 0)


class ReplicaBook:
    """Every tier's replica pool: static URLs from the spec, or what discovery found for its Service."""

    def __init__(self, *, ejection: EjectionSettings | None = None, stale_after: float = 5.0) -> None:
        self.ejection = ejection or EjectionSettings()
        self.stale_after = stale_after
        self.pools: dict[str, ReplicaPool] = {}
        self._spec: dict[str, tuple[tuple[str, ...], str | None, bool]] = {}
        """Per tier: its spec's URLs, its Service (discovered replicas), whether it is Local."""
        self._discovered: dict[str, list[str]] = {}
        self.listeners: list[Callable[[list[str]], None]] = []
        """Told which tiers' replica sets discovery just changed (the cold-start book)."""

    def sync(self, tiers: Iterable[TierReplicas]) -> None:
        """Match the pools to a new snapshot's tiers: new tiers get a pool, deleted ones lose theirs."""
        seen: set[str] = set()
        for tier in tiers:
            seen.add(tier.key)
            self._spec[tier.key] = (tier.replica_urls, tier.service, tier.is_local)
            urls = self._urls(tier.key)
            pool = self.pools.get(tier.key)
            if pool is None:
                pool = self.pools[tier.key] = ReplicaPool(urls, ejection=self.ejection, stale_after=self.stale_after)
            else:
                pool.set_urls(urls)
            pool.scrape_interval = tier.scrape_interval_seconds
            pool.name = tier.key.rsplit("/", 1)[-1]
        for gone in set(self.pools) - seen:
            del self.pools[gone]
            del self._spec[gone]

    def discovered(self, service: str, addresses: list[str] | None) -> None:
        """Discovery's `host:port` list for a Service (None: discovery no longer knows it)."""
        if addresses is None:
            if self._discovered.pop(service, None) is None:
                return
        elif self._discovered.get(service) == addresses:
            return
        else:
            self._discovered[service] = addresses
        changed = [key for key, (_, tier_service, _) in self._spec.items() if tier_service == service]
        for key in changed:
            self.pools[key].set_urls(self._urls(key))
        for listener in self.listeners:
            listener(changed)

    def ready_count(self, key: str) -> int | None:
        """Ready replicas discovery found for an in-cluster tier; None when discovery does not know its Service."""
        spec = self._spec.get(key)
        if spec is None or spec[1] is None or spec[1] not in self._discovered:
            return None
        return len(self._discovered[spec[1]])

    def _urls(self, key: str) -> tuple[str, ...] | list[str]:
        """The spec's URLs, or each discovered replica addressed as the Service URL is (scheme, path)."""
        static, service, _ = self._spec[key]
        if service is None or service not in self._discovered or not static:
            return static
        scheme, rest = static[0].split("://", 1)
        path = rest[rest.find("/") :] if "/" in rest else ""
        return [f"{scheme}://{address}{path}" for address in self._discovered[service]]

    def pool(self, key: str) -> ReplicaPool | None:
        """The pool of a tier (None for a tier the book has not seen)."""
        return self.pools.get(key)

    def queue_factor(self, key: str) -> float:
        """The tier's `ReplicaPool.queue_factor` (0 for a tier without one)."""
        pool = self.pools.get(key)
        return 0.0 if pool is None else pool.queue_factor

    def scraped(self) -> list[ReplicaPool]:
        """Pools whose replicas serve vLLM metrics: in-cluster or Local tiers (never an external API)."""
        return [pool for key, pool in self.pools.items() if self._spec[key][2] and pool.replicas]


class TierReplicas(Protocol):
    """What the book reads of a tier (`core.views.TierView` has it)."""

    @property
    def key(self) -> str: ...

    @property
    def replica_urls(self) -> tuple[str, ...]: ...

    @property
    def service(self) -> str | None: ...

    @property
    def is_local(self) -> bool: ...

    @property
    def scrape_interval_seconds(self) -> float: ...
