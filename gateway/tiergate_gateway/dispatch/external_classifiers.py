"""The policies' external classifiers as the gateway uses them: asked, counted, traced, and left alone
for a while when they keep failing.

A failing service costs each request up to its timeout before the built-in classifier decides. After
`FAILURES_TO_OPEN` failures in a row it is not asked for `OPEN_SECONDS`; then one request tries it
again (as a tier's circuit breaker does, docs/resilience.md). A change of state is logged once, never
per request, and never with the URL or the key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from opentelemetry import trace

from tiergate_gateway.core.external_verdict import ExternalOutcome, ExternalVerdict
from tiergate_gateway.core.views import PolicyView
from tiergate_gateway.telemetry import metrics
from tiergate_gateway.telemetry.tracing import tracer
from tiergate_gateway.upstream.external_classifier import ask
from tiergate_gateway.upstream.transport import Transport

log = logging.getLogger("tiergate.gateway")

FAILURES_TO_OPEN: Final = 5
OPEN_SECONDS: Final = 10.0


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class ExternalClassifiers:
    """Asks each policy's classifier service, with one breaker per policy."""

    def __init__(self, transport: Transport, clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.clock = clock
        self._breakers: dict[str, _Breaker] = {}

    async def verdict(self, policy: PolicyView, body: bytes, request_id: str | None) -> ExternalVerdict:
        """What the policy's service says of `body`, or why the built-in classifier decides instead."""
        service = policy.external_classifier
        assert service is not None, "only policies with spec.classifier.external ask"
        breaker = self._breakers.setdefault(policy.key, _Breaker())
        now = self.clock()
        if breaker.open_until > now or breaker.probing:
            verdict = ExternalVerdict(
                ExternalOutcome.CIRCUIT_OPEN,
                f"not asked: {breaker.failures} failures in a row; the built-in classifier decides",
            )
            metrics.child(metrics.EXTERNAL_CLASSIFIER, policy.name, verdict.outcome.value).inc()
            return verdict
        breaker.probing = breaker.open_until > 0  # the one request that tries a resting service again
        span = tracer().start_span("tiergate.classify.external", kind=trace.SpanKind.CLIENT)
        try:
            verdict = await ask(self.transport, service, body, policy=policy.name, request_id=request_id)
        finally:
            breaker.probing = False
        if span.is_recording():
            span.set_attributes(
                {
                    "tiergate.policy": policy.name,
                    "tiergate.classifier.external.outcome": verdict.outcome.value,
                    "tiergate.classifier.external.detail": verdict.detail,
                    **({"tiergate.task": verdict.task.value} if verdict.task is not None else {}),
                }
            )
        span.end()
        metrics.child(metrics.EXTERNAL_CLASSIFIER, policy.name, verdict.outcome.value).inc()
        if verdict.outcome != ExternalOutcome.SECRET_NOT_FOUND:
            metrics.child(metrics.EXTERNAL_CLASSIFIER_SECONDS, policy.name).observe(verdict.latency_ms / 1000)
        self._count(policy.key, breaker, verdict, self.clock())
        return verdict

    def _count(self, key: str, breaker: _Breaker, verdict: ExternalVerdict, now: float) -> None:
        if not verdict.failed:
            if breaker.failures:
                log.info("external classifier of policy %s answers again", key)
            breaker.failures, breaker.open_until = 0, 0.0
            return
        breaker.failures += 1
        if breaker.failures == 1:
            log.warning(
                "external classifier of policy %s failed (%s: %s); the built-in classifier decides",
                key,
                verdict.outcome.value,
                verdict.detail,
            )
        if breaker.failures >= FAILURES_TO_OPEN:
            if breaker.open_until == 0.0:
                log.warning(
                    "external classifier of policy %s failed %d times in a row; not asked for %g s at a time",
                    key,
                    breaker.failures,
                    OPEN_SECONDS,
                )
            breaker.open_until = now + OPEN_SECONDS

    def forget_except(self, keys: set[str]) -> None:
        """Drop the breakers of deleted policies."""
        for key in set(self._breakers) - keys:
            del self._breakers[key]
