"""What the task classifier costs per request, against issue 18's goals, on one core.

- p50 and p99 per chat-sized request: the dev split's conversations of at most 2,000 characters;
- p50 and p99 for an 8,000-token document (about 32,000 characters of prose) under a one-line request;
- the resident memory the classifier adds to a process: a fresh interpreter's RSS before importing it
  and after classifying once (the head's weights, numpy, the cue vocabulary).

Each call is timed on its own; the memo of recent system prompts is cleared before each, so every
figure is a first sight. Run: `.venv/bin/python bench/classifier_cost.py` (part of `make bench`).
Writes bench/results/classifier.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "corpus" / "splits" / "dev.jsonl"
RESULTS = ROOT / "bench" / "results" / "classifier.json"
CHAT_CHARS = 2000
DOCUMENT_CHARS = 32_000
"""About 8,000 tokens at four characters a token."""

_RSS_PROBE = """
import resource, sys
def rss():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS:'))
before = rss()
from tiergate_gateway.core.classify import classify_messages
classify_messages([{'role': 'user', 'content': 'Is this review positive or negative: great soup'}])
print(before, rss())
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(ordered[len(ordered) // 2], 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
    }


def time_calls(conversations: list[list[dict[str, Any]]], repeat: int) -> dict[str, float]:
    from tiergate_gateway.core.classify import _system_cues, classify_messages

    for messages in conversations:
        classify_messages(messages)
    samples = []
    for _ in range(repeat):
        for messages in conversations:
            _system_cues.cache_clear()
            started = time.perf_counter_ns()
            classify_messages(messages)
            samples.append((time.perf_counter_ns() - started) / 1000)
    return percentiles(samples)


def document(chars: int) -> str:
    """Prose from the dev split's long documents, repeated to `chars` characters."""
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    prose = "\n\n".join(m["content"] for r in rows for m in r["messages"] if len(m["content"]) > 3000)
    text = prose
    while len(text) < chars:
        text += "\n\n" + prose
    return text[:chars]


def added_rss_mb() -> float:
    output = subprocess.run([sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True, check=True).stdout
    before, after = (int(value) for value in output.split())
    return round((after - before) / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few passes only (checks the harness, not speed)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    passes, document_calls = (1, 20) if args.quick else (20, 2000)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal says
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    chat = [r["messages"] for r in rows if sum(len(str(m.get("content", ""))) for m in r["messages"]) <= CHAT_CHARS]
    long_request = [
        [{"role": "user", "content": "What is the main point of this report?\n\n" + document(DOCUMENT_CHARS)}]
    ]
    report = {
        "chat_sized_us": {**time_calls(chat, passes), "requests": len(chat)},
        "document_8k_tokens_us": time_calls(long_request, document_calls),
        "added_rss_mb": added_rss_mb(),
        "goals": {"chat_p50_us": 200, "document_p99_us": 2000, "added_rss_mb": 100},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    chat_figures, doc_figures = report["chat_sized_us"], report["document_8k_tokens_us"]
    print(
        f"chat-sized requests ({chat_figures['requests']}): p50 {chat_figures['p50']} us, p99 {chat_figures['p99']} us"
    )
    print(f"8,000-token document: p50 {doc_figures['p50']} us, p99 {doc_figures['p99']} us")
    print(f"memory added by the classifier: {report['added_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
