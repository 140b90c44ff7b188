"""GET /ui: the status page. Gathers live state into a `StatusView`; `pages/status.py` renders it.

With authentication on it needs a key with the `admin` scope: the page shows every tenant's
traffic and spend. A browser cannot send a Bearer header on navigation, so HTTP Basic with the
key as the password (any user name) is accepted here too, and a 401 asks for it
(`WWW-Authenticate`), which makes the browser prompt. The page is plain HTML; its small script
only refreshes it, under a Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from tiergate_api import __version__
from tiergate_gateway.core.errors import AuthenticationError, PermissionDeniedError
from tiergate_gateway.core.health_view import CircuitState
from tiergate_gateway.core.replicas import host_port
from tiergate_gateway.core.views import FEMTO_PER_USD, TierView
from tiergate_gateway.dispatch.dispatcher import Dispatcher
from tiergate_gateway.pages.status import render_status
from tiergate_gateway.pages.status_view import DecisionRow, PolicyRow, ReplicaRow, StatusView, TierRow
from tiergate_gateway.runtime.coldstart import ColdStarts
from tiergate_gateway.runtime.outcomes import Outcomes
from tiergate_gateway.server.auth import KeyStore

router = APIRouter()

_CHALLENGE = {"www-authenticate": 'Basic realm="TierGate status", charset="UTF-8"'}
_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


def _guard(request: Request) -> None:
    keys: KeyStore | None = request.app.state.keys
    if keys is None:
        return
    try:
        tenant = keys.authenticate(request.headers.get("authorization"), basic=True)
    except AuthenticationError as exc:
        raise AuthenticationError(exc.message, headers=_CHALLENGE) from None
    if not tenant.is_admin:
        raise PermissionDeniedError("the status page needs a key with the admin scope")


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def _tier_row(tier: TierView, dispatcher: Dispatcher, cold: ColdStarts | None, now: float) -> TierRow:
    health = dispatcher.health
    stats = health.known(tier.key)
    state, detail = "Healthy", ""
    cold_state = cold.state(tier.key, now) if cold is not None else None
    circuit = health.state(tier.key, now)
    if tier.problem:
        state, detail = "Unavailable", tier.problem
    elif cold_state is not None:
        state, detail = (
            cold_state.value,
            f"expected ready at {_clock(cold.ready_at(tier.key, now))} UTC" if cold else "",
        )
    elif circuit == CircuitState.OPEN:
        state, detail = "CircuitOpen", f"until {_clock(health.usable_at(tier.key, now))} UTC"
    elif circuit == CircuitState.HALF_OPEN:
        state, detail = "HalfOpen", "probing"
    elif stats is not None and stats.cooldown_until > now:
        state, detail = "CoolingDown", f"rate limited until {_clock(stats.cooldown_until)} UTC"
    replicas: list[ReplicaRow] = []
    pool = dispatcher.replicas.pool_of(tier)
    if pool is not None:
        for replica in pool.replicas:
            signals = replica.signals
            fresh = signals.at >= 0 and now - signals.at <= pool.stale_after
            replicas.append(
                ReplicaRow(
                    address=host_port(replica.url),
                    in_flight=replica.in_flight,
                    running=signals.running if fresh else None,
                    waiting=signals.waiting if fresh else None,
                    kv_cache_percent=signals.kv_usage * 100 if fresh and signals.kv_usage is not None else None,
                    ejected=replica.ejected_until > now,
                )
            )
    return TierRow(
        name=tier.name,
        namespace=tier.namespace,
        model=tier.model,
        size_billions=tier.billions,
        locality=tier.locality.value,
        state=state,
        detail=detail,
        in_flight=dispatcher.limits.tier_in_flight(tier.key),
        max_in_flight=dispatcher.limits.tier_cap(tier),
        error_rate_percent=100 * stats.error_rate() if stats is not None else 0.0,
        ttft_ms=stats.ttft_ms if stats is not None else None,
        ttft_prior_ms=tier.ttft_ms,
        replicas=tuple(replicas),
    )


def status_view(request: Request) -> StatusView:
    """Everything the page shows, read from this worker's live state."""
    state = request.app.state
    dispatcher: Dispatcher = state.dispatcher
    outcomes: Outcomes = state.outcomes
    cold: ColdStarts | None = getattr(state, "cold_starts", None)
    now = dispatcher.clock()
    store = dispatcher.store
    snapshot = store.current if store.ready else None
    tiers = sorted(snapshot.tiers.values(), key=lambda t: (t.billions, t.name)) if snapshot else []
    policies = []
    for alias, policy in sorted(snapshot.policies.items()) if snapshot else []:
        books = outcomes.books(policy.key, now)
        baseline = outcomes.baseline_of(policy)
        policies.append(
            PolicyRow(
                alias=alias,
                name=policy.name,
                namespace=policy.namespace,
                strategy=policy.strategy.value,
                spent_usd=dispatcher.state.spent_today(policy.key, now) / FEMTO_PER_USD,
                daily_limit_usd=None if policy.daily_limit_femto is None else policy.daily_limit_femto / FEMTO_PER_USD,
                requests=books.requests,
                baseline_tier=baseline.name if baseline is not None else None,
                baseline_usd=books.baseline / FEMTO_PER_USD,
                cost_usd=books.cost / FEMTO_PER_USD,
            )
        )
    decisions = tuple(
        DecisionRow(
            at=at,
            request_id=entry.request_id,
            policy=entry.policy,
            task=entry.task,
            tier=entry.tier if entry.status < 400 else "",
            status=entry.status,
            attempts=entry.attempts,
            latency_ms=latency_ms,
            cost_usd=None if entry.cost_femto is None else entry.cost_femto / FEMTO_PER_USD,
            reason=entry.fallback or entry.error_code,
        )
        for at, latency_ms, entry in reversed(outcomes.recent)
    )
    return StatusView(
        now=now,
        version=__version__,
        worker_pid=os.getpid(),
        workers=state.settings.workers,
        snapshot_version=snapshot.version if snapshot else 0,
        snapshot_age_seconds=max(0.0, time.time() - snapshot.created_at) if snapshot and snapshot.created_at else None,
        tiers=tuple(_tier_row(t, dispatcher, cold, now) for t in tiers),
        policies=tuple(policies),
        decisions=decisions,
        problems=snapshot.problems if snapshot else (),
    )


@router.get("/ui")
async def ui(request: Request, refresh: int = Query(default=5, ge=0, le=3600)) -> HTMLResponse:
    """The status page (HTML; complete without JavaScript); `?refresh=N` refreshes it every N seconds, 0 never."""
    _guard(request)
    return HTMLResponse(render_status(status_view(request), refresh_seconds=refresh), headers=_HEADERS)
