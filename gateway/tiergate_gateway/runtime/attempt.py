"""One attempt at one tier as live state sees it: admitted, started, finished, released.

The attempt loop asks `refusal` whether a tier can be tried at all (cooling down, circuit
open, at its in-flight cap), then `admit` for a slot of its rate window, and runs the try
inside `with attempt:`. Everything the attempt takes from live state (the in-flight slot, a
half-open probe) is given back when the block is left, on every exit path: an answer, a
failure, a caller's deadline, cancellation, a bug. A half-open probe that was never given
back kept a circuit open until restart; a slot, a tier at capacity.

What the attempt loop writes to live state goes through here (health verdicts, spend); it
reads live state directly only to plan (expected latency, when a tier is usable again).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from tiergate_gateway.core.health_view import BlockReason, CircuitState
from tiergate_gateway.core.views import TierView
from tiergate_gateway.runtime.limits import LimitReason

if TYPE_CHECKING:
    from tiergate_gateway.runtime.state import LocalState


def refusal(
    state: LocalState, tier: TierView, now: float, *, check_health: bool = True
) -> BlockReason | LimitReason | None:
    """Why the tier can't take an attempt now (cooling down, circuit open, at capacity), or None.

    `check_health=False` skips the health check, for a tier routing placed knowing its health.
    """
    if check_health:
        blocked = state.health.blocked(tier.key, now)
        if blocked is not None:
            return blocked
    if state.limits.at_capacity(tier):
        return LimitReason.AT_CAPACITY
    return None


async def admit(state: LocalState, tier: TierView, tokens: int, now: float) -> Attempt | None:
    """An attempt at the tier once a slot of its rate window is taken; None when the window is full."""
    limited = tier.requests_per_minute or tier.tokens_per_minute  # most tiers have no window to wait on
    if limited and not await state.admit_rate(tier, tokens, now):
        return None
    return Attempt(state, tier.key, now)


class Attempt:
    """One try at one tier: its in-flight slot, the half-open probe it may take, and its verdict.

    Entering (`with attempt:`) takes the slot and, when the circuit is half-open, a probe.
    `succeeded` or `failed` give the verdict (a stream may fail after it succeeded: it broke
    mid-way). Leaving frees a probe that got no verdict, and gives the slot back unless
    `hand_over` passed it to a stream's relay, which calls `release` when the stream ends.
    """

    __slots__ = ("_admitted_at", "_handed_over", "_probe", "_released", "_state", "_verdict", "key")

    def __init__(self, state: LocalState, key: str, admitted_at: float) -> None:
        self._state = state
        self.key = key
        """The tier's namespace/name."""
        self._admitted_at = admitted_at
        self._probe = self._verdict = self._handed_over = self._released = False

    def __enter__(self) -> Attempt:
        self._state.limits.enter_tier(self.key)
        self._probe = self._state.health.attempt_started(self.key, self._admitted_at)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._probe and not self._verdict:
            # No verdict on the tier (cancelled, the caller's deadline, a failure before it was
            # reached), but its probe must be freed, or the circuit would stay open for good.
            self._state.health.probe_abandoned(self.key)
        if not self._handed_over:
            self.release()

    def succeeded(self, now: float, *, ttft_ms: float | None = None) -> CircuitState | None:
        """The tier answered; returns the circuit's new state when it changed."""
        self._verdict = True
        return self._state.health.record_success(self.key, now, ttft_ms=ttft_ms)

    async def failed(self, now: float, *, retry_after: float | None = None) -> CircuitState | None:
        """The tier failed (a 429's `retry_after` cools it down); returns the circuit's new state when it changed.

        An opened circuit or a cool-down is shared with the other replicas.
        """
        self._verdict = True
        changed = self._state.health.record_failure(self.key, now, retry_after=retry_after)
        if changed is not None or retry_after:
            await self._state.share_health(self.key, now)
        return changed

    async def charge(self, policy_key: str, femto: int, now: float) -> int:
        """Count what the answer cost against the policy's day; returns the day's spend so far."""
        await self._state.add_spend(policy_key, femto, now)
        return self._state.spent_today(policy_key, now)

    def hand_over(self) -> None:
        """The slot now belongs to a stream's relay, which calls `release` when the stream ends."""
        self._handed_over = True

    def release(self) -> None:
        """Give the tier's in-flight slot back (once, however often it is called)."""
        if not self._released:
            self._released = True
            self._state.limits.leave_tier(self.key)
