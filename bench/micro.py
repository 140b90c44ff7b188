"""Micro-benchmarks of the gateway's pure hot-path pieces, in microseconds per call.

- classification of the labelled dev set's prompts (and the regression set's), and of typical
  requests one by one: a one-sentence chat, a system prompt and a question (with the system
  prompt's cues remembered or not), and 2 KB, 20 KB and 200 KB prompts (p50 and mean);
- plan building with 10, 100 and 1,000 candidate tiers, per strategy;
- building a snapshot of 1,000 tiers (what a reload or watch event costs) and swapping it in.

Run: `.venv/bin/python bench/micro.py`; writes bench/results/micro.json. Each figure is the
median of several timed rounds after a warm-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from tiergate_api.enums import LatencyClass, Strategy, Task
from tiergate_api.resources import parse_resource
from tiergate_gateway.core import classify
from tiergate_gateway.core.classify import classify_messages
from tiergate_gateway.core.protocol import parse_request
from tiergate_gateway.core.registry import build_snapshot
from tiergate_gateway.core.replicas import PickWeights, block_hashes, chat_prefix_text
from tiergate_gateway.core.routing import RequestFacts, plan_request
from tiergate_gateway.core.views import with_index
from tiergate_gateway.dispatch.replica_tries import PrefixHashes
from tiergate_gateway.runtime.health import HealthBook
from tiergate_gateway.runtime.replicas import ReplicaPool
from tiergate_gateway.runtime.snapshots import SnapshotStore

ROOT = Path(__file__).resolve().parent.parent
SIZES = ["0.5B", "1.5B", "3B", "8B", "14B", "32B", "70B", "405B"]
PRICES = ["0", "0.02", "0.1", "0.6", "2.5", "10"]


CALL_SCALE = 1.0
"""Scales every loop count (`--quick` makes it tiny)."""


def per_call_us(fn: Callable[[], Any], calls: int, rounds: int = 5) -> float:
    """Median microseconds per call over `rounds` rounds of `calls` calls."""
    calls = max(1, int(calls * CALL_SCALE))
    for _ in range(max(1, calls // 10)):
        fn()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        timings.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(timings)


def tier_documents(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """A mixed fleet: sizes across the bands, a third Local, varied prices and priors."""
    rnd = random.Random(seed)
    documents = []
    for i in range(count):
        documents.append(
            {
                "apiVersion": "tiergate.io/v1alpha1",
                "kind": "ModelTier",
                "metadata": {"name": f"t{i}"},
                "spec": {
                    "model": f"model-{i}",
                    "size": rnd.choice(SIZES),
                    "capabilities": {"maxContextTokens": rnd.choice([8192, 32768, 131072])},
                    "cost": {"inputPerMillionTokens": rnd.choice(PRICES), "outputPerMillionTokens": rnd.choice(PRICES)},
                    "latency": {"ttftMilliseconds": rnd.randint(20, 500), "tokensPerSecond": rnd.randint(20, 300)},
                    "endpoint": {
                        "url": f"http://10.0.0.{i % 250}:8000/v1",
                        "locality": "Local" if rnd.random() < 0.33 else "Remote",
                    },
                },
            }
        )
    return documents


def policy_view_for(tiers: list[dict[str, Any]], strategy: Strategy) -> Any:
    """A policy over every tier (built through the real parser, then widened past the CRD's list bound)."""
    parsed = [parse_resource(t) for t in tiers]
    policy = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": "bench"},
        "spec": {
            "modelAlias": "auto",
            "strategy": strategy.value,
            "tiers": [{"name": t["metadata"]["name"]} for t in tiers[:64]],
            "budget": {"maxCostPerRequest": "1"},
            **({"weights": {"capability": 50, "cost": 30, "latency": 20}} if strategy == Strategy.HYBRID else {}),
        },
    }
    snapshot = build_snapshot(parsed, [parse_resource(policy)])  # type: ignore[arg-type]
    view = snapshot.policies["auto"]
    every = tuple(snapshot.tiers[f"default/{t['metadata']['name']}"] for t in tiers)
    return with_index(dataclasses.replace(view, tiers=every))


def bench_classifier() -> dict[str, float]:
    figures = {}
    for label, path in (
        ("dev set", ROOT.parent / "shared" / "data" / "tasks-dev.jsonl"),
        ("regression set", ROOT / "tests" / "data" / "classifier-regression.jsonl"),
    ):
        if not path.exists():
            continue
        rows = [json.loads(line)["messages"] for line in path.read_text().splitlines() if line.strip()]
        index = iter(range(10**9))
        # Mean per call, every system prompt classified as if seen for the first time.
        figures[label] = per_call_percentiles(
            lambda rows=rows, index=index: classify_messages(rows[next(index) % len(rows)]),
            5000,
            before=classify._system_cues.cache_clear,
        )["mean"]
    return figures


SYSTEM_PROMPT = "You are a helpful assistant for Acme Corp. Answer politely and concisely; if you do not know, say so."
QUESTION = "Can you help me write a short email to my landlord asking to fix the heating?"


def classification_cases() -> dict[str, list[dict[str, Any]]]:
    """Typical requests: short chat, system prompt and question, and long pasted documents."""
    cases: dict[str, list[dict[str, Any]]] = {
        "short chat": [{"role": "user", "content": "Classify the sentiment: great service"}],
        "system + user": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": QUESTION},
        ],
    }
    for kilobytes in (2, 20, 200):
        document = _document(kilobytes * 1024)
        cases[f"{kilobytes} KB prompt"] = [
            {"role": "user", "content": "Summarize the following notes for my manager:\n\n" + document}
        ]
    return cases


def _document(size: int) -> str:
    """Prose of `size` characters: the regression set's assistant replies, one after another."""
    path = ROOT / "tests" / "data" / "classifier-regression.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    replies = [m["content"] for row in rows for m in row["messages"] if m.get("role") == "assistant"]
    text = ""
    while len(text) < size:
        text += "\n\n".join(replies) + "\n\n"
    return text[:size]


def per_call_percentiles(
    fn: Callable[[], Any], calls: int, before: Callable[[], Any] | None = None
) -> dict[str, float]:
    """p50 and mean microseconds of `calls` calls, each timed on its own (`before` runs untimed)."""
    calls = max(10, int(calls * CALL_SCALE))
    for _ in range(max(1, calls // 10)):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        if before is not None:
            before()
        started = clock()
        fn()
        samples.append((clock() - started) / 1000)
    samples.sort()
    return {"p50": samples[len(samples) // 2], "mean": statistics.fmean(samples)}


def bench_classification_cases() -> dict[str, dict[str, float]]:
    # The classifier remembers the cues of recent system prompts; clearing that memo before each
    # call gives the figure for a system prompt seen for the first time (the headline one).
    forget_system_prompts = classify._system_cues.cache_clear
    figures = {}
    for label, messages in classification_cases().items():
        def call(messages: list[dict[str, Any]] = messages) -> Any:
            return classify_messages(messages)

        figures[label] = per_call_percentiles(call, 5000, before=forget_system_prompts)
        if label == "system + user":
            figures["system + user, system prompt remembered"] = per_call_percentiles(call, 5000)
    return figures


def bench_plans() -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    health = HealthBook()
    facts = RequestFacts(Task.SUMMARIZATION, LatencyClass.INTERACTIVE, prompt_tokens=400, max_tokens=200)
    for count in (10, 100, 1000):
        documents = tier_documents(count)
        row = {}
        for strategy in Strategy:
            view = policy_view_for(documents, strategy)
            calls = 20000 if count < 1000 else 2000
            row[strategy.value] = per_call_us(lambda view=view: plan_request(view, facts, health), calls)
        figures[f"{count} tiers"] = row
    return figures


def bench_snapshot() -> dict[str, float]:
    documents = tier_documents(1000)
    parsed = [parse_resource(d) for d in documents]
    policy = parse_resource(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "RoutingPolicy",
            "metadata": {"name": "p"},
            "spec": {"modelAlias": "auto", "tiers": [{"name": f"t{i}"} for i in range(64)]},
        }
    )
    store = SnapshotStore()
    build_us = per_call_us(lambda: build_snapshot(parsed, [policy]), 20, rounds=3)  # type: ignore[list-item]
    snapshot = build_snapshot(parsed, [policy])  # type: ignore[list-item]
    swap_us = per_call_us(lambda: store.publish(snapshot), 20000)
    parse_us = per_call_us(lambda: [parse_resource(d) for d in documents], 5, rounds=3)
    return {"parse 1000 tiers": parse_us, "build snapshot of 1000 tiers": build_us, "swap (publish)": swap_us}


def bench_replica_pick() -> dict[str, float]:
    """Picking a replica (choose, started, finished) at 1, 4 and 64 replicas with live signals, and
    hashing a 2,000-token prompt into prefix blocks (paid once per request, only for tiers with replicas)."""
    weights = PickWeights()
    system = "You help the accounts team. " * 290
    body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]}
    text = chat_prefix_text(body)
    blocks = block_hashes(text, weights.block_chars, weights.max_blocks)
    calls = max(1, int(20000 * CALL_SCALE))
    tier = SimpleNamespace(picking=weights)
    remembered = PrefixHashes()
    parsed = parse_request(orjson.dumps({"model": "auto", **body}), "chat")
    row = {
        "hash 2,000-token prompt": per_call_us(
            lambda: block_hashes(chat_prefix_text(body), weights.block_chars, weights.max_blocks), calls
        ),
        "same, system prompt seen": per_call_us(lambda: remembered.of(parsed, tier), calls),  # type: ignore[arg-type]
    }
    for count in (1, 4, 64):
        pool = ReplicaPool([f"http://10.0.{count}.{i}:8000/v1" for i in range(count)])
        for index, url in enumerate(pool.urls):
            pool.record_signals(url, 4, index % 3, 0.3 + index % 5 / 10, 1.0)

        def one(pool: ReplicaPool = pool) -> None:
            replica = pool.choose(blocks, weights, 2.0)
            assert replica is not None
            pool.started(replica)
            pool.finished(replica, True, 2.0)

        row[f"pick, {count} replicas"] = per_call_us(one, calls)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "micro.json")
    parser.add_argument("--quick", action="store_true", help="a few calls each: checks the harness, not speed")
    args = parser.parse_args()
    if args.quick:
        global CALL_SCALE
        CALL_SCALE = 0.01
    report = {
        "classify_us": bench_classifier(),
        "classify_cases_us": bench_classification_cases(),
        "plan_us": bench_plans(),
        "snapshot_us": bench_snapshot(),
        "replica_us": bench_replica_pick(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print("classification (us per request):")
    for label, value in report["classify_us"].items():
        print(f"  {label:<42} {value:8.1f}")
    for label, figures in report["classify_cases_us"].items():
        print(f"  {label:<42} {figures['p50']:8.1f} p50 {figures['mean']:8.1f} mean")
    print("plan building (us per request):")
    strategies = [s.value for s in Strategy]
    print(f"  {'':<12}" + "".join(f"{s:>12}" for s in strategies))
    for label, row in report["plan_us"].items():
        print(f"  {label:<12}" + "".join(f"{row[s]:>12.1f}" for s in strategies))
    print("snapshot (us):")
    for label, value in report["snapshot_us"].items():
        print(f"  {label:<30} {value:12.1f}")
    print("replica picking (us per request):")
    for label, value in report["replica_us"].items():
        print(f"  {label:<30} {value:12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
