"""Scraping each replica's vLLM metrics, off the request path, on a short interval.

A round every `tick` seconds scrapes the pools whose own interval (`spec.replicaPicking`) has
passed (a round that overruns delays the next, never piles up), at most `concurrency` at once,
each bounded by `timeout` and `max_bytes`. A scrape that fails, times out, is too large or has no
vLLM gauges marks that replica's signals stale; it never marks the replica dead (that is the
attempts' verdict, `runtime/replicas.py`). Uses httpx, not the request pool: these are a few
requests a second, and keeping them out of the hot pool keeps its connections for answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from tiergate_gateway.core.vllm_metrics import metrics_url, parse
from tiergate_gateway.runtime.replicas import ReplicaPool
from tiergate_gateway.telemetry import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScrapeSettings:
    """How often, how long and how much."""

    tick: float = 0.1
    timeout: float = 0.5
    max_bytes: int = 1 << 20
    concurrency: int = 32


class Scraper:
    """Feeds `ReplicaPool.record_signals` from every replica's `/metrics`."""

    def __init__(
        self,
        pools: Callable[[], Iterable[ReplicaPool]],
        settings: ScrapeSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.pools = pools
        self.settings = settings or ScrapeSettings()
        self.clock = clock
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._gate = asyncio.Semaphore(self.settings.concurrency)
        self.failures = 0

    async def run(self) -> None:
        """Scrape forever (cancel the task to stop)."""
        try:
            while True:
                started = time.monotonic()
                await self.scrape_once()
                await asyncio.sleep(max(0.0, self.settings.tick - (time.monotonic() - started)))
        finally:
            await self._client.aclose()

    async def scrape_once(self, *, every: bool = False) -> None:
        """One round over the replicas of the pools that are due (`every`: all); then drop stale signals."""
        now = self.clock()
        due = [pool for pool in self.pools() if every or now - pool.scraped_at >= pool.scrape_interval]
        for pool in due:
            pool.scraped_at = now
        jobs = [self._scrape(pool, url) for pool in due for url in pool.urls]
        if jobs:
            await asyncio.gather(*jobs)
        now = self.clock()
        for pool in self.pools():
            pool.expire(now)

    async def _scrape(self, pool: ReplicaPool, url: str) -> None:
        async with self._gate:
            try:
                async with asyncio.timeout(self.settings.timeout):
                    page = await self._fetch(metrics_url(url))
            except (httpx.HTTPError, TimeoutError, _TooLarge, OSError) as exc:
                self._stale(pool, url, type(exc).__name__)
                return
        signals = parse(page) if page is not None else None
        if signals is None:
            self._stale(pool, url, "no vLLM gauges")
            return
        pool.record_signals(url, signals.running, signals.waiting, signals.kv_usage, self.clock())

    async def _fetch(self, url: str) -> bytes | None:
        """The page, None on a non-200 answer; raises `_TooLarge` past `max_bytes`."""
        async with self._client.stream("GET", url, headers={"accept-encoding": "identity"}) as response:
            if response.status_code != 200:
                return None
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():  # decoded: the cap bounds what we hold
                size += len(chunk)
                if size > self.settings.max_bytes:
                    raise _TooLarge
                chunks.append(chunk)
            return b"".join(chunks)

    def _stale(self, pool: ReplicaPool, url: str, why: str) -> None:
        self.failures += 1
        metrics.child(metrics.REPLICA_SCRAPE_FAILURES, pool.name).inc()
        log.debug("metrics of replica %s unavailable (%s); its signals are stale", url, why)
        pool.mark_stale(url)


class _TooLarge(Exception):
    """The metrics page is over the size cap."""
