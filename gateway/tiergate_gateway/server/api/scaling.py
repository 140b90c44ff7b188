"""What an autoscaler reads of the gateway: the demand for one autoscaled tier.

KEDA's `metrics-api` trigger in the ScaledObject the operator renders polls this (docs/autoscaling.md):
`demand` counts the requests routing ranked first on the tier over its demand window, plus one
while a start they wanted runs, so a tier the gateway just started stays up until it can serve them.
It is read straight from the gateway, without Prometheus in between, so KEDA sees a start the
gateway made at its next poll. Like /metrics it needs no API key and says nothing of requests
but a count.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from tiergate_gateway.core.errors import TierNotFoundError
from tiergate_gateway.runtime.coldstart import ColdStarts

router = APIRouter()


@router.get("/scaling/demand/{namespace}/{name}")
async def demand(namespace: str, name: str, request: Request) -> JSONResponse:
    """`{"tier", "demand", "state", "windowSeconds"}` for an in-cluster tier; 404 for any other."""
    cold: ColdStarts = request.app.state.cold_starts
    key = f"{namespace}/{name}"
    now = cold.clock()
    count = cold.demand(key, now)
    if count is None:
        raise TierNotFoundError(f"no in-cluster tier {key!r} is known to this gateway", param="name")
    state = cold.state(key, now)
    return JSONResponse(
        {
            "tier": key,
            "demand": count,
            "state": state.value if state is not None else "Ready",
            "windowSeconds": cold.window_seconds(key),
        }
    )
