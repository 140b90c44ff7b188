"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from tiergate_gateway.runtime.snapshots import SnapshotStore

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """Alive as long as the event loop answers."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready once the first full snapshot of tiers and policies is loaded."""
    store: SnapshotStore = request.app.state.store
    if not store.ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    snapshot = store.current
    return JSONResponse(
        {
            "status": "ready",
            "tiers": len(snapshot.tiers),
            "policies": len(snapshot.policies),
            "version": snapshot.version,
        }
    )
