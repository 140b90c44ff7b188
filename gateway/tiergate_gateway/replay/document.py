"""The replay's results as the documented JSON document (docs/schemas/replay-v1.schema.json; pure).

Also the verdict: one sentence that answers "should we route?", including the honest no.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from tiergate_gateway.core.views import FEMTO_PER_USD
from tiergate_gateway.replay.offline import DAY_SECONDS, HOUR_SECONDS, OfflineReplay, Tally

SCHEMA_VERSION: Final = 1
TTFT_BOUNDS_MS: Final = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)
UNIFORM_MARGIN: Final = 0.10
"""Routing that saves less than this share over the best single tier is not worth its complexity."""
_HOURLY_UP_TO: Final = 3 * DAY_SECONDS
"""Cost over time is hourly for logs spanning up to three days, daily beyond."""


def usd(femto: int) -> float:
    """femto-USD as USD, to 9 decimals (exact for every price the CRD accepts)."""
    return round(femto / FEMTO_PER_USD, 9)


def percentiles(counts: Counter[int]) -> dict[str, float | None]:
    """p50 and p95 by nearest rank (None without data)."""
    total = sum(counts.values())
    if not total:
        return {"p50": None, "p95": None}
    found: dict[str, float | None] = {}
    ranks = (("p50", -(-total * 50 // 100)), ("p95", -(-total * 95 // 100)))
    seen = 0
    want = iter(ranks)
    name, rank = next(want)
    for value in sorted(counts):
        seen += counts[value]
        while seen >= rank:
            found[name] = float(value)
            step = next(want, None)
            if step is None:
                return found
            name, rank = step
    return found


def histogram(counts: Counter[int], bounds: tuple[float, ...] = TTFT_BOUNDS_MS) -> list[int]:
    """Counts per bucket (value <= bound), and a last bucket for the rest."""
    buckets = [0] * (len(bounds) + 1)
    for value, count in counts.items():
        index = next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
        buckets[index] += count
    return buckets


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _over_time(tally: Tally, first: float | None, last: float | None) -> list[dict[str, Any]]:
    """Cost per hour (or per day for long logs), every bucket from the first request to the last."""
    if first is None or last is None:
        return []
    step = HOUR_SECONDS if last - first <= _HOURLY_UP_TO else DAY_SECONDS
    per = step // HOUR_SECONDS
    buckets: Counter[int] = Counter()
    for hour, cost in tally.hourly.items():
        buckets[hour // per] += cost
    start, end = int(first // step), int(last // step)
    return [{"start": _iso(b * step), "cost_usd": usd(buckets.get(b, 0))} for b in range(start, end + 1)]


def _scenario(tally: Tally, requests: int, first: float | None, last: float | None) -> dict[str, Any]:
    saving = tally.both_baseline - tally.both_cost
    return {
        "name": tally.name,
        "kind": tally.kind,
        "strategy": tally.strategy,
        "requests": tally.requests,
        "served": tally.served,
        "no_capable_tier": tally.no_capable_tier,
        "rejected": tally.rejected,
        "downgraded": tally.downgraded,
        "relaxed": tally.relaxed,
        "cost_usd": usd(tally.cost),
        "saving_usd": usd(saving),
        "saving_percent": round(100 * saving / tally.both_baseline, 2) if tally.both_baseline else None,
        "ttft_ms": percentiles(tally.ttft_ms),
        "latency_ms": percentiles(tally.latency_ms),
        "ttft_histogram": histogram(tally.ttft_ms),
        "tiers": {
            name: {
                "requests": booked[0],
                "share_percent": round(100 * booked[0] / requests, 2) if requests else 0.0,
                "cost_usd": usd(booked[1]),
            }
            for name, booked in sorted(tally.tiers.items(), key=lambda item: -item[1][0])
        },
        "by_task": {task: dict(counts.most_common()) for task, counts in sorted(tally.by_task.items())},
        "cost_over_time": _over_time(tally, first, last),
    }


def best_single(replay: OfflineReplay) -> Tally | None:
    """The cheapest single tier among those that serve the most requests."""
    return min(replay.singles, key=lambda t: (-t.served, t.cost, t.name), default=None)


def build_document(
    replay: OfflineReplay, *, config_dir: str, logs: list[str], version: str, live: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole JSON document."""
    totals = replay.totals
    first, last = totals.first, totals.last
    single = best_single(replay)
    return {
        "schema_version": SCHEMA_VERSION,
        "tiergate_version": version,
        "config_dir": config_dir,
        "logs": logs,
        "requests": {
            "lines": totals.lines,
            "replayed": totals.replayed,
            "bad_lines": totals.bad_lines,
            "with_usage": totals.with_usage,
            "with_timestamp": totals.with_timestamp,
            "without_content": totals.without_content,
            "first_timestamp": None if first is None else _iso(first),
            "last_timestamp": None if last is None else _iso(last),
        },
        "bad_lines": {
            "by_kind": dict(totals.bad_kinds.most_common()),
            "listed": [
                {"file": b.file, "line": b.line, "kind": b.kind.value, "detail": b.detail} for b in totals.bad_listed
            ],
        },
        "tasks": dict(totals.tasks.most_common()),
        "baseline": replay.baseline.name if replay.baseline is not None else None,
        "best_single": single.name if single is not None and single.served else None,
        "ttft_histogram_bounds_ms": list(TTFT_BOUNDS_MS),
        "scenarios": [_scenario(t, totals.replayed, first, last) for t in replay.scenarios],
        "verdict": verdict(replay),
        "live": live,
    }


def _money(femto: int) -> str:
    value = femto / FEMTO_PER_USD
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}" if value >= 0.0001 else f"${value:.6f}"


def verdict(replay: OfflineReplay) -> dict[str, Any]:
    """One sentence: route (with which policy and what it saves), one model is enough, or routing costs more."""
    totals = replay.totals
    if not totals.replayed:
        return {
            "kind": "NoRequests",
            "policy": None,
            "text": f"No request in the log could be replayed ({totals.bad_lines} bad lines); nothing to compare.",
        }
    best = max(replay.policies, key=lambda t: (t.both_baseline - t.both_cost, -t.rejected, t.name))
    baseline = next((t for t in replay.singles if t.tier is replay.baseline), None)
    single = best_single(replay)
    base_name = replay.baseline.name if replay.baseline is not None else "the largest tier"
    saving = best.both_baseline - best.both_cost
    if saving <= 0 or baseline is None:
        return {
            "kind": "RoutingCostsMore",
            "policy": best.name,
            "text": f"Routing would not save money on this traffic: policy '{best.name}' would cost "
            f"{_money(best.cost)} against {_money(best.both_baseline)} with everything on {base_name}; "
            "keep one model.",
        }
    percent = 100 * saving / best.both_baseline
    if single is not None and single.served >= best.served and single.cost <= best.cost * (1 + UNIFORM_MARGIN):
        extra = 100 * (single.cost - best.cost) / single.cost if single.cost else 0.0
        return {
            "kind": "OneModelIsEnough",
            "policy": best.name,
            "text": f"Your traffic is uniform; one model is enough: {single.name} serves {single.served:,} of "
            f"{totals.replayed:,} requests for {_money(single.cost)}, and routing with '{best.name}' would save "
            f"only {extra:.1f}% more.",
        }
    smaller = sum(n for name, (n, _) in best.tiers.items() if name != base_name)
    ttft, base_ttft = percentiles(best.ttft_ms)["p95"], percentiles(baseline.ttft_ms)["p95"]
    text = (
        f"Route with '{best.name}': {_money(best.cost)} instead of {_money(best.both_baseline)} with everything on "
        f"{base_name} ({percent:.1f}% less), {100 * smaller / max(best.served, 1):.0f}% of requests on other tiers, "
        f"estimated p95 time to first token {ttft:.0f} ms against {base_ttft:.0f} ms"
    )
    if single is not None and single.tier is not replay.baseline:
        text += f"; the best single model, {single.name}, would cost {_money(single.cost)}"
    if best.no_capable_tier or best.rejected:
        text += f"; {best.no_capable_tier:,} requests found no capable tier and {best.rejected:,} would be refused"
    return {"kind": "Route", "policy": best.name, "text": text + "."}
