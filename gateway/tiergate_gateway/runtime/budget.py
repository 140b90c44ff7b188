"""Spend per policy per UTC day, in femto-USD (in memory; one gateway process).

Several replicas share spend through the Redis-backed book of the resilience work; this
one is the single-replica default and the fallback when Redis is unreachable.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime


@functools.lru_cache(maxsize=4)
def _day_of(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86400, UTC).strftime("%Y-%m-%d")


def utc_day(now: float) -> str:
    """The UTC day of a timestamp, as YYYY-MM-DD (formatted once per day: this is on the hot path)."""
    return _day_of(int(now // 86400))


class SpendBook:
    """Money spent today per policy key; yesterday's figures are dropped at midnight UTC."""

    def __init__(self) -> None:
        self._day = ""
        self._spent: dict[str, int] = {}

    def _roll(self, now: float) -> None:
        day = utc_day(now)
        if day != self._day:
            self._day = day
            self._spent = {}

    def spent_today(self, policy_key: str, now: float) -> int:
        """Femto-USD spent today through the policy."""
        self._roll(now)
        return self._spent.get(policy_key, 0)

    def add(self, policy_key: str, femto: int, now: float) -> int:
        """Record spend; returns today's total for the policy."""
        self._roll(now)
        total = self._spent.get(policy_key, 0) + femto
        self._spent[policy_key] = total
        return total
