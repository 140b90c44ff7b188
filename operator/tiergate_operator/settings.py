"""The operator's configuration: one pydantic-settings object, read once at startup.

Everything comes from environment variables prefixed `TIERGATE_OPERATOR_` (for example
`TIERGATE_OPERATOR_VLLM_IMAGE`), except the OTLP endpoint, which also honours the
standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and `OTEL_EXPORTER_OTLP_ENDPOINT`.
The command line (`tiergate operator`) decides only how the process runs (namespaces,
log level, liveness, peering); what the operator renders and how it paces itself lives here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.21.0"

Seconds = Annotated[float, Field(gt=0)]


def _blank_is_unset(value: object) -> object:
    # An empty variable (a chart value left "") means "not configured", as if it were absent.
    if isinstance(value, str):
        value = value.strip().rstrip("/")
    return value or None


HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$")]
OptionalUrl = Annotated[HttpUrl | None, BeforeValidator(_blank_is_unset)]


class OperatorConfig(BaseSettings):
    """How the operator renders vLLM workloads and how fast it reconciles."""

    model_config = SettingsConfigDict(
        env_prefix="TIERGATE_OPERATOR_", frozen=True, extra="ignore", populate_by_name=True
    )

    vllm_image: str = Field(default=DEFAULT_VLLM_IMAGE, min_length=1)
    """Image for tiers that do not set spec.vllm.image; pinned, never a moving tag."""
    otlp_traces_endpoint: str | None = None
    """Passed to vLLM as --otlp-traces-endpoint (OTLP/gRPC, e.g. http://jaeger:4317) so a request's trace
    continues into the model server. Deliberately not read from OTEL_EXPORTER_OTLP_ENDPOINT: that one is
    usually the operator's own OTLP/HTTP endpoint (port 4318), which vLLM's gRPC exporter cannot use."""

    prometheus_address: OptionalUrl = None
    """Prometheus that KEDA's prometheus triggers query (e.g. http://kube-prometheus-stack-prometheus.monitoring.svc:9090):
    the replicas' queue and KV cache, and the demand all gateways counted. Unset: no Prometheus triggers."""
    gateway_demand_url: OptionalUrl = None
    """Base URL of a gateway (e.g. http://tiergate-gateway.tiergate.svc:8080) that KEDA's metrics-api trigger asks
    `GET /scaling/demand/<namespace>/<tier>`, the fast wake-up signal. Unset: no metrics-api trigger."""
    keda_recheck_seconds: Seconds = 60.0
    """While an autoscaled tier finds no KEDA (no keda.sh/v1alpha1 API), look again at this interval, so that
    installing KEDA later takes over without restarting the operator."""

    startup_timeout_seconds: int = Field(default=1800, ge=30, le=86_400)
    """How long a vLLM pod may take to load its model before the startup probe gives up (tiers may override)."""
    startup_probe_period_seconds: int = Field(default=10, ge=1, le=300)
    """Startup probe period; the failure threshold is the budget divided by it."""
    readiness_probe_period_seconds: int = Field(default=5, ge=1, le=300)
    """Readiness probe period; three failures take a pod out of its Service."""
    liveness_probe_period_seconds: int = Field(default=15, ge=1, le=300)
    """Liveness probe period; four failures restart the container."""
    probe_timeout_seconds: int = Field(default=5, ge=1, le=120)
    """Timeout of each probe request to /health."""

    resync_seconds: Seconds = 300.0
    """Full reconcile of every object at this interval, as a backstop to the watches."""
    unresolved_recheck_seconds: Seconds = 30.0
    """Recheck interval while a referenced Secret is missing (also watched, so usually sooner)."""
    debounce_seconds: float = Field(default=0.05, ge=0)
    """Wait this long after a wake-up so a burst of watch events costs one reconcile."""
    retry_initial_seconds: Seconds = 1.0
    """First back-off after a failed API call; doubles per consecutive failure."""
    retry_max_seconds: Seconds = 60.0
    """Longest back-off between retries of failing API calls."""
    max_concurrent_reconciles: int = Field(default=16, ge=1, le=1024)
    """Reconciles that may talk to the API server at once (a burst of new tiers waits its turn)."""
    request_timeout_seconds: Seconds = 30.0
    """Timeout of one API request made by the operator."""
