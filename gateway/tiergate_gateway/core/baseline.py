"""The baseline routing is measured against: "everything on one model", the largest tier (pure).

One definition for the live saving (`/ui`, `tiergate_baseline_cost_usd_total`) and for
`tiergate replay`, so the two never disagree about what a saving is.
"""

from __future__ import annotations

from collections.abc import Iterable

from tiergate_gateway.core.views import PolicyView, TierView


def largest_tier(tiers: Iterable[TierView]) -> TierView | None:
    """The largest tier by parameter count; among equals the dearest (the one a cautious team would pick)."""
    return max(
        tiers,
        key=lambda t: (t.billions, t.input_femto_per_token + t.output_femto_per_token, t.name),
        default=None,
    )


def policy_baseline(policy: PolicyView) -> TierView | None:
    """A policy's baseline: its largest tier (candidates and chain-only tiers alike)."""
    return largest_tier(policy.all_tiers or policy.tiers)
