"""From a parsed request to an answer: decide the plan, then walk it until a tier answers.

`decide` is the routing decision (policy, task, latency class, plan), shared by the
completion endpoints and `/v1/route/explain`. `Dispatcher.run` walks the plan: each
failure feeds live health and moves on; a stream falls back only until its first chunk
has arrived, after which the relay owns it and ends it with an error event if it breaks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from tiergate_api.constants import (
    HEADER_ATTEMPTS,
    HEADER_FALLBACK_REASON,
    HEADER_LATENCY_CLASS,
    HEADER_POLICY,
    HEADER_TASK,
    HEADER_TIER,
)
from tiergate_api.enums import ClassifierMode, LatencyClass, OnBudgetExceeded, RetryOn, Strategy, Task
from tiergate_gateway.budget import SpendBook
from tiergate_gateway.classify import Classification, classify_messages, classify_prompt
from tiergate_gateway.errors import (
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    NoTierAvailableError,
    NotReadyError,
    OverloadedError,
)
from tiergate_gateway.health import HealthBook
from tiergate_gateway.limits import Limits
from tiergate_gateway.protocol import ParsedRequest, sse_error_event
from tiergate_gateway.registry import Snapshot, SnapshotStore
from tiergate_gateway.routing import Plan, RequestFacts, Role, SkipReason, Step, plan_request
from tiergate_gateway.state import LocalState
from tiergate_gateway.streamtap import StreamTap
from tiergate_gateway.upstream import (
    AttemptFailure,
    FailureKind,
    UpstreamClientError,
    complete,
    open_stream,
)
from tiergate_gateway.views import PolicyView, TierView

log = logging.getLogger(__name__)

_RETRYABLE = {kind.value for kind in RetryOn}


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything decided before the first upstream byte."""

    plan: Plan
    task_source: str
    """header, classifier or default."""
    classification: Classification | None
    direct: bool
    """The request named a tier, bypassing routing."""


@dataclass(slots=True)
class Answer:
    """A complete answer to relay."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass(slots=True)
class StreamAnswer:
    """A stream to relay; its first chunk has arrived."""

    chunks: AsyncIterator[bytes]
    headers: dict[str, str]


@dataclass(slots=True)
class _Trail:
    """What happened along the plan, for headers, logs and the final error."""

    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)


def _normalise(value: str) -> str:
    return value.replace("-", "").replace("_", "").replace(" ", "").lower()


_TASKS = {_normalise(t.value): t for t in Task}
_LATENCY_CLASSES = {_normalise(c.value): c for c in LatencyClass}


def parse_task(value: str, header: str) -> Task:
    """A task from a header value (case and separators ignored)."""
    found = _TASKS.get(_normalise(value))
    if found is None:
        raise InvalidRequestError(
            f"unknown task {value!r} in header {header}; use one of: {', '.join(t.value for t in Task)}", param=header
        )
    return found


def parse_latency_class(value: str) -> LatencyClass:
    """A latency class from the request header."""
    found = _LATENCY_CLASSES.get(_normalise(value))
    if found is None:
        raise InvalidRequestError(
            f"unknown latency class {value!r} in header {HEADER_LATENCY_CLASS}; "
            f"use one of: {', '.join(c.value for c in LatencyClass)}",
            param=HEADER_LATENCY_CLASS,
        )
    return found


def _direct_policy(tier: TierView) -> PolicyView:
    """A one-tier policy for requests that name a tier instead of an alias."""
    return PolicyView(
        key=f"{tier.namespace}/{tier.name}",
        name=tier.name,
        namespace=tier.namespace,
        alias=tier.name,
        strategy=Strategy.CAPABILITY,
        weights=(1, 0, 0),
        tiers=(tier,),
        chain=None,
        missing_tiers=(),
        default_latency_class=LatencyClass.BATCH,
        max_cost_femto=None,
        daily_limit_femto=None,
        on_exceeded=OnBudgetExceeded.DOWNGRADE,
        retry_on=frozenset(),
        max_attempts=1,
        attempt_timeout_seconds=tier.timeout_seconds,
        require_local_last=False,
        request_timeout_seconds=None,
        classifier_header=HEADER_TASK,
        classifier_mode=ClassifierMode.AUTO,
    )


class SpendView(Protocol):
    """Where today's spend per policy is read from (local books or shared state)."""

    def spent_today(self, policy_key: str, now: float) -> int: ...


def decide(
    snapshot: Snapshot,
    parsed: ParsedRequest,
    headers: Mapping[str, str],
    health: HealthBook,
    spend: SpendView,
    now: float,
) -> Decision:
    """Pick the policy, the task and the latency class, and build the plan."""
    policy = snapshot.policies.get(parsed.model)
    direct = False
    if policy is None:
        tier = snapshot.tiers_by_name.get(parsed.model)
        if tier is None:
            known = sorted(snapshot.policies) + sorted(n for n in snapshot.tiers_by_name if "/" not in n)
            raise ModelNotFoundError(
                f"model {parsed.model!r} is neither a policy alias nor a tier; available: {', '.join(known) or 'none'}",
                param="model",
            )
        policy = _direct_policy(tier)
        direct = True
    task, source, classification = _task(policy, parsed, headers)
    latency_header = headers.get(HEADER_LATENCY_CLASS)
    latency_class = parse_latency_class(latency_header) if latency_header else policy.default_latency_class
    facts = RequestFacts(
        task=task,
        latency_class=latency_class,
        prompt_tokens=parsed.prompt_tokens,
        max_tokens=parsed.max_tokens,
        features=parsed.features,
        stream=parsed.stream,
    )
    plan = plan_request(policy, facts, health, spent_today=spend.spent_today(policy.key, now), now=now)
    return Decision(plan, source, classification, direct)


def _task(
    policy: PolicyView, parsed: ParsedRequest, headers: Mapping[str, str]
) -> tuple[Task, str, Classification | None]:
    explicit = headers.get(policy.classifier_header)
    if explicit:
        return parse_task(explicit, policy.classifier_header), "header", None
    if policy.classifier_mode == ClassifierMode.HEADER_ONLY:
        return Task.CHAT, "default", None
    classification = (
        classify_messages(parsed.messages) if parsed.endpoint == "chat" else classify_prompt(parsed.prompt_text)
    )
    return classification.task, "classifier", classification


class Dispatcher:
    """Runs decisions against the tiers; holds the shared client and live state."""

    def __init__(
        self,
        store: SnapshotStore,
        client: aiohttp.ClientSession,
        *,
        health: HealthBook | None = None,
        limits: Limits | None = None,
        state: LocalState | None = None,
        clock: Callable[[], float] = time.time,
        max_response_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.client = client
        self.health = health or HealthBook()
        self.limits = limits or Limits()
        self.state = state or LocalState(self.health, SpendBook(), self.limits)
        self.clock = clock
        self.max_response_bytes = max_response_bytes

    def decide(self, parsed: ParsedRequest, headers: Mapping[str, str]) -> Decision:
        """The routing decision for a request against the current snapshot."""
        if not self.store.ready:
            raise NotReadyError("the gateway has not loaded its tiers and policies yet; retry shortly")
        return decide(self.store.current, parsed, headers, self.health, self.state, self.clock())

    async def run(
        self, parsed: ParsedRequest, decision: Decision, *, deadline_seconds: float | None = None
    ) -> Answer | StreamAnswer:
        """Walk the plan until a tier answers; raise a GatewayError when none does."""
        plan = decision.plan
        trail = _Trail()
        started = self.clock()
        budget = deadline_seconds if deadline_seconds is not None else plan.policy.request_timeout_seconds
        deadline = started + budget if budget else None
        tokens = plan.facts.prompt_tokens + plan.facts.output_tokens
        for index, step in enumerate(plan.steps):
            tier = step.tier
            now = self.clock()
            skip = self._skip_reason(plan, index, now, deadline)
            if skip is None and not await self.state.admit_rate(tier, tokens, now):
                skip = "TierRateLimit"
            if skip is not None:
                trail.reasons.append(f"{tier.name}={skip}")
                trail.skips.append(skip)
                continue
            timeout = min(plan.policy.attempt_timeout_seconds, tier.timeout_seconds)
            if deadline is not None:
                timeout = max(0.001, min(timeout, deadline - now - self._reserve(plan, index)))
            self.health.attempt_started(tier.key, now)
            trail.attempts += 1
            self.limits.enter_tier(tier.key)
            streaming = False
            try:
                body = _upstream_body(parsed, tier)
                if parsed.stream:
                    handle = await open_stream(self.client, tier, parsed.endpoint, body, timeout, {})
                    self.health.record_success(tier.key, self.clock(), ttft_ms=handle.ttft_ms)
                    headers = self._headers(decision, step, trail)
                    tap = StreamTap(strip_usage=not _client_wants_usage(parsed))
                    streaming = True
                    return StreamAnswer(self._relay(handle, tap, decision, step), headers)
                reply = await complete(
                    self.client, tier, parsed.endpoint, body, timeout, {}, max_bytes=self.max_response_bytes
                )
                usage = _usage_of(reply.body)
                self.health.record_success(tier.key, self.clock(), ttft_ms=reply.ttft_ms)
                await self._account(decision, step, usage)
                return Answer(200, reply.body, reply.content_type, self._headers(decision, step, trail))
            except AttemptFailure as failure:
                await self._failed(tier, failure.retry_after)
                trail.reasons.append(f"{tier.name}={failure.kind.value}")
                trail.failures.append(f"{tier.name}: {failure.kind.value} ({failure.detail})")
                if failure.kind.value in _RETRYABLE and RetryOn(failure.kind.value) not in plan.policy.retry_on:
                    break
            except UpstreamClientError as rejected:
                self.health.record_success(tier.key, self.clock())
                headers = self._headers(decision, step, trail)
                return Answer(rejected.status, rejected.body, rejected.content_type, headers)
            finally:
                if not streaming:  # a stream leaves the tier when its relay ends
                    self.limits.leave_tier(tier.key)
        raise self._exhausted(plan, trail, deadline)

    def _skip_reason(self, plan: Plan, index: int, now: float, deadline: float | None) -> str | None:
        """Why a planned tier is passed over at attempt time (health changes while we walk)."""
        tier = plan.steps[index].tier
        blocked = self.health.blocked(tier.key, now) if index else None
        if blocked is not None:
            return blocked.value
        if self.limits.at_capacity(tier):
            return "AtCapacity"
        if deadline is not None:
            left = deadline - now
            if left <= 0:
                return "DeadlineExceeded"
            is_last = index == len(plan.steps) - 1
            expected = self.health.expected_ms(tier, plan.facts.output_tokens) / 1000
            if not is_last and expected > left - self._reserve(plan, index):
                return "DeadlineTooShort"
        return None

    def _reserve(self, plan: Plan, index: int) -> float:
        """Seconds to keep for the Local last resort planned after this attempt."""
        last = plan.steps[-1]
        if index >= len(plan.steps) - 1 or not last.tier.is_local:
            return 0.0
        return self.health.expected_ms(last.tier, plan.facts.output_tokens) / 1000

    async def _failed(self, tier: TierView, retry_after: float | None) -> None:
        now = self.clock()
        changed = self.health.record_failure(tier.key, now, retry_after=retry_after)
        if changed is not None or retry_after:
            await self.state.share_health(tier.key, now)
            if changed is not None:
                log.info("circuit of tier %s is now %s", tier.name, changed.value)

    def _exhausted(self, plan: Plan, trail: _Trail, deadline: float | None) -> GatewayError:
        headers = {HEADER_ATTEMPTS: str(trail.attempts)}
        if not trail.attempts and trail.skips and all(s in _OVERLOAD_SKIPS for s in trail.skips):
            return OverloadedError(
                "every tier of the plan is at its concurrency or rate limit; retry shortly",
                headers={**headers, "retry-after": "1"},
            )
        tried = "; ".join(trail.failures) or "every planned tier was skipped"
        skipped = "; ".join(f"{s.tier}: {s.reason.value}" for s in plan.skipped if s.reason != SkipReason.ATTEMPT_CAP)
        passed = "; ".join(r for r in trail.reasons if r.split("=")[-1] not in _FAILURE_KINDS)
        detail = f"no tier could answer: {tried}"
        if passed:
            detail += f"; passed over: {passed}"
        if skipped:
            detail += f"; not planned: {skipped}"
        if deadline is not None and self.clock() >= deadline:
            return NoTierAvailableError(
                f"the request deadline passed; {detail}", headers=headers, code="deadline_exceeded"
            )
        return NoTierAvailableError(detail, headers=headers)

    def _headers(self, decision: Decision, step: Step, trail: _Trail) -> dict[str, str]:
        plan = decision.plan
        headers = {
            HEADER_TIER: step.tier.name,
            HEADER_TASK: plan.facts.task.value,
            HEADER_ATTEMPTS: str(trail.attempts),
        }
        if not decision.direct:
            headers[HEADER_POLICY] = plan.policy.name
        reasons = list(trail.reasons)
        if plan.ranked_first is not None and step.tier.name != plan.ranked_first:
            reasons = _health_skips_before(plan, step) + reasons
        reasons += [note.value for note in plan.notes]
        if step.role == Role.LOCAL_LAST_RESORT and step.detail:
            reasons.append("LocalLastResort")
        if reasons:
            headers[HEADER_FALLBACK_REASON] = "; ".join(dict.fromkeys(reasons))
        return headers

    async def _account(self, decision: Decision, step: Step, usage: tuple[int, int] | None) -> None:
        prompt, completion = usage if usage else (decision.plan.facts.prompt_tokens, decision.plan.facts.output_tokens)
        cost = step.tier.estimated_cost(prompt, completion)
        if cost and not decision.direct:
            await self.state.add_spend(decision.plan.policy.key, cost, self.clock())

    async def _relay(self, handle: Any, tap: StreamTap, decision: Decision, step: Step) -> AsyncIterator[bytes]:
        """Yield the stream chunk by chunk; end it with an OpenAI error event if the tier breaks."""
        try:
            first = tap.feed(handle.first_chunk)
            if first:
                yield first
            async for chunk in handle.rest:
                out = tap.feed(chunk)
                if out:
                    yield out
            rest = tap.flush()
            if rest:
                yield rest
            if not tap.done:
                raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the stream ended without [DONE]")
        except (aiohttp.ClientError, OSError, TimeoutError, AttemptFailure) as exc:
            await self._failed(step.tier, None)
            log.warning("stream from tier %s broke after the first byte: %s", step.tier.name, type(exc).__name__)
            yield sse_error_event(f"tier {step.tier.name} failed mid-stream; the answer is incomplete")
        finally:
            self.limits.leave_tier(step.tier.key)
            await handle.aclose()
            await self._account(decision, step, tap.usage)


_OVERLOAD_SKIPS = frozenset({"AtCapacity", "TierRateLimit"})
_FAILURE_KINDS = frozenset(kind.value for kind in FailureKind)


def _health_skips_before(plan: Plan, step: Step) -> list[str]:
    blocked = (SkipReason.CIRCUIT_OPEN, SkipReason.COOLING_DOWN)
    return [f"{s.tier}={s.reason.value}" for s in plan.skipped if s.reason in blocked and s.tier != step.tier.name]


def _client_wants_usage(parsed: ParsedRequest) -> bool:
    options = parsed.body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _upstream_body(parsed: ParsedRequest, tier: TierView) -> bytes:
    """The client's body with the tier's model id (and a usage report asked for on streams)."""
    body = dict(parsed.body)
    body["model"] = tier.model
    if parsed.stream:
        options = body.get("stream_options")
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return orjson.dumps(body)


def _usage_of(body: bytes) -> tuple[int, int] | None:
    """(prompt, completion) tokens of a non-streaming answer; raise when it is not an answer."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the answer is not JSON") from None
    if not isinstance(parsed, dict) or "error" in parsed or "choices" not in parsed:
        raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the answer has no choices")
    usage = parsed.get("usage")
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return prompt, completion
    return None
