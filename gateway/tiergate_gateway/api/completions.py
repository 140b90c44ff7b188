"""POST /v1/chat/completions and /v1/completions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from tiergate_gateway.api.body import read_body
from tiergate_gateway.dispatch import Answer, Dispatcher
from tiergate_gateway.protocol import Endpoint, parse_request

router = APIRouter()


async def _complete(request: Request, endpoint: Endpoint) -> Response:
    dispatcher: Dispatcher = request.app.state.dispatcher
    raw = await read_body(request, request.app.state.settings.max_body_bytes)
    parsed = parse_request(raw, endpoint)
    decision = dispatcher.decide(parsed, request.headers)
    result = await dispatcher.run(parsed, decision)
    if isinstance(result, Answer):
        return Response(result.body, result.status, result.headers, media_type=result.content_type)
    headers = {**result.headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(result.chunks, headers=headers, media_type="text/event-stream")


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """OpenAI chat completions, routed."""
    return await _complete(request, "chat")


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    """OpenAI legacy completions, routed."""
    return await _complete(request, "completions")
