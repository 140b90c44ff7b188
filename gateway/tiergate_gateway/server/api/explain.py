"""POST /v1/route/explain: the plan for a request, without calling any model."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from tiergate_gateway.core.explain import explain_decision
from tiergate_gateway.core.protocol import Endpoint, parse_request
from tiergate_gateway.dispatch.dispatcher import Dispatcher
from tiergate_gateway.server.api.body import read_body
from tiergate_gateway.server.api.guard import authenticate

router = APIRouter()


@router.post("/v1/route/explain")
async def explain(request: Request) -> JSONResponse:
    """Accepts a chat body (or a completions body with "prompt") and the routing headers."""
    dispatcher: Dispatcher = request.app.state.dispatcher
    tenant = authenticate(request)
    raw = await read_body(request, request.app.state.settings)
    endpoint: Endpoint = "completions" if b'"prompt"' in raw and b'"messages"' not in raw else "chat"
    parsed = parse_request(raw, endpoint)
    if tenant is not None:
        request.app.state.keys.authorize(tenant, parsed.model)
    decision = await dispatcher.decide_asking(parsed, raw, request.headers)
    document = explain_decision(decision)
    replicas = dispatcher.replicas.explain(parsed, [step.tier for step in decision.plan.steps])
    if replicas:  # per tier with replicas: each one's scores for this request (docs/routing.md)
        document["replicas"] = replicas
    return JSONResponse(document)
