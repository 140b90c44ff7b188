"""Accuracy and cost of the built-in task classifier on a labelled set of prompts.

Run: `.venv/bin/python bench/classifier_accuracy.py [PATH] [--repeat N]`. PATH is a JSON-lines
file of {"id", "task", "messages"} rows (default: $TIERGATE_TASKS_DEV or the shared dev set).
Prints accuracy, per-task precision and recall, the confusion matrix (rows: labelled task,
columns: predicted), each misclassified id with the cues that decided it, the time per
classification over the set repeated N times, and the size of the keyword vocabulary
(`gateway/tiergate_gateway/core/vocabulary/`, docs/classifier.md) with what reading and indexing
it costs at start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tiergate_api.enums import Task
from tiergate_gateway.core._classify_index import build_scanner
from tiergate_gateway.core._classify_vocabulary import built_in_vocabulary
from tiergate_gateway.core.classify import _system_cues, classify_messages

DEFAULT_SET = os.environ.get("TIERGATE_TASKS_DEV", "/work/shared/data/tasks-dev.jsonl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT_SET, help="labelled JSON-lines file")
    parser.add_argument("--repeat", type=int, default=200, help="passes over the set for the timing")
    args = parser.parse_args(argv)
    path = Path(args.path)
    if not path.exists():
        print(f"no labelled set at {path}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        print(f"{path} holds no prompts", file=sys.stderr)
        return 2

    results = [(row, classify_messages(row["messages"])) for row in rows]
    pairs = [(Task(row["task"]), result.task) for row, result in results]
    correct = sum(expected == got for expected, got in pairs)
    print(f"{path}: {len(rows)} prompts")
    print(f"accuracy: {correct / len(rows):.1%} ({correct}/{len(rows)})\n")
    print(_per_task(pairs))
    print("\nconfusion matrix (rows: labelled, columns: predicted)")
    print(_confusion(pairs))
    misses = [(row, result) for row, result in results if Task(row["task"]) != result.task]
    print(f"\nmisclassified: {len(misses)}")
    for row, result in misses:
        print(f"  {row['id']}: {row['task']} -> {result.task.value} ({result.confidence:.2f}) {', '.join(result.cues)}")
    print()
    print(_timing([row["messages"] for row in rows], args.repeat))
    print(_vocabulary())
    return 0


def _per_task(pairs: list[tuple[Task, Task]]) -> str:
    lines = [f"{'task':<16} {'precision':>9} {'recall':>7} {'support':>8}"]
    for task in Task:
        predicted = sum(got == task for _, got in pairs)
        actual = sum(expected == task for expected, _ in pairs)
        hits = sum(expected == got == task for expected, got in pairs)
        precision = f"{hits / predicted:.0%}" if predicted else "-"
        recall = f"{hits / actual:.0%}" if actual else "-"
        lines.append(f"{task.value:<16} {precision:>9} {recall:>7} {actual:>8}")
    return "\n".join(lines)


def _confusion(pairs: list[tuple[Task, Task]]) -> str:
    counts = Counter(pairs)
    width = max(len(t.value) for t in Task)
    lines = [" " * width + " " + " ".join(f"{t.value[:6]:>6}" for t in Task)]
    lines += [f"{row.value:>{width}} " + " ".join(f"{counts[(row, col)]:>6}" for col in Task) for row in Task]
    return "\n".join(lines)


def _timing(conversations: list[Any], repeat: int) -> str:
    """Per-call time, each call measured on its own so the percentiles mean something.

    Wall time includes whatever else the machine is doing; the thread's CPU time is the
    classifier's own cost, so both are shown. The classifier remembers the cues of recent
    system prompts; that memo is cleared before each call, so every figure is a first sight.
    """
    for messages in conversations:  # warm up (regex caches, first-call allocations)
        classify_messages(messages)
    forget_system_prompts = _system_cues.cache_clear
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(repeat):
        for messages in conversations:
            forget_system_prompts()
            wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
            classify_messages(messages)
            cpu.append((time.thread_time_ns() - cpu_start) / 1000)
            wall.append((time.perf_counter_ns() - wall_start) / 1000)
    return "\n".join(
        [f"time per classification over {len(wall)} calls ({len(conversations)} prompts x {repeat}):",
         _summary("cpu ", cpu), _summary("wall", wall)]
    )


def _vocabulary() -> str:
    """How many cues, forms and prefixes the vocabulary has, and what reading and indexing it cost.

    Both compile regexes, which `re` remembers: its cache is emptied first, as at start-up.
    """
    re.purge()
    started = time.perf_counter()
    cues = built_in_vocabulary()
    re.purge()
    read = time.perf_counter()
    build_scanner(cues)
    indexed = time.perf_counter()
    forms = [form for cue in cues for form in cue.forms]
    prefixes = sum(len(form.prefixes) for form in forms)
    return (
        f"vocabulary: {len(cues)} cues, {len(forms)} forms, {prefixes} prefixes; "
        f"read and checked in {(read - started) * 1000:.0f} ms, indexed in {(indexed - read) * 1000:.0f} ms"
    )


def _summary(label: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return (
        f"  {label}: mean {statistics.fmean(samples):.1f} us, p50 {p50:.1f} us, p99 {p99:.1f} us, "
        f"max {samples[-1]:.1f} us"
    )


if __name__ == "__main__":
    sys.exit(main())
