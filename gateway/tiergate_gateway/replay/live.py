"""`tiergate replay --live`: send logged requests to a running gateway at a bounded rate and measure.

Open loop: request i is due at start + i / rate, whatever the answers before it did, and at
most `concurrency` are in flight (when that many are, the next waits: the rate is a ceiling).
Each request goes to the policy named by `--policy` (the first), else to its own model when the
gateway's folder knows it, else to the first policy. Requests logged without their text cannot
be sent and are counted. Next to each measurement stands the offline estimate for the same
request: the tier routing would pick with every tier healthy, and that tier's priors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson

from tiergate_api.constants import HEADER_FALLBACK_REASON, HEADER_LATENCY_CLASS, HEADER_TASK, HEADER_TIER
from tiergate_gateway.core.decision import decide
from tiergate_gateway.core.errors import GatewayError
from tiergate_gateway.core.registry import Snapshot
from tiergate_gateway.replay.document import percentiles
from tiergate_gateway.replay.lines import LoggedRequest
from tiergate_gateway.runtime.budget import SpendBook
from tiergate_gateway.runtime.health import HealthBook

REQUEST_TIMEOUT_SECONDS: Final = 300.0

_PATHS: Final = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


class _Results:
    """What the answers said."""

    def __init__(self) -> None:
        self.answered = 0
        self.errors: Counter[str] = Counter()
        self.fallbacks = 0
        self.reasons: Counter[str] = Counter()
        self.tiers: Counter[str] = Counter()
        self.agreed = 0
        self.compared = 0
        self.ttft: Counter[int] = Counter()
        self.latency: Counter[int] = Counter()
        self.estimated_ttft: Counter[int] = Counter()
        self.estimated_latency: Counter[int] = Counter()


def _model_for(request: LoggedRequest, snapshot: Snapshot, policies: list[str]) -> str:
    if policies:
        return policies[0]
    assert request.parsed is not None
    own = request.parsed.model
    if own in snapshot.policies or own in snapshot.tiers_by_name:
        return own
    return sorted(snapshot.policies)[0]


def _body(request: LoggedRequest, model: str, stream: bool) -> dict[str, Any]:
    assert request.parsed is not None
    body = {**request.parsed.body, "model": model}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _headers(request: LoggedRequest, api_key: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    for name in (HEADER_TASK, HEADER_LATENCY_CLASS):
        if request.headers.get(name):
            headers[name] = request.headers[name]
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _estimate(
    snapshot: Snapshot, request: LoggedRequest, body: dict[str, Any], priors: HealthBook, spend: SpendBook
) -> tuple[str, float, float] | None:
    """(tier, TTFT ms, latency ms) the offline replay expects for this request, or None when it would refuse it.

    `priors` is never fed (every tier healthy, latency from its priors) and `spend` stays empty: the offline
    replay's assumptions, made once per replay."""
    assert request.parsed is not None
    parsed = request.parsed
    try:
        decision = decide(
            snapshot,
            dataclasses.replace(parsed, body=body, model=body["model"]),
            request.headers,
            priors,
            spend,
            0.0,
        )
    except GatewayError:
        return None
    tier = decision.plan.steps[0].tier
    output = request.billed_tokens[1]
    return tier.name, tier.ttft_ms, tier.ttft_ms + 1000.0 * output / tier.tokens_per_second


async def _send(
    client: httpx.AsyncClient,
    request: LoggedRequest,
    body: dict[str, Any],
    headers: dict[str, str],
    results: _Results,
    estimate: tuple[str, float, float] | None,
) -> None:
    started = time.perf_counter()
    first: float | None = None
    try:
        async with client.stream(
            "POST", _PATHS[request.endpoint], content=orjson.dumps(body), headers=headers
        ) as response:
            async for chunk in response.aiter_raw():
                if first is None and chunk:
                    first = time.perf_counter()
    except httpx.HTTPError:
        results.errors["connection"] += 1
        return
    ended = time.perf_counter()
    if response.status_code != 200:
        results.errors[str(response.status_code)] += 1
        return
    results.answered += 1
    tier = response.headers.get(HEADER_TIER, "")
    results.tiers[tier] += 1
    reason = response.headers.get(HEADER_FALLBACK_REASON)
    if reason:
        results.fallbacks += 1
        for item in reason.split("; "):
            results.reasons[item.rpartition("=")[2]] += 1
    results.latency[round((ended - started) * 1000)] += 1
    if body.get("stream") and first is not None:
        results.ttft[round((first - started) * 1000)] += 1
    if estimate is not None:
        results.compared += 1
        results.agreed += estimate[0] == tier
        results.estimated_ttft[round(estimate[1])] += 1
        results.estimated_latency[round(estimate[2])] += 1


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How to send: to which policy, how fast, how many at once, with which key."""

    policies: list[str]
    """Model aliases named by --policy (the first is sent); empty: each request's own model."""
    snapshot: Snapshot
    rate: float
    concurrency: int
    api_key: str | None
    stream: bool = False


async def _replay(url: str, requests: list[LoggedRequest], options: LiveOptions) -> tuple[_Results, int, int]:
    policies, snapshot, rate, concurrency = options.policies, options.snapshot, options.rate, options.concurrency
    api_key, stream = options.api_key, options.stream
    results = _Results()
    priors, spend = HealthBook(), SpendBook()
    slots = asyncio.Semaphore(concurrency)
    sendable = [r for r in requests if r.parsed is not None]
    tasks: list[asyncio.Task[None]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=10.0)
    async with httpx.AsyncClient(base_url=url.rstrip("/"), limits=limits, timeout=timeout) as client:
        start = time.perf_counter()
        for index, request in enumerate(sendable):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            body = _body(request, _model_for(request, snapshot, policies), stream)
            estimate = _estimate(snapshot, request, body, priors, spend)

            async def one(
                request: LoggedRequest = request,
                body: dict[str, Any] = body,
                estimate: tuple[str, float, float] | None = estimate,
            ) -> None:
                try:
                    await _send(client, request, body, _headers(request, api_key), results, estimate)
                finally:
                    slots.release()

            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return results, len(sendable), len(requests) - len(sendable)


def run_live(url: str, requests: list[LoggedRequest], options: LiveOptions) -> dict[str, Any]:
    """Send the requests and return the document's `live` section."""
    results, sent, skipped = asyncio.run(_replay(url, requests, options))
    policies, rate = options.policies, options.rate
    return {
        "url": url,
        "policy": policies[0] if policies else None,
        "rate_per_second": rate,
        "sent": sent,
        "skipped_without_content": skipped,
        "answered": results.answered,
        "errors": dict(results.errors.most_common()),
        "fallbacks": results.fallbacks,
        "fallback_reasons": dict(results.reasons.most_common()),
        "agreement_percent": round(100 * results.agreed / results.compared, 2) if results.compared else None,
        "tiers": dict(results.tiers.most_common()),
        "ttft_ms": percentiles(results.ttft),
        "latency_ms": percentiles(results.latency),
        "estimated_ttft_ms": percentiles(results.estimated_ttft),
        "estimated_latency_ms": percentiles(results.estimated_latency),
    }
