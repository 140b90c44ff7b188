"""GET /v1/models and /v1/models/{id}: the policy aliases and the tiers a client may name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from tiergate_gateway.core.errors import ModelNotFoundError
from tiergate_gateway.core.registry import Snapshot
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.server.api.guard import authenticate

router = APIRouter()


def _entries(snapshot: Snapshot) -> list[dict[str, Any]]:
    """OpenAI model objects: aliases first, then tiers, each marked with what it is."""
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
    return data


@router.get("/v1/models")
async def list_models(request: Request) -> JSONResponse:
    """OpenAI's model list, limited to what the caller's key may use."""
    tenant = authenticate(request)
    store: SnapshotStore = request.app.state.store
    data = _entries(store.current)
    if tenant is not None:
        data = [entry for entry in data if tenant.may_use(entry["id"])]
    return JSONResponse({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(request: Request, model_id: str) -> JSONResponse:
    """One alias or tier (`client.models.retrieve`); 404 for names the caller may not use, as OpenAI does."""
    tenant = authenticate(request)
    store: SnapshotStore = request.app.state.store
    if tenant is None or tenant.may_use(model_id):
        for entry in _entries(store.current):
            if entry["id"] == model_id:
                return JSONResponse(entry)
    raise ModelNotFoundError(f"the model {model_id!r} does not exist or you do not have access to it", param="model")
