"""The operator's metrics (Prometheus, on its metrics port) and traces (one span per reconcile).

Metrics: reconciles by kind and result, reconcile duration, and tiers by condition (from the
status each pass writes). Traces: configured by the standard OTEL_* variables, exported over
OTLP/HTTP in the SDK's background thread; off unless an endpoint is set.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter("tiergate_operator_reconciles_total", "Reconcile passes by kind and result", ["kind", "result"])
RECONCILE_SECONDS = Histogram(
    "tiergate_operator_reconcile_duration_seconds",
    "Duration of one reconcile pass",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TIERS_BY_CONDITION = Gauge(
    "tiergate_operator_tiers", "ModelTiers by condition type and status", ["condition", "status"]
)


class ConditionCensus:
    """The latest conditions of every tier, turned into the tiers-by-condition gauge."""

    def __init__(self) -> None:
        self._tiers: dict[tuple[str, str], dict[str, str]] = {}

    def update(self, namespace: str, name: str, status: Mapping[str, Any] | None) -> None:
        """Record a tier's conditions as just written (None when the tier is gone)."""
        key = (namespace, name)
        if status is None:
            self._tiers.pop(key, None)
        else:
            self._tiers[key] = {c["type"]: c["status"] for c in status.get("conditions", []) if "type" in c}
        counts: dict[tuple[str, str], int] = {}
        for conditions in self._tiers.values():
            for pair in conditions.items():
                counts[pair] = counts.get(pair, 0) + 1
        TIERS_BY_CONDITION.clear()
        for (condition, value), count in counts.items():
            TIERS_BY_CONDITION.labels(condition, value).set(count)


def serve_metrics(port: int) -> None:
    """Expose /metrics on all interfaces (a daemon thread); port 0 turns it off."""
    if port:
        start_http_server(port, addr="0.0.0.0")


def setup_tracing() -> bool:
    """Install a tracer provider when an OTLP endpoint is configured; returns whether it is on."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none":
        return False
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "tiergate-operator")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


@functools.cache
def _tracer() -> trace.Tracer:
    return trace.get_tracer("tiergate.operator")


@contextmanager
def reconcile_span(kind: str, namespace: str, name: str) -> Iterator[trace.Span]:
    """One span per reconcile pass; the caller sets `tiergate.outcome`."""
    with _tracer().start_as_current_span(
        "tiergate.reconcile",
        attributes={"tiergate.kind": kind, "k8s.namespace.name": namespace, "tiergate.name": name},
    ) as span:
        yield span
