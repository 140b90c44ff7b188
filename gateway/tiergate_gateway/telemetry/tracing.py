"""OpenTelemetry tracing, configured by the standard OTEL_* environment variables.

Tracing is on when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and `OTEL_TRACES_EXPORTER` is not `none`; otherwise
the no-op tracer costs next to nothing. Spans are exported over OTLP/HTTP (protobuf) by
the SDK's batch processor in its own thread with a bounded queue, so an exporter that is
down or slow never delays a request: full-queue drops are counted in
`tiergate_trace_spans_dropped_total` instead of logged one by one.

Span names and attributes (docs/observability.md, "Spans"): the server span
`POST /v1/chat/completions`, `tiergate.route`, one `tiergate.attempt` per upstream try, GenAI
semantic-convention attributes; prompt and answer text only with TIERGATE_TRACE_CONTENT=true
(server/api/content.py, capped by TIERGATE_TRACE_CONTENT_MAX_BYTES); never credentials.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tiergate_gateway.telemetry import metrics

TRACER_NAME = "tiergate.gateway"


def tracing_enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER", "") == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class _CountingBatchProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans it drops when its queue is full."""

    def on_end(self, span: ReadableSpan) -> None:
        batch = self._batch_processor
        if span.context and span.context.trace_flags.sampled and len(batch._queue) >= batch._max_queue_size:
            metrics.SPANS_DROPPED.inc()
        super().on_end(span)


def setup_tracing(service_name: str = "tiergate-gateway") -> bool:
    """Install the global tracer provider when tracing is configured; returns whether it is on."""
    if not tracing_enabled():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(_CountingBatchProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # One warning per dropped span would flood the logs while a collector is down.
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
    return True


def shutdown_tracing() -> None:
    """Flush what is queued (bounded by the SDK's timeouts) at shutdown."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


@functools.cache
def tracer() -> trace.Tracer:
    """The gateway's tracer (a no-op one when tracing is off); a proxy, so it follows a later set-up."""
    return trace.get_tracer(TRACER_NAME)


def context_from(headers: Mapping[str, str]) -> Any:
    """The caller's trace context from W3C `traceparent`/`tracestate`/`baggage` headers (None: there is none)."""
    if "traceparent" not in headers and "baggage" not in headers:
        return None  # the usual case; extracting nothing still cost ~3 us per request
    return extract(headers)


def propagation_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) for the current span, to send upstream."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier
