"""The app factory: routes, the one place errors become HTTP responses, and the lifespan.

The lifespan owns every long-lived thing (the upstream connection pool, the source that
keeps the snapshot current) and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from tiergate_gateway.core.errors import GatewayError, InvalidRequestError
from tiergate_gateway.dispatch.dispatcher import Dispatcher
from tiergate_gateway.runtime.background import cancel_and_wait
from tiergate_gateway.runtime.budget import SpendBook
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.runtime.health import BreakerSettings, HealthBook
from tiergate_gateway.runtime.limits import Limits
from tiergate_gateway.runtime.outcomes import Outcomes
from tiergate_gateway.runtime.replicas import EjectionSettings, ReplicaBook
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.runtime.state import LocalState, create_state
from tiergate_gateway.server.api import explain, health, models, scaling, ui
from tiergate_gateway.server.api import metrics as metrics_api
from tiergate_gateway.server.api.departure import ClientGone
from tiergate_gateway.server.auth import KeyStore
from tiergate_gateway.server.fastpath import FastPath, error_response, http_error_response, internal_error_response
from tiergate_gateway.server.settings import GatewaySettings
from tiergate_gateway.telemetry import observe
from tiergate_gateway.telemetry.accesslog import CLIENT_CLOSED, AccessLog
from tiergate_gateway.telemetry.accesslog import NAME as ACCESS_LOG_NAME
from tiergate_gateway.telemetry.decisionlog import DecisionLog
from tiergate_gateway.telemetry.logs import configure_logging
from tiergate_gateway.telemetry.tracing import setup_tracing, shutdown_tracing
from tiergate_gateway.upstream.forward import new_client
from tiergate_gateway.upstream.scraper import Scraper, ScrapeSettings

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings | None = None) -> FastPath:
    """A gateway application; nothing starts until the ASGI lifespan runs."""
    settings = settings or GatewaySettings()
    store = SnapshotStore()

    keys = KeyStore(settings.auth_keys_file) if settings.auth_keys_file else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_tracing()
        client = new_client(settings.max_connections)
        health = HealthBook(_breaker_settings(settings))
        limits = Limits(
            tier_default_max_in_flight=settings.tier_max_in_flight, gateway_max_in_flight=settings.max_in_flight
        )
        state = create_state(health, SpendBook(), limits, settings.redis_url)
        await state.start()
        replicas = ReplicaBook(
            ejection=EjectionSettings(
                consecutive_failures=settings.replica_ejection_failures, base_seconds=settings.replica_ejection_seconds
            ),
            stale_after=settings.replica_signals_stale_seconds,
        )
        store.subscribe(lambda snapshot: replicas.sync(snapshot.tiers.values()))
        cold = ColdStarts(replicas, on_demand=observe.record_demand, wake_retry_seconds=settings.wake_retry_seconds)
        store.subscribe(lambda snapshot: cold.sync(snapshot.tiers.values(), cold.clock()))
        app.state.cold_starts = cold
        dispatcher = Dispatcher(
            store,
            client,
            health=health,
            limits=limits,
            state=state,
            max_response_bytes=settings.max_response_bytes,
            replicas=replicas,
            replica_tries=settings.replica_tries,
            cold_starts=cold,
        )
        app.state.dispatcher = dispatcher
        app.state.access_log = _access_log(settings)
        app.state.outcomes = Outcomes(recent=settings.ui_recent_decisions, decision_log=_decision_log(settings))
        scraper = Scraper(
            replicas.scraped, ScrapeSettings(timeout=settings.replica_scrape_timeout_seconds), clock=dispatcher.clock
        )
        tasks = [
            await _start_source(settings, store, state, replicas, cold),
            asyncio.create_task(scraper.run(), name="replica-metrics"),
        ]
        if keys is not None:
            keys.load()
            tasks.append(asyncio.create_task(_reload_keys(keys), name="keys-reload"))
        _tune_gc(settings.gc_young_threshold)
        try:
            yield
        finally:
            await cancel_and_wait(tasks)
            await state.stop()
            await client.close()
            app.state.access_log.flush()
            if app.state.outcomes.decision_log is not None:
                app.state.outcomes.decision_log.close()
            shutdown_tracing()

    app = FastAPI(
        title="TierGate gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Our own server span lasts until a stream's last byte; FastAPI's would end at the first.
        telemetry={"tracing": False, "operation_spans": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.keys = keys
    # The completion routes are the fast path's alone (server/fastpath.py); these are the rest.
    for module in (explain, models, health, metrics_api, scaling):
        app.include_router(module.router)
    if settings.ui:
        app.include_router(ui.router)
    _register_error_handlers(app)
    return FastPath(app)


def _tune_gc(young_threshold: int) -> None:
    """Collect less often, and never rescan what start-up made.

    A request allocates hundreds of short-lived objects (the body's JSON, the classifier's matches and
    arrays, the plan); with CPython's default of 700 allocations between young collections the collector
    ran every few requests, and its fuller passes walked every module, model and vocabulary entry loaded
    at start-up: 8% of a worker's throughput (docs/decisions.md). The young generation is made larger and
    start-up's objects are frozen (`gc.freeze`); garbage with cycles is still collected, a little later.
    """
    if young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


def _access_log(settings: GatewaySettings) -> AccessLog:
    """The access log, on when its logger is enabled for INFO (`--log-level warning` turns it off)."""
    enabled = settings.access_log and logging.getLogger(ACCESS_LOG_NAME).isEnabledFor(logging.INFO)
    return AccessLog(enabled=enabled, sample=settings.access_log_sample, fmt=settings.log_format)


def _decision_log(settings: GatewaySettings) -> DecisionLog | None:
    if settings.decision_log is None:
        return None
    return DecisionLog(
        settings.decision_log,
        max_bytes=settings.decision_log_max_bytes,
        backups=settings.decision_log_backups,
        capture_content=settings.decision_log_content,
    )


def _breaker_settings(settings: GatewaySettings) -> BreakerSettings:
    return BreakerSettings(
        consecutive_failures=settings.breaker_consecutive_failures,
        error_rate=settings.breaker_error_rate_percent / 100,
        window=settings.breaker_window,
        min_samples=settings.breaker_min_samples,
        open_seconds=settings.breaker_open_seconds,
        half_open_probes=settings.breaker_half_open_probes,
    )


async def _reload_keys(keys: KeyStore, interval: float = 2.0) -> None:
    """Pick up rotated keys (a mounted Secret changes in place)."""
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(keys.load)


def create_app_from_env() -> FastPath:
    """Factory for `uvicorn --factory` (one per worker process, each configuring its own logging)."""
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


async def _start_source(
    settings: GatewaySettings, store: SnapshotStore, state: LocalState, replicas: ReplicaBook, cold: ColdStarts
) -> asyncio.Task[None]:
    if settings.config_dir is not None:
        from tiergate_gateway.sources.config_dir import ConfigDirSource

        source = ConfigDirSource(settings.config_dir, store, settings.secrets_dir)
        await asyncio.to_thread(source.load)
        return asyncio.create_task(source.watch(settings.reload_interval_seconds), name="config-dir-watch")
    from tiergate_gateway.sources.kube import KubeSource

    kube = KubeSource(
        store,
        namespaces=settings.namespaces,
        kubeconfig=settings.kubeconfig,
        spend=state,
        budget_status_interval=settings.budget_status_interval_seconds,
        replicas=replicas,
        cold=cold if settings.wake_cold_tiers else None,
    )
    return asyncio.create_task(kube.run(), name="kube-watch")


def _register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return http_error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # OpenAI answers a wrong field with 400 and the field's name in `param`, and so do we.
        errors = exc.errors()
        first = errors[0] if errors else {}
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
        message = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in errors[:3])
        return error_response(InvalidRequestError(message or "invalid request", param=".".join(location) or None))

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, exc: ClientGone) -> Response:
        return Response(status_code=CLIENT_CLOSED)  # nobody is listening; not an error of ours

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while handling a request")
        return internal_error_response()
