"""How fast `tiergate replay` replays a log offline, on one core.

Builds a day of synthetic traffic from the classifier's regression prompts (tests/data, real
prompts of every task, some with system prompts and several turns): each line a wrapped request
with a timestamp and the usage of its answer, one in ten sent with an `x-tiergate-task` header,
one in ten logged without its text (the decision log's default). It then replays the log against
examples/local (four policies and five single tiers: nine scenarios per request) in this process,
pinned to one CPU, and prints lines per second for the whole replay (reading, parsing,
classifying, planning every policy, estimating every tier, the JSON document), for the same log
gzipped, for one policy, and for reading and parsing alone. The target (issue 17): at least
5,000 requests/s with every policy.

Run: `make bench-replay` or `.venv/bin/python bench/replay_bench.py [--lines N]`; writes bench/results/replay.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tiergate_gateway.replay.cli import select
from tiergate_gateway.replay.document import build_document
from tiergate_gateway.replay.lines import BadLine
from tiergate_gateway.replay.logfile import read_log
from tiergate_gateway.replay.offline import OfflineReplay, what_if
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.sources.config_dir import ConfigDirSource

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "data" / "classifier-regression.jsonl"
CONFIG = ROOT / "examples" / "local"
DAY = 86_400


def synthetic_log(path: Path, lines: int, seed: int = 1) -> None:
    """A day of requests from the regression prompts (see the module docstring)."""
    rows = [json.loads(line) for line in PROMPTS.read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    start = 1_796_000_000 - 1_796_000_000 % DAY
    with path.open("wb") as out:
        for n in range(lines):
            row = rows[n % len(rows)]
            request: dict[str, Any] = {
                "model": "gpt-4o",
                "messages": row["messages"],
                "max_tokens": rng.choice([64, 256, 1024]),
            }
            line: dict[str, Any] = {
                "timestamp": start + n * DAY / lines,
                "response": {
                    "usage": {"prompt_tokens": rng.randint(20, 2000), "completion_tokens": rng.randint(5, 800)}
                },
                "latency_ms": rng.uniform(50, 5000),
            }
            if n % 10 == 3:
                line["request"] = {"model": "auto", "max_tokens": request["max_tokens"]}
                line["shape"] = {"task": row["task"], "prompt_tokens": rng.randint(20, 2000)}
            else:
                line["request"] = request
            if n % 10 == 7:
                line["headers"] = {"x-tiergate-task": row["task"]}
            out.write(orjson.dumps(line) + b"\n")


def replay(path: Path, policies: list[str]) -> tuple[int, float]:
    """Lines replayed and seconds taken, document included."""
    snapshot = what_if(ConfigDirSource(CONFIG, SnapshotStore()).load())
    chosen = select(snapshot, policies, None)
    assert not isinstance(chosen, str), chosen
    offline = OfflineReplay(*chosen)
    started = time.perf_counter()
    for item in read_log(path):
        if isinstance(item, BadLine):
            offline.bad(item)
        else:
            offline.add(item)
    build_document(offline, config_dir=str(CONFIG), logs=[str(path)], version="bench")
    return offline.totals.lines, time.perf_counter() - started


def parse_only(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in read_log(path))
    return count, time.perf_counter() - started


def best_of(runs: int, run: Callable[[], tuple[int, float]]) -> dict[str, float]:
    """The fastest of several runs (the least disturbed by the rest of the machine)."""
    results = [run() for _ in range(runs)]
    lines, seconds = min(results, key=lambda r: r[1])
    return {"lines": lines, "seconds": round(seconds, 3), "lines_per_second": round(lines / seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "replay.json")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # one core, as the target says
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "day.jsonl"
        synthetic_log(log, args.lines)
        zipped = Path(tmp) / "day.jsonl.gz"
        zipped.write_bytes(gzip.compress(log.read_bytes()))
        size = log.stat().st_size
        figures = {
            "log": {"lines": args.lines, "bytes": size, "gzip_bytes": zipped.stat().st_size},
            "every policy (4) and tier (5)": best_of(args.runs, lambda: replay(log, [])),
            "same, gzipped log": best_of(args.runs, lambda: replay(zipped, [])),
            "one policy (auto) and its 5 tiers": best_of(args.runs, lambda: replay(log, ["auto"])),
            "reading and parsing only": best_of(args.runs, lambda: parse_only(log)),
        }
    print(f"replay of {args.lines:,} requests ({size / 1e6:.1f} MB) on one core, best of {args.runs}:")
    for name, result in figures.items():
        if name != "log":
            print(f"  {name:<36} {result['lines_per_second']:>9,} lines/s  ({result['seconds']:.2f} s)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
