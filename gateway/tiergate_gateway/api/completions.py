"""POST /v1/chat/completions and /v1/completions: the server span, the request metrics, the caps."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from opentelemetry import context, trace
from opentelemetry.trace import Span, Status, StatusCode
from starlette.responses import Response

from tiergate_api.constants import HEADER_POLICY, HEADER_TASK, HEADER_TIER
from tiergate_gateway import metrics
from tiergate_gateway.api.body import read_body
from tiergate_gateway.api.guard import authenticate
from tiergate_gateway.api.streaming import EventStreamResponse
from tiergate_gateway.dispatch import Answer, Dispatcher
from tiergate_gateway.errors import GatewayError, InvalidRequestError, OverloadedError
from tiergate_gateway.protocol import Endpoint, parse_request
from tiergate_gateway.tracing import context_from, tracer

router = APIRouter()
TIMEOUT_HEADER = "x-tiergate-timeout-ms"


@dataclass(slots=True)
class _Record:
    """What the request metrics and the server span say about one request."""

    span: Span
    started: float
    policy: str = ""
    tier: str = ""
    task: str = ""
    status: int = 500

    def finish(self) -> None:
        outcome = _outcome(self.status)
        metrics.REQUESTS.labels(self.policy, self.tier, self.task, outcome).inc()
        metrics.REQUEST_SECONDS.labels(self.policy).observe(time.perf_counter() - self.started)
        self.span.set_attribute("http.response.status_code", self.status)
        if self.status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()

    def take(self, headers: dict[str, str], status: int) -> None:
        self.policy = headers.get(HEADER_POLICY, self.policy)
        self.tier = headers.get(HEADER_TIER, self.tier)
        self.task = headers.get(HEADER_TASK, self.task)
        self.status = status


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 429:
        return "rejected"
    return "client_error" if status < 500 else "unavailable" if status == 503 else "error"


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
    route = request.scope["path"]  # not request.url: building that URL object costs ~5 us per request
    span = tracer().start_span(
        f"POST {route}",
        context=context_from(request.headers),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": route},
    )
    token = context.attach(trace.set_span_in_context(span))
    record = _Record(span, time.perf_counter())
    limits = dispatcher.limits
    counted = handed_over = False
    try:
        tenant = authenticate(request)
        if limits.gateway_full():
            raise OverloadedError("the gateway is at capacity; retry shortly", headers={"retry-after": "1"})
        limits.in_flight += 1
        counted = True
        raw = await read_body(request, request.app.state.settings.max_body_bytes)
        parsed = parse_request(raw, endpoint)
        if tenant is not None:
            request.app.state.keys.authorize(tenant, parsed.model)
        decision = dispatcher.decide(parsed, request.headers)
        record.task = decision.plan.facts.task.value
        record.policy = "" if decision.direct else decision.plan.policy.name
        result = await dispatcher.run(parsed, decision, deadline_seconds=_deadline(request))
        if isinstance(result, Answer):
            record.take(result.headers, result.status)
            return Response(result.body, result.status, result.headers, media_type=result.content_type)
        record.take(result.headers, 200)
        handed_over = True

        def finished() -> None:  # the stream is no longer in flight, and its server span ends
            limits.in_flight -= 1
            record.finish()

        return EventStreamResponse(result.chunks, result.headers, finished)  # type: ignore[return-value]
    except GatewayError as exc:
        record.status = exc.status
        raise
    finally:
        context.detach(token)
        if not handed_over:
            if counted:
                limits.in_flight -= 1
            record.finish()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """OpenAI chat completions, routed."""
    return await _complete(request, "chat")


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    """OpenAI legacy completions, routed."""
    return await _complete(request, "completions")
