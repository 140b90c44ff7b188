"""State that must agree across gateway replicas: spend, tier rate windows, open circuits
and cool-downs. `LocalState` keeps it in memory (one replica); `RedisState` shares it.

Reads on the request path stay local and synchronous (today's spend, whether a tier is
blocked); Redis is written when something happens (spend, a rate-window slot, a circuit
opening) and read back by a sync loop every `sync_interval` seconds, so a decision never
waits on Redis except for the one atomic rate-window check. When Redis is unreachable the
gateway logs once, counts it, and carries on with local state until Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.budget import SpendBook, utc_day
from tiergate_gateway.runtime.health import CircuitState, HealthBook
from tiergate_gateway.runtime.limits import Limits
from tiergate_gateway.telemetry import metrics

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)

# KEYS: requests key, tokens key; ARGV: rpm limit (0 = none), tpm limit (0 = none), tokens, ttl.
_RATE_SCRIPT: Final = """
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local rpm, tpm, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if rpm > 0 and requests + 1 > rpm then return 0 end
if tpm > 0 and tokens + cost > tpm then return 0 end
redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('INCRBY', KEYS[2], cost); redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


class LocalState:
    """Single-replica state: everything in this process."""


    def __init__(self, health: HealthBook, spend: SpendBook, limits: Limits) -> None:
        self.health = health
        self.spend = spend
        self.limits = limits
        self.degraded = False
        self.errors = 0

    async def start(self) -> None:
        """Begin background work (nothing for local state)."""

    async def stop(self) -> None:
        """End background work."""

    def spent_today(self, policy_key: str, now: float) -> int:
        """Femto-USD spent today through the policy, as far as this replica knows."""
        return self.spend.spent_today(policy_key, now)

    async def add_spend(self, policy_key: str, femto: int, now: float) -> None:
        """Record spend."""
        self.spend.add(policy_key, femto, now)

    async def admit_rate(self, tier: TierView, tokens: int, now: float) -> bool:
        """Take a slot of the tier's requests/tokens per minute, or say there is none."""
        if self.limits.check_tier_rate(tier, tokens, now):
            self.limits.count_rate(tier, tokens, now)
            return True
        return False

    async def share_health(self, key: str, now: float) -> None:
        """Tell other replicas that a tier's circuit opened or it cools down (nothing to do here)."""


class RedisState(LocalState):
    """State shared through Redis, with local state as the fallback."""


    def __init__(
        self,
        health: HealthBook,
        spend: SpendBook,
        limits: Limits,
        url: str,
        *,
        sync_interval: float = 1.0,
        prefix: str = "tiergate",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(health, spend, limits)
        import redis.asyncio as redis

        self._redis = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True)
        self._rate = self._redis.register_script(_RATE_SCRIPT)
        self.sync_interval = sync_interval
        self.prefix = prefix
        self.clock = clock
        """Wall time, read when other replicas' blocks are synced (they hold absolute times)."""
        self._task: asyncio.Task[None] | None = None
        self._remote_spend: dict[str, int] = {}
        self._remote_day = ""

    async def start(self) -> None:
        """Load what other replicas know, then keep syncing."""
        await self._sync()
        self._task = asyncio.create_task(self._sync_loop(), name="redis-state-sync")

    async def stop(self) -> None:
        """Stop syncing and close the connection pool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    def spent_today(self, policy_key: str, now: float) -> int:
        local = super().spent_today(policy_key, now)
        if self.degraded or self._remote_day != utc_day(now):
            return local
        return max(local, self._remote_spend.get(policy_key, 0))

    async def add_spend(self, policy_key: str, femto: int, now: float) -> None:
        await super().add_spend(policy_key, femto, now)
        day = utc_day(now)
        key = f"{self.prefix}:spend:{day}"

        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, policy_key, femto)
                pipe.expire(key, 2 * 86400)
                total, _ = await pipe.execute()
            if self._remote_day == day:
                self._remote_spend[policy_key] = int(total)

        if not self.degraded:
            await self._guard(write())

    async def admit_rate(self, tier: TierView, tokens: int, now: float) -> bool:
        if not (tier.requests_per_minute or tier.tokens_per_minute):
            return True
        if self.degraded:
            return await super().admit_rate(tier, tokens, now)
        minute = int(now // 60)
        keys = [f"{self.prefix}:rpm:{tier.key}:{minute}", f"{self.prefix}:tpm:{tier.key}:{minute}"]
        args = [tier.requests_per_minute or 0, tier.tokens_per_minute or 0, tokens, 120]

        async def take() -> bool:
            return bool(await self._rate(keys=keys, args=args))

        result = await self._guard(take())
        if result is None:  # Redis just went away: decide locally
            return await super().admit_rate(tier, tokens, now)
        return bool(result)

    async def share_health(self, key: str, now: float) -> None:
        stats = self.health.stats(key)
        blocks: dict[FieldT, EncodableT] = {}
        if stats.cooldown_until > now:
            blocks[f"cooldown|{key}"] = repr(stats.cooldown_until)
        if self.health.state(key, now) == CircuitState.OPEN:
            blocks[f"circuit|{key}"] = repr(stats.opened_at + self.health.settings.open_seconds)
        if blocks and not self.degraded:
            await self._guard(self._redis.hset(f"{self.prefix}:blocks", mapping=blocks))

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval)
            await self._sync()

    async def _sync(self) -> None:
        """Pull today's spend and the tiers other replicas blocked."""
        now = self.clock()
        day = utc_day(now)

        async def pull() -> tuple[dict[str, Any], dict[str, Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(f"{self.prefix}:spend:{day}")
                pipe.hgetall(f"{self.prefix}:blocks")
                spend, blocks = await pipe.execute()
            return spend, blocks

        pulled = await self._guard(pull())
        if pulled is None:
            return
        spend, blocks = pulled
        self._remote_day = day
        self._remote_spend = {k: int(v) for k, v in spend.items()}
        expired = []
        for field, value in blocks.items():
            kind, _, key = field.partition("|")
            until = float(value)
            if until <= now:
                expired.append(field)
            elif kind == "cooldown":
                self.health.cool_down_until(key, until)
            elif kind == "circuit":
                self.health.open_until(key, until, now)
        if expired:
            await self._guard(self._redis.hdel(f"{self.prefix}:blocks", *expired))

    async def _guard(self, operation: Any) -> Any:
        """Run a Redis operation; on failure switch to local state (logged once) and return None."""
        try:
            result = await operation
        except Exception as exc:  # redis raises many kinds; all mean "use local state for now"
            self.errors += 1
            metrics.STATE_ERRORS.inc()
            if not self.degraded:
                self.degraded = True
                log.warning("Redis is unreachable (%s); using local state until it answers", type(exc).__name__)
            return None
        if self.degraded:
            self.degraded = False
            log.info("Redis answers again; shared state resumed")
        return result


def create_state(health: HealthBook, spend: SpendBook, limits: Limits, redis_url: str | None) -> LocalState:
    """Local state, or Redis-shared state when a URL is configured."""
    if redis_url:
        return RedisState(health, spend, limits, redis_url)
    return LocalState(health, spend, limits)
