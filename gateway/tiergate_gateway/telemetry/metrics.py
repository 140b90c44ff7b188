"""Prometheus metrics of the gateway, all prefixed `tiergate_`, with bounded label sets.

Labels only ever hold configured names (policy, tier), enums (task, outcome, reason) or
fixed words: never request ids, user text or an unknown model name a client sent. With
several workers, `PROMETHEUS_MULTIPROC_DIR` is set by `tiergate gateway --workers N`
before the workers start, and `/metrics` aggregates every worker's files; gauges declare
how workers combine (sum of in-flight requests, max of circuit state, and so on).
"""

from __future__ import annotations

import functools
import os
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from tiergate_gateway.core.replicas import host_port


@functools.lru_cache(maxsize=8192)
def child[M: MetricWrapperBase](metric: M, *values: str) -> M:
    """`metric.labels(*values)`, remembered: the client's own lookup costs ~1 us a call, and the hot
    path makes ten a request. Bounded like the label sets themselves (configured names, enums)."""
    return metric.labels(*values)


_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter(
    "tiergate_requests_total",
    "Requests answered, by policy, tier, task and outcome",
    ["policy", "tier", "task", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "tiergate_request_duration_seconds",
    "Time to the full answer (or to the stream's end)",
    ["policy"],
    buckets=_LATENCY_BUCKETS,
)
TTFT_SECONDS = Histogram(
    "tiergate_time_to_first_token_seconds",
    "Time from sending to a tier to its first byte",
    ["tier"],
    buckets=_LATENCY_BUCKETS,
)
ATTEMPTS = Counter("tiergate_upstream_attempts_total", "Upstream attempts by tier and result", ["tier", "result"])
FALLBACKS = Counter(
    "tiergate_fallbacks_total",
    "Requests that moved from one tier to another, and why",
    ["from_tier", "to_tier", "reason"],
)
TOKENS = Counter("tiergate_tokens_total", "Tokens by tier and direction (input, output)", ["tier", "direction"])
COST = Counter("tiergate_cost_usd_total", "Estimated spend in USD by policy and tier", ["policy", "tier"])
BASELINE_COST = Counter(
    "tiergate_baseline_cost_usd_total",
    "What the same answers would have cost on the policy's largest tier (same tokens), by policy: "
    "saving = this minus tiergate_cost_usd_total",
    ["policy"],
)
CIRCUIT = Gauge(
    "tiergate_circuit_state",
    "Circuit breaker per tier: 0 closed, 1 half-open, 2 open",
    ["tier"],
    multiprocess_mode="max",
)
IN_FLIGHT = Gauge("tiergate_in_flight_requests", "Requests in flight per tier", ["tier"], multiprocess_mode="livesum")
BUDGET_SPENT = Gauge("tiergate_budget_spent_usd", "USD spent today per policy", ["policy"], multiprocess_mode="max")
BUDGET_REMAINING = Gauge(
    "tiergate_budget_remaining_usd", "USD left of today's dailyLimit per policy", ["policy"], multiprocess_mode="min"
)
SNAPSHOT_TIMESTAMP = Gauge(
    "tiergate_snapshot_timestamp_seconds",
    "When the current tiers and policies were loaded (age: time() - this)",
    multiprocess_mode="max",
)
WATCH_RECONNECTS = Counter("tiergate_watch_reconnects_total", "Kubernetes watch reconnects after errors")
CLASSIFIER = Counter("tiergate_classifier_decisions_total", "Task decisions by task and source", ["task", "source"])
SPANS_DROPPED = Counter("tiergate_trace_spans_dropped_total", "Trace spans dropped because the export queue was full")
SLOW_UPLOADS = Counter("tiergate_slow_uploads_total", "Requests refused (408) because their body came too slowly")
BAD_USAGE = Counter("tiergate_upstream_bad_usage_total", "Answers whose usage made no sense (treated as unknown)")
STATE_ERRORS = Counter("tiergate_shared_state_errors_total", "Failed Redis operations (local state was used instead)")

REPLICA_ATTEMPTS = Counter(
    "tiergate_replica_attempts_total",
    "Attempts per replica of a tier, by result (replica: host:port; pools past 32 replicas share 'other')",
    ["tier", "replica", "result"],
)
REPLICA_EJECTIONS = Counter(
    "tiergate_replica_ejections_total", "Replicas taken out of rotation after consecutive failures", ["tier", "replica"]
)
REPLICA_RETRIES = Counter(
    "tiergate_replica_retries_total", "Attempts retried on another replica of the same tier", ["tier"]
)
REPLICA_SCRAPE_FAILURES = Counter(
    "tiergate_replica_scrape_failures_total", "Replica metrics scrapes that failed (signals marked stale)", ["tier"]
)

TIER_DEMAND = Counter(
    "tiergate_tier_demand_total",
    "Requests routing ranked first on an autoscaled tier, by the tier's state then (Ready, ScaledToZero, Starting)",
    ["tier", "tier_namespace", "state"],
)
EXTERNAL_CLASSIFIER = Counter(
    "tiergate_external_classifier_total",
    "Requests to policies' external classifiers by outcome (Ok; else the built-in classifier decided)",
    ["policy", "outcome"],
)
EXTERNAL_CLASSIFIER_SECONDS = Histogram(
    "tiergate_external_classifier_seconds",
    "Time waited for an external classifier's answer",
    ["policy"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TIER_WAKES = Counter(
    "tiergate_tier_wakes_total",
    "Scale-from-zero writes the gateway made for cold tiers, by result",
    ["tier", "tier_namespace", "result"],
)

CIRCUIT_VALUES: Final = {"Closed": 0, "HalfOpen": 1, "Open": 2}
MAX_REPLICA_LABELS: Final = 32


class ReplicaLabels:
    """The `replica` label of a tier's replicas: its host:port for the first 32 seen, then 'other'.

    Replicas come and go (every pod restart is a new address), so the label set is capped per
    tier for the life of the process: the series count stays bounded under any churn.
    """

    def __init__(self, cap: int = MAX_REPLICA_LABELS) -> None:
        self.cap = cap
        self._labelled: dict[str, set[str]] = {}

    def of(self, tier: str, url: str) -> str:
        """The label for this replica of this tier."""
        labelled = self._labelled.setdefault(tier, set())
        label = host_port(url)
        if label in labelled:
            return label
        if len(labelled) < self.cap:
            labelled.add(label)
            return label
        return "other"


REPLICA_LABELS: Final = ReplicaLabels()


def render() -> tuple[bytes, str]:
    """The exposition text and its content type, aggregated across workers when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
