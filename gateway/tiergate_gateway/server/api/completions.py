"""POST /v1/chat/completions and /v1/completions: the server span, the request metrics, the
access log, the caps, and a client that leaves.

A client that disconnects before its answer (its SDK's timeout, a closed tab) cancels the
work done for it: the attempt's upstream connection is closed, so the model server stops
generating, and the tier's slot is freed. The request is logged with status 499 and counted
as `client_closed`; it is never booked as the tier's failure.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.trace import Span, Status, StatusCode
from starlette.requests import Request
from starlette.responses import Response

from tiergate_api.constants import HEADER_ATTEMPTS, HEADER_FALLBACK_REASON, HEADER_POLICY, HEADER_TASK, HEADER_TIER
from tiergate_gateway.core.decision import Decision
from tiergate_gateway.core.errors import GatewayError, InvalidRequestError, OverloadedError
from tiergate_gateway.core.protocol import Endpoint, ParsedRequest, parse_request
from tiergate_gateway.dispatch.dispatcher import Answer, Dispatcher, Trail
from tiergate_gateway.runtime.outcomes import Outcomes
from tiergate_gateway.server.api.body import read_body
from tiergate_gateway.server.api.content import content_capture
from tiergate_gateway.server.api.departure import ClientGone, unless_client_leaves
from tiergate_gateway.server.api.guard import authenticate
from tiergate_gateway.server.api.requestid import REQUEST_ID_HEADER, request_id_of
from tiergate_gateway.server.api.streaming import EventStreamResponse
from tiergate_gateway.telemetry import metrics
from tiergate_gateway.telemetry.accesslog import CLIENT_CLOSED, AccessEntry, AccessLog
from tiergate_gateway.telemetry.tracing import context_from, tracer

TIMEOUT_HEADER = "x-tiergate-timeout-ms"


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 429:
        return "rejected"
    if status == CLIENT_CLOSED:
        return "client_closed"
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


def _take(entry: AccessEntry, headers: dict[str, str], status: int, trail: Trail) -> None:
    """What the answer says about the request, for its metrics and its log line."""
    entry.status = status
    entry.policy = headers.get(HEADER_POLICY, entry.policy)
    entry.tier = headers.get(HEADER_TIER, entry.tier)
    entry.task = headers.get(HEADER_TASK, entry.task)
    entry.fallback = headers.get(HEADER_FALLBACK_REASON, "")
    entry.attempts = trail.attempts
    entry.cost_femto = trail.cost_femto


def _finish(entry: AccessEntry, span: Span, access_log: AccessLog, routed: _Routed | None = None) -> None:
    """Count the request, end its server span, write its access-log line and book its outcome."""
    status = entry.status
    seconds = time.perf_counter() - entry.started
    metrics.child(metrics.REQUESTS, entry.policy, entry.tier, entry.task, _outcome(status)).inc()
    metrics.child(metrics.REQUEST_SECONDS, entry.policy).observe(seconds)
    if routed is not None:
        trail = routed.trail
        routed.outcomes.finished(
            entry,
            routed.decision,
            routed.parsed,
            routed.headers,
            trail.billed if trail is not None else None,
            trail.usage if trail is not None else None,
            seconds * 1000,
        )
    span.set_attribute("http.response.status_code", status)
    if status >= 500 and status != CLIENT_CLOSED:
        span.set_status(Status(StatusCode.ERROR))
    span_context = span.get_span_context()
    if span_context.is_valid:
        entry.trace_id = format(span_context.trace_id, "032x")
    span.end()
    access_log.record(entry)


@dataclass(slots=True)
class _Routed:
    """A request that reached a decision: what its outcome is booked with."""

    outcomes: Outcomes
    decision: Decision
    parsed: ParsedRequest
    headers: Mapping[str, str]
    trail: Trail | None = None


async def _complete(request: Request, endpoint: Endpoint) -> Response:
    state = request.app.state
    dispatcher: Dispatcher = state.dispatcher
    access_log: AccessLog = state.access_log
    route = request.scope["path"]  # not request.url: building that URL object costs ~5 us per request
    entry = AccessEntry(request_id_of(request.scope), route, time.perf_counter())
    span = tracer().start_span(
        f"POST {route}",
        context=context_from(request.headers),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": route, "tiergate.request_id": entry.request_id},
    )
    token = context.attach(trace.set_span_in_context(span))
    limits = dispatcher.limits
    content = content_capture(state.settings, span)  # None unless TIERGATE_TRACE_CONTENT opts in
    counted = handed_over = False
    routed: _Routed | None = None
    try:
        tenant = authenticate(request)
        if tenant is not None:
            entry.tenant = tenant.name
        raw = await read_body(request, state.settings)  # before a slot is taken: see api/body.py
        if limits.gateway_full():
            raise OverloadedError("the gateway is at capacity; retry shortly", headers={"retry-after": "1"})
        limits.in_flight += 1
        counted = True
        parsed = parse_request(raw, endpoint)
        entry.model, entry.stream = parsed.model, parsed.stream
        if content is not None:
            content.record_request(parsed)
        if tenant is not None:
            state.keys.authorize(tenant, parsed.model)
        decision = await dispatcher.decide_asking(parsed, raw, request.headers, entry.request_id)
        routed = _Routed(state.outcomes, decision, parsed, request.headers)
        entry.task = decision.plan.facts.task.value
        entry.policy = "" if decision.direct else decision.plan.policy.name
        work = dispatcher.run(parsed, decision, deadline_seconds=_deadline(request), request_id=entry.request_id)
        result = await unless_client_leaves(request.scope, request.receive, work)
        routed.trail = result.trail
        headers = result.headers
        headers[REQUEST_ID_HEADER] = entry.request_id
        if isinstance(result, Answer):
            _take(entry, headers, result.status, result.trail)
            if content is not None and result.status == 200:
                content.record_answer(result.body)
            return Response(result.body, result.status, headers, media_type=result.content_type)
        _take(entry, headers, 200, result.trail)
        handed_over = True
        trail = result.trail

        def finished() -> None:  # the stream is no longer in flight; its cost is known now
            limits.in_flight -= 1
            entry.cost_femto = trail.cost_femto
            if content is not None:
                content.record_stream_end()
            _finish(entry, span, access_log, routed)

        watch = None if content is None else content.watch_stream()
        return EventStreamResponse(result.chunks, headers, finished, watch)  # type: ignore[return-value]
    except GatewayError as exc:
        entry.status = exc.status
        entry.error_code = exc.instance_code or ""
        entry.attempts = int(exc.headers.get(HEADER_ATTEMPTS, 0))
        raise
    except ClientGone:
        entry.status = CLIENT_CLOSED
        return Response(status_code=CLIENT_CLOSED)  # nobody is listening: uvicorn drops it
    finally:
        context.detach(token)
        if not handed_over:
            if counted:
                limits.in_flight -= 1
            _finish(entry, span, access_log, routed)


async def chat_completions(request: Request) -> Response:
    """OpenAI chat completions, routed."""
    return await _complete(request, "chat")


async def completions(request: Request) -> Response:
    """OpenAI legacy completions, routed."""
    return await _complete(request, "completions")


ROUTES = {"/v1/chat/completions": chat_completions, "/v1/completions": completions}
"""The two hot routes, served by `server/fastpath.py` only (one path per endpoint; no FastAPI route)."""
