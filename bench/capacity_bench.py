"""Capacity simulation: what autoscaling with fallback saves against static GPU pools, over a day.

Run: `make bench-capacity` (or `.venv/bin/python bench/capacity_bench.py`; `--hours 0.25
--start-hour 9` for a short slice). We cannot run GPUs here, so this plans past the machine: a
discrete-event simulation of one day of traffic over one in-cluster vLLM tier (the example
`llama-8b`) and a remote API (the example `gpt-4o`), in which the routing and scaling code is
TierGate's own (bench/capacity: the real `Dispatcher`, `ReplicaBook` and `ColdStarts` on virtual
time, with a model of KEDA and its HPA from `tiergate_sim.keda`). Four scenarios, the same
arrivals in each:

- static-peak: a fixed pool sized for the day's busiest minute (bursts included) with headroom;
- static-average: a fixed pool sized for the day's mean rate;
- autoscaled: `spec.vllm.autoscaling` with the API's defaults, from 0 to `--max-replicas` (1.5 times
  the static-peak pool: a ceiling, reached only in bursts), KEDA scaling on the replicas' KV cache
  and waiting queue and the gateway's demand, the gateway waking the tier from zero and routing
  around it while it is cold (Interactive falls back at once, Batch waits up to 120 s);
- autoscaled-queue-only: the same with `targetKvCachePercent: 0`, scaling on the waiting queue
  alone (`--compare-kv-percent N` compares another target instead): what the KV-cache default buys.

Per scenario: GPU-hours and their cost, remote API spend, total, failed requests, Interactive
requests that missed their class, and more (docs/performance.md, "Capacity"). Prints a table and
writes bench/results/capacity.json. The scenarios run in parallel processes (`--jobs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from capacity import scenario
from capacity.cluster import ReplicaModel
from capacity.scenario import LOCAL, REMOTE, Autoscale, Settings
from capacity.workload import DAY_SHAPE, SIZES, DayCurve, mean_size
from tiergate_api.autoscaling import DEFAULT_TARGET_KV_CACHE_PERCENT
from tiergate_demo.workload import DemoRequest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("static-peak", "static-average", "autoscaled")
GOAL_SAVING = 0.40
GOAL_INTERACTIVE_MISSED_PCT = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--hours", type=float, default=24.0, help="hours measured (default: a day)")
    add("--start-hour", type=float, default=0.0, help="hour of the day where measuring starts")
    add("--warmup-hours", type=float, default=1.0, help="simulated before the start, not measured")
    add("--seed", type=int, default=1)
    add("--peak-rps", type=float, default=10.0, help="requests/s at the busiest hour, before bursts")
    add("--bursts-per-day", type=float, default=8.0)
    add("--batch-share", type=float, default=0.2, help="share of requests in the Batch class (the rest Interactive)")
    add("--gpu-hour-usd", type=float, default=1.006, help="price of one GPU-hour (default: one A10G on demand)")
    add("--cold-start", type=float, nargs=2, default=(60.0, 300.0), metavar=("MIN", "MAX"), help="seconds, uniform")
    add("--max-num-seqs", type=int, default=32)
    add("--kv-blocks", type=int, default=2048, help="KV-cache blocks of 16 tokens per replica")
    add("--prefill-tps", type=float, default=4000.0, help="prefill tokens/s per replica")
    add("--decode-tps", type=float, default=30.0, help="decode tokens/s per sequence")
    add("--ttft-bound", type=float, default=2.0, help="Interactive misses its class past this time to first token")
    add("--headroom", type=float, default=0.25, help="static-peak: spare capacity over the busiest minute")
    add(
        "--max-replicas",
        type=int,
        default=None,
        help="autoscaled maxReplicas (default: 1.5 times the static-peak pool: a ceiling reached only in bursts)",
    )
    add("--target-waiting", type=int, default=4, help="autoscaling.targetWaitingRequests")
    add(
        "--target-kv-percent",
        type=int,
        default=DEFAULT_TARGET_KV_CACHE_PERCENT,
        help="autoscaling.targetKvCachePercent (default: the API's)",
    )
    add(
        "--compare-kv-percent",
        type=int,
        default=0,
        help="also run autoscaled with this targetKvCachePercent (scenario autoscaled-kv<N>; 0: the waiting queue "
        "alone, autoscaled-queue-only; -1: no comparison)",
    )
    add("--idle-seconds", type=int, default=600, help="autoscaling.idleSecondsBeforeZero")
    add("--all-kinds", action="store_true", help="simulate every demo request, not only the in-cluster tier's")
    add("--scenarios", default=None, help="comma-separated names (default: all)")
    add("--jobs", type=int, default=os.cpu_count() or 1, help="scenarios run at once, one process each")
    add("--output", type=Path, default=RESULTS / "capacity.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    start = args.start_hour * 3600
    end = start + args.hours * 3600
    replica = ReplicaModel(
        max_num_seqs=args.max_num_seqs,
        kv_blocks=args.kv_blocks,
        prefill_tps=args.prefill_tps,
        decode_tps=args.decode_tps,
    )
    kinds, others = scenario.kinds_served_locally(args.all_kinds)
    curve = DayCurve.draw(args.peak_rps, args.bursts_per_day, random.Random(args.seed), days=2)
    size = mean_size(kinds)
    capacity = replica.capacity_rps(size)
    busiest, mean = curve.busiest_minute(start, end), curve.mean_rate(start, end)
    peak_pool = max(1, math.ceil(busiest * (1 + args.headroom) / capacity))
    average_pool = max(1, math.ceil(mean / capacity))
    autoscale = Autoscale(
        max_replicas=args.max_replicas or math.ceil(1.5 * peak_pool),
        target_waiting_requests=args.target_waiting,
        target_kv_cache_percent=args.target_kv_percent,
        idle_seconds_before_zero=args.idle_seconds,
    )
    pools: dict[str, int | Autoscale] = {
        "static-peak": peak_pool,
        "static-average": average_pool,
        "autoscaled": autoscale,
    }
    if args.compare_kv_percent >= 0 and args.compare_kv_percent != autoscale.target_kv_cache_percent:
        variant = dataclasses.replace(autoscale, target_kv_cache_percent=args.compare_kv_percent)
        label = "queue-only" if args.compare_kv_percent == 0 else f"kv{args.compare_kv_percent}"
        pools[f"autoscaled-{label}"] = variant
    settings = Settings(
        start=start,
        end=end,
        warmup=args.warmup_hours * 3600,
        seed=args.seed,
        peak_rps=args.peak_rps,
        bursts_per_day=args.bursts_per_day,
        batch_share=args.batch_share,
        replica=replica,
        cold_start=(args.cold_start[0], args.cold_start[1]),
        gpu_hour_usd=args.gpu_hour_usd,
        interactive_ttft_seconds=args.ttft_bound,
    )
    names = list(pools) if args.scenarios is None else [name for name in args.scenarios.split(",") if name]
    unknown = sorted(set(names) - set(pools))
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(pools)}", file=sys.stderr)
        return 2
    print(
        f"simulating {args.hours:g} h from {args.start_hour:g}:00 ({args.warmup_hours:g} h warm-up): "
        f"mean {mean:.2f} requests/s, busiest minute {busiest:.2f}/s; one replica serves {capacity:.2f}/s "
        f"-> static-peak {peak_pool}, static-average {average_pool}, autoscaled 0-{autoscale.max_replicas}",
        flush=True,
    )
    with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, len(names)))) as pool:
        futures = {name: pool.submit(scenario.run, name, settings, kinds, pools[name]) for name in names}
        results = [futures[name].result() for name in names]
    elapsed = time.perf_counter() - started
    report = _report(args, settings, pools, results, kinds, others, capacity, busiest, mean, elapsed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    _print_table(report)
    print(f"\n{elapsed:.0f} s; wrote {args.output}")
    return 0


def _report(
    args: argparse.Namespace,
    settings: Settings,
    pools: dict[str, int | Autoscale],
    results: list[dict[str, Any]],
    kinds: list[DemoRequest],
    others: list[DemoRequest],
    capacity: float,
    busiest: float,
    mean: float,
    elapsed: float,
) -> dict[str, Any]:
    by_name = {r["name"]: r for r in results}
    peak = by_name.get("static-peak")
    for result in results:
        if peak is not None and peak["total_usd"] > 0:
            result["saving_vs_static_peak_pct"] = round(100 * (1 - result["total_usd"] / peak["total_usd"]), 1)
    goal: dict[str, Any] = {
        "saving_vs_static_peak_pct_at_least": 100 * GOAL_SAVING,
        "failed": 0,
        "interactive_missed_pct_under": GOAL_INTERACTIVE_MISSED_PCT,
        "met": {},
    }
    for name, result in by_name.items():
        if name.startswith("autoscaled") and peak is not None:
            goal["met"][name] = {
                "saving": result.get("saving_vs_static_peak_pct", 0) >= 100 * GOAL_SAVING,
                "failed": result["failed"] == 0,
                "interactive_missed": result["interactive_missed_pct"] < GOAL_INTERACTIVE_MISSED_PCT,
            }
    replica = settings.replica
    return {
        "scenarios": results,
        "goal": goal,
        "workload": {
            "hours": args.hours,
            "start_hour": args.start_hour,
            "warmup_hours": args.warmup_hours,
            "seed": args.seed,
            "peak_rps": args.peak_rps,
            "mean_rps": round(mean, 3),
            "busiest_minute_rps": round(busiest, 3),
            "bursts_per_day": args.bursts_per_day,
            "batch_share": args.batch_share,
            "day_shape": list(DAY_SHAPE),
            "kinds": {k.label: dataclasses.asdict(SIZES[k.label]) for k in kinds},
            "kinds_not_simulated": [k.label for k in others],
        },
        "assumptions": {
            "in_cluster_tier": f"{LOCAL} (examples/tiers/{LOCAL}.yaml), 1 GPU per replica",
            "remote_tier": f"{REMOTE} (examples/tiers/{REMOTE}.yaml): its token prices, latency priors and limits",
            "gpu_hour_usd": settings.gpu_hour_usd,
            "replica": {
                "max_num_seqs": replica.max_num_seqs,
                "kv_blocks": replica.kv_blocks,
                "block_size": replica.block_size,
                "ttft_ms": replica.ttft_ms,
                "prefill_tokens_per_second": replica.prefill_tps,
                "decode_tokens_per_second_per_sequence": replica.decode_tps,
                "capacity_rps": round(capacity, 3),
            },
            "cold_start_seconds": list(settings.cold_start),
            "interactive_ttft_bound_seconds": settings.interactive_ttft_seconds,
            "static_peak_headroom": args.headroom,
            "autoscaling": {
                r["name"]: dataclasses.asdict(pool) for r in results if isinstance(pool := pools[r["name"]], Autoscale)
            },
            "prometheus_scrape_seconds": settings.prometheus_interval,
            "watch_delay_seconds": settings.watch_delay,
        },
        "run_seconds": round(elapsed, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }


def _print_table(report: dict[str, Any]) -> None:
    header = (
        f"{'scenario':<22} {'replicas':>8} {'GPU-h':>7} {'GPU $':>8} {'remote $':>9} {'total $':>8} "
        f"{'vs peak':>8} {'failed':>6} {'int. missed':>11} {'remote':>7} {'TTFT p99':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in report["scenarios"]:
        saving = r.get("saving_vs_static_peak_pct")
        print(
            f"{r['name']:<22} {r['replicas']!s:>8} {r['gpu_hours']:>7.1f} {r['gpu_usd']:>8.2f} {r['remote_usd']:>9.2f} "
            f"{r['total_usd']:>8.2f} {'' if saving is None else f'{-saving:+.1f}%':>8} {r['failed']:>6} "
            f"{r['interactive_missed_pct']:>10.2f}% {r['remote_share_pct']:>6.1f}% "
            f"{r['interactive_ttft_p99_s'] or 0:>7.2f}s"
        )
    goal = report["goal"]
    if goal["met"]:
        print(
            f"\ngoal: >= {goal['saving_vs_static_peak_pct_at_least']:.0f}% cheaper than static-peak, 0 failed, "
            f"< {goal['interactive_missed_pct_under']:g}% of Interactive requests missing their class"
        )
    for name, met in goal["met"].items():
        verdicts = ", ".join(f"{what} {'met' if ok else 'NOT met'}" for what, ok in met.items())
        print(f"  {name}: {verdicts}")


if __name__ == "__main__":
    sys.exit(main())
