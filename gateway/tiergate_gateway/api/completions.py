"""POST /v1/chat/completions and /v1/completions."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from tiergate_gateway.api.body import read_body
from tiergate_gateway.api.guard import authenticate
from tiergate_gateway.dispatch import Answer, Dispatcher
from tiergate_gateway.errors import InvalidRequestError, OverloadedError
from tiergate_gateway.protocol import Endpoint, parse_request

router = APIRouter()
TIMEOUT_HEADER = "x-tiergate-timeout-ms"


def _deadline(request: Request) -> float | None:
    raw = request.headers.get(TIMEOUT_HEADER)
    if raw is None:
        return None
    try:
        milliseconds = int(raw)
    except ValueError:
        milliseconds = 0
    if not 1 <= milliseconds <= 3_600_000:
        raise InvalidRequestError(f"{TIMEOUT_HEADER} must be milliseconds from 1 to 3600000", param=TIMEOUT_HEADER)
    return milliseconds / 1000


async def _complete(request: Request, endpoint: Endpoint) -> Response:
    dispatcher: Dispatcher = request.app.state.dispatcher
    tenant = authenticate(request)
    limits = dispatcher.limits
    if limits.gateway_full():
        raise OverloadedError("the gateway is at capacity; retry shortly", headers={"retry-after": "1"})
    limits.in_flight += 1
    handed_over = False
    try:
        raw = await read_body(request, request.app.state.settings.max_body_bytes)
        parsed = parse_request(raw, endpoint)
        if tenant is not None:
            request.app.state.keys.authorize(tenant, parsed.model)
        decision = dispatcher.decide(parsed, request.headers)
        result = await dispatcher.run(parsed, decision, deadline_seconds=_deadline(request))
        if isinstance(result, Answer):
            return Response(result.body, result.status, result.headers, media_type=result.content_type)
        headers = {**result.headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
        handed_over = True
        return StreamingResponse(_counted(result.chunks, dispatcher), headers=headers, media_type="text/event-stream")
    finally:
        if not handed_over:
            limits.in_flight -= 1


async def _counted(chunks: AsyncIterator[bytes], dispatcher: Dispatcher) -> AsyncIterator[bytes]:
    """The stream, still counted as in flight until it ends or the client leaves."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        dispatcher.limits.in_flight -= 1
        await chunks.aclose()  # type: ignore[attr-defined]


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """OpenAI chat completions, routed."""
    return await _complete(request, "chat")


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    """OpenAI legacy completions, routed."""
    return await _complete(request, "completions")
