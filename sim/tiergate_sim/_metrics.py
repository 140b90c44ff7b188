"""`/metrics`: the Prometheus text exposition, with vLLM's own names, labels and meanings.

vLLM (v1 engine) labels its series `engine` and `model_name` (the first served name) and
exposes counters with prometheus_client's `_total` suffix; a scraper written against vLLM
reads the simulator unchanged. The simulator's own counter, by outcome, comes first.
"""

from __future__ import annotations

from typing import Final

from tiergate_sim._engine import Engine
from tiergate_sim._stats import Outcome, Stats

_ENGINE_INDEX: Final = "0"
# vLLM's help texts.
_RUNNING: Final = "Number of requests in model execution batches."
_WAITING: Final = "Number of requests waiting to be processed."
_KV_USAGE: Final = "KV-cache usage. 1 means 100 percent usage."
_GPU_USAGE: Final = "GPU KV-cache usage. 1 means 100 percent usage. DEPRECATED: Use vllm:kv_cache_usage_perc instead."
_QUERIES: Final = "Prefix cache queries, in terms of number of queried tokens."
_HITS: Final = "Prefix cache hits, in terms of number of cached tokens."
_CACHE_CONFIG: Final = "Information of the LLMEngine CacheConfig"


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(model: str, stats: Stats, engine: Engine) -> bytes:
    """The whole `/metrics` document for a simulator serving `model` (its first served name)."""
    config = engine.config
    usage = engine.pool.usage
    labels = f'engine="{_ENGINE_INDEX}",model_name="{_label_value(model)}"'
    cache_labels = (
        f'block_size="{config.block_size}",enable_prefix_caching="{config.enable_prefix_caching}",'
        f'engine="{_ENGINE_INDEX}",num_gpu_blocks="{config.num_gpu_blocks}",'
        f'num_gpu_blocks_override="{config.num_gpu_blocks_override}"'
    )
    series: list[tuple[str, str, str, str, float]] = [
        ("vllm:num_requests_running", "gauge", _RUNNING, labels, engine.running),
        ("vllm:num_requests_waiting", "gauge", _WAITING, labels, engine.waiting),
        ("vllm:kv_cache_usage_perc", "gauge", _KV_USAGE, labels, usage),
        ("vllm:gpu_cache_usage_perc", "gauge", _GPU_USAGE, labels, usage),
        ("vllm:prefix_cache_queries_total", "counter", _QUERIES, labels, engine.prefix_cache_queries),
        ("vllm:prefix_cache_hits_total", "counter", _HITS, labels, engine.prefix_cache_hits),
        ("vllm:cache_config_info", "gauge", _CACHE_CONFIG, cache_labels, 1),
    ]
    lines = [
        "# HELP tiergate_sim_requests_total Completion requests by outcome.",
        "# TYPE tiergate_sim_requests_total counter",
    ]
    lines.extend(f'tiergate_sim_requests_total{{outcome="{o.value}"}} {stats.outcomes[o]}' for o in Outcome)
    for name, kind, help_text, series_labels, value in series:
        lines += (f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{{{series_labels}}} {float(value)!r}")
    lines.append("")
    return "\n".join(lines).encode()
