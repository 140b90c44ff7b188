"""Reading the vLLM gauges replica picking uses (queue, KV cache) out of a Prometheus text page (pure).

Not a general Prometheus parser (the official client's parser builds every family and every
sample, which costs a full page's worth of objects per scrape): this one looks only at lines that
start with the names below, skips any line longer than `MAX_LINE`, and stops after `MAX_SAMPLES`
matching samples, so a hostile or broken page costs at most its (capped) size to scan and a
constant amount of memory. Series with several label sets (one per model or engine) are summed
for the queue gauges and averaged for cache usage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

MAX_LINE: Final = 4096
MAX_SAMPLES: Final = 256

RUNNING: Final = b"vllm:num_requests_running"
WAITING: Final = b"vllm:num_requests_waiting"
KV_USAGE: Final = b"vllm:kv_cache_usage_perc"
KV_USAGE_OLD: Final = b"vllm:gpu_cache_usage_perc"
_NAMES: Final = (RUNNING, WAITING, KV_USAGE, KV_USAGE_OLD)


@dataclass(frozen=True, slots=True)
class VllmSignals:
    """A replica's load as its own metrics state it."""

    running: float
    waiting: float
    kv_usage: float | None
    """0..1; None when the page has neither the current nor the older gauge."""


def parse(page: bytes) -> VllmSignals | None:
    """The signals on a metrics page, or None when it has none of the queue gauges."""
    sums: dict[bytes, float] = {}
    counts: dict[bytes, int] = {}
    samples = 0
    for line in page.split(b"\n"):
        if not line.startswith(b"vllm:") or len(line) > MAX_LINE:
            continue
        name, value = _sample(line)
        if name is None:
            continue
        sums[name] = sums.get(name, 0.0) + value
        counts[name] = counts.get(name, 0) + 1
        samples += 1
        if samples >= MAX_SAMPLES:
            break
    if RUNNING not in sums and WAITING not in sums:
        return None
    kv_name = KV_USAGE if KV_USAGE in sums else KV_USAGE_OLD if KV_USAGE_OLD in sums else None
    kv = None if kv_name is None else min(1.0, max(0.0, sums[kv_name] / counts[kv_name]))
    return VllmSignals(
        running=sums.get(RUNNING, 0.0),
        waiting=sums.get(WAITING, 0.0),
        kv_usage=kv,
    )


def _sample(line: bytes) -> tuple[bytes | None, float]:
    """(metric name, value) of one sample line, or (None, 0) when it is not one we read."""
    end = len(line)
    brace = line.find(b"{")
    space = line.find(b" ")
    name_end = brace if 0 <= brace < (space if space >= 0 else end) else space
    if name_end < 0:
        return None, 0.0
    name = line[:name_end]
    if name.endswith(b"_total"):
        name = name[:-6]
    if name not in _NAMES:
        return None, 0.0
    rest = line[name_end:]
    if rest.startswith(b"{"):
        close = rest.rfind(b"}")
        if close < 0:
            return None, 0.0
        rest = rest[close + 1 :]
    fields = rest.split()
    if not fields:
        return None, 0.0
    try:
        value = float(fields[0])
    except ValueError:
        return None, 0.0
    if not math.isfinite(value) or value < 0:
        return None, 0.0
    return name, value


def metrics_url(base_url: str) -> str:
    """Where a replica's metrics are: its OpenAI base URL without the `/v1` suffix, plus `/metrics`."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return root + "/metrics"
