"""The gateway's configuration: one object, read once from TIERGATE_* environment variables.

The CLI turns its flags into these variables, so `--workers N` processes (which uvicorn
starts by importing the app factory) see exactly the configuration of the parent.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Everything the gateway process can be told."""

    model_config = SettingsConfigDict(env_prefix="TIERGATE_", extra="ignore")

    config_dir: Path | None = None
    """Local mode: a folder of ModelTier and RoutingPolicy YAML files. Unset: Kubernetes mode."""
    secrets_dir: Path | None = None
    """Local mode: where API keys live as <secrets_dir>/<secret name>/<key>; default <config_dir>/secrets."""
    namespaces: list[str] = Field(default_factory=list)
    """Kubernetes mode: namespaces to watch; empty watches all namespaces."""
    kubeconfig: Path | None = None
    """Kubernetes mode: a kubeconfig file; unset uses in-cluster config, then ~/.kube/config."""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    """Largest request body accepted (413 above it)."""
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    """Longest request head (request line and headers) accepted; a longer one gets 431 and the connection closes."""
    head_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time a request head may take once it has begun (408 and close after it): slow-header clients."""
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time a request body may take to start arriving (408 after it); see api/body.py."""
    body_min_bytes_per_second: int = Field(default=64 * 1024, gt=0)
    """Past `body_timeout_seconds`, the slowest upload rate still accepted."""
    reload_interval_seconds: float = 1.0
    """Local mode: how often the folder is checked for changes."""
    max_connections: int = 1000
    """Size of the shared upstream connection pool."""
    log_level: str = "INFO"
    log_format: str = "json"
    """json (one object per line, with trace ids) or text."""
    access_log: bool = True
    """One line per request at INFO (accesslog.py); off also with a log level above INFO."""
    access_log_sample: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of successful requests written to the access log; errors and 499s are always written."""
    trace_content: bool = False
    """Put prompt and answer text on the server span (`gen_ai.input.messages`, `gen_ai.output.messages`;
    see api/content.py). Off by default: it is user data. Only message content, never headers or keys."""
    trace_content_max_bytes: int = Field(default=4096, ge=1)
    """Most bytes of text (UTF-8) each of those attributes holds; past it the text is cut and marked."""
    max_response_bytes: int = 64 * 1024 * 1024
    """Largest non-streaming answer accepted from a tier (larger ones count as InvalidResponse)."""
    max_in_flight: int = 1000
    """Requests in flight per worker before new ones get 429 with Retry-After (0: no cap)."""
    tier_max_in_flight: int = 256
    """Default per-tier cap of requests in flight per worker (a tier's spec.limits.maxInFlight wins)."""
    redis_url: str | None = None
    """Share budgets, rate windows and circuit states across replicas through this Redis."""
    auth_keys_file: Path | None = None
    """YAML file of gateway API keys (see auth.py); unset: no authentication."""
    budget_status_interval_seconds: float = 30.0
    """Kubernetes mode: how often spend is written to RoutingPolicy status.budget (only on change)."""
    breaker_consecutive_failures: int = 5
    breaker_error_rate_percent: int = 50
    breaker_window: int = 20
    breaker_min_samples: int = 10
    breaker_open_seconds: float = 30.0
    breaker_half_open_probes: int = 1
    # Replicas of a tier (docs/routing.md, "Which replica"): how many a request may try, when one is
    # taken out of rotation and for how long, and how fresh its scraped vLLM metrics must be.
    replica_tries: int = Field(default=2, ge=1, le=10)
    replica_ejection_failures: int = Field(default=3, ge=1, le=100)
    replica_ejection_seconds: float = Field(default=10.0, gt=0, le=3600)
    replica_scrape_timeout_seconds: float = Field(default=0.5, gt=0, le=30)
    replica_signals_stale_seconds: float = Field(default=5.0, gt=0, le=600)
    # Cold starts (docs/autoscaling.md): scale a wanted tier at zero to one replica at once (Kubernetes
    # mode; needs update on deployments/scale), and not again within this many seconds.
    wake_cold_tiers: bool = True
    wake_retry_seconds: float = Field(default=30.0, gt=0, le=3600)
    # What routing did, for people (docs/replay.md): the /ui status page and the decision log.
    ui: bool = True
    """Serve the status page at /ui (behind a key with the admin scope when auth is on)."""
    gc_young_threshold: int = Field(default=50_000, ge=0, le=10_000_000)
    """Allocations between two collections of CPython's youngest generation (CPython's default: 700); once
    started, the objects made at start-up are frozen out of every collection. 0 leaves CPython's defaults."""
    ui_recent_decisions: int = Field(default=300, ge=1, le=10_000)
    """How many recent decisions the status page lists (per worker)."""
    decision_log: Path | None = None
    """Append one line per routed request here, in `tiergate replay`'s format; unset: no decision log."""
    decision_log_max_bytes: int = Field(default=100 * 1024 * 1024, ge=64 * 1024)
    """Past this size the file is rotated to <name>.1."""
    decision_log_backups: int = Field(default=5, ge=0, le=100)
    """Rotated files kept (<name>.1 ... <name>.N); 0 keeps none."""
    decision_log_content: bool = False
    """Write the requests' text too (messages, prompt): user data, so off unless asked for."""
