"""GET /metrics: Prometheus exposition (all workers' figures when there are several)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tiergate_gateway.telemetry.metrics import render

router = APIRouter()


@router.get("/metrics")
async def prometheus_metrics() -> Response:
    """The gateway's metrics, prefixed tiergate_."""
    body, content_type = render()
    return Response(body, media_type=content_type)
