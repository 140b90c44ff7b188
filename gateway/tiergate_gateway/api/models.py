"""GET /v1/models: the policy aliases and the tiers a client may name."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from tiergate_gateway.api.guard import authenticate
from tiergate_gateway.registry import SnapshotStore

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> JSONResponse:
    """OpenAI's model list; aliases first, then tiers, each marked with what it is."""
    tenant = authenticate(request)
    store: SnapshotStore = request.app.state.store
    snapshot = store.current
    created = int(snapshot.created_at)
    data = [
        {
            "id": alias,
            "object": "model",
            "created": created,
            "owned_by": "tiergate",
            "tiergate": {"kind": "RoutingPolicy", "policy": p.name, "strategy": p.strategy.value},
        }
        for alias, p in sorted(snapshot.policies.items())
    ]
    data += [
        {
            "id": tier.name,
            "object": "model",
            "created": created,
            "owned_by": "tiergate",
            "tiergate": {"kind": "ModelTier", "model": tier.model, "locality": tier.locality.value},
        }
        for name, tier in sorted(snapshot.tiers_by_name.items())
        if "/" not in name
    ]
    if tenant is not None:
        data = [entry for entry in data if tenant.may_use(entry["id"])]
    return JSONResponse({"object": "list", "data": data})
