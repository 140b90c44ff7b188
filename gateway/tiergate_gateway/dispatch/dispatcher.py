"""From a decision to an answer: walk the attempt plan until a tier answers.

Each tier of the plan is passed over (its health, its limits, the request's deadline) or
tried: one `runtime.attempt.Attempt` (what live state lends the try, always given back), one
call through the upstream `Transport`, one span and set of counters (`observe.py`). Each
failure feeds live health and moves on; a stream falls back only until its first chunk has
arrived, after which the relay owns it and ends it with an error event if it breaks.

Time: `clock` (wall time) for health, budgets and the request's deadline, `timer` (monotonic,
high resolution) for latencies, and the running loop's clock for timeouts. Tests run all three
on one virtual clock (tests/fake_upstream.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import orjson
from opentelemetry import trace

from tiergate_api.constants import (
    HEADER_ATTEMPTS,
    HEADER_FALLBACK_REASON,
    HEADER_POLICY,
    HEADER_REPLICA,
    HEADER_TASK,
    HEADER_TIER,
)
from tiergate_api.enums import RetryOn
from tiergate_gateway.core.decision import Decision, asks_external, decide
from tiergate_gateway.core.errors import (
    SHOULD_RETRY_HEADER,
    BudgetExceededError,
    GatewayError,
    InvalidRequestError,
    NoTierAvailableError,
    NotReadyError,
    TierAtCapacityError,
    TierRateLimitError,
)
from tiergate_gateway.core.external_verdict import ExternalVerdict
from tiergate_gateway.core.health_view import COLD, HealthView
from tiergate_gateway.core.protocol import ParsedRequest, sse_error_event, tier_error_body, usage_counts
from tiergate_gateway.core.registry import Snapshot
from tiergate_gateway.core.routing import HEALTH_SKIPS, Note, Plan, Role, SkipReason, Step, retry_after_header
from tiergate_gateway.core.views import TierView
from tiergate_gateway.dispatch.external_classifiers import ExternalClassifiers
from tiergate_gateway.dispatch.replica_tries import Chosen, ReplicaTries
from tiergate_gateway.runtime.attempt import Attempt, admit, refusal
from tiergate_gateway.runtime.budget import SpendBook, utc_day
from tiergate_gateway.runtime.coldstart import ColdAwareHealth, ColdStarts
from tiergate_gateway.runtime.health import BlockReason, CircuitState, HealthBook
from tiergate_gateway.runtime.limits import LimitReason, Limits
from tiergate_gateway.runtime.live_latency import QueueAwareHealth
from tiergate_gateway.runtime.replicas import ReplicaBook, ReplicaPool, ReplicaReason
from tiergate_gateway.runtime.snapshots import SnapshotStore
from tiergate_gateway.runtime.state import LocalState
from tiergate_gateway.telemetry import metrics, observe
from tiergate_gateway.telemetry.tracing import propagation_headers, tracer
from tiergate_gateway.upstream.forward import (
    AttemptFailure,
    DeadlineReached,
    FailureKind,
    StreamHandle,
    UpstreamClientError,
    complete,
    open_stream,
)
from tiergate_gateway.upstream.streamtap import StreamTap
from tiergate_gateway.upstream.transport import Transport, UpstreamError

log = logging.getLogger(__name__)

_RETRYABLE = {kind.value for kind in RetryOn}


class DeadlineReason(StrEnum):
    """Why the request's deadline ended or prevented an attempt."""

    EXCEEDED = "DeadlineExceeded"
    TOO_SHORT = "DeadlineTooShort"
    """The tier's expected latency does not fit the time left (keeping the Local last resort's)."""


PassReason = BlockReason | LimitReason | DeadlineReason | ReplicaReason
"""Why a planned tier was passed over at attempt time."""


@dataclass(frozen=True, slots=True)
class _AttemptLimit:
    """How long one attempt may take, and whether the caller's deadline (not the tier's) set that."""

    seconds: float
    caller_bound: bool = False
    """The request's deadline cut the attempt's time: a timeout is then the caller's, not the tier's."""
    deadline_left: float | None = None
    """Seconds to the request's deadline when the attempt starts (a stream must end by then)."""


@dataclass(slots=True)
class Trail:
    """What happened along the plan, for headers, logs and the final error."""

    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skips: list[tuple[TierView, PassReason]] = field(default_factory=list)
    """Tiers passed over at attempt time, and why."""
    stop: bool = False
    """A failure the policy does not retry on ends the walk."""
    cost_femto: int | None = None
    """What the answer cost (the tier's usage, else the estimate); set once it is accounted."""
    billed: tuple[int, int] | None = None
    """The (prompt, completion) tokens that cost was worked out from."""
    usage: tuple[int, int] | None = None
    """The tokens the tier reported, when it did."""


@dataclass(slots=True)
class Answer:
    """A complete answer to relay."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    trail: Trail


@dataclass(slots=True)
class StreamAnswer:
    """A stream to relay; its first chunk has arrived.

    Start `chunks` before anything can suspend: its clean-up (the tier's slot, the upstream
    connection, the accounting) runs only in a generator that has started.
    """

    chunks: AsyncGenerator[bytes, None]
    headers: dict[str, str]
    trail: Trail


class Dispatcher:
    """Runs decisions against the tiers; holds the shared transport and live state."""

    def __init__(
        self,
        store: SnapshotStore,
        transport: Transport,
        *,
        health: HealthBook | None = None,
        limits: Limits | None = None,
        state: LocalState | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        max_response_bytes: int = 64 * 1024 * 1024,
        replicas: ReplicaBook | None = None,
        replica_tries: int = 2,
        cold_starts: ColdStarts | None = None,
    ) -> None:
        self.store = store
        self.replicas = ReplicaTries(replicas, max_tries=replica_tries, clock=clock)
        self.transport = transport
        self.health = health or HealthBook()
        self.limits = limits or Limits()
        self.state = state or LocalState(self.health, SpendBook(), self.limits)
        self.clock = clock
        self.timer = timer
        self.max_response_bytes = max_response_bytes
        # What routing reads of live health: with replicas, their queues count in expected latency;
        # with cold starts, a tier without a ready replica is blocked as ScaledToZero or Starting.
        self.live: HealthView = self.health if replicas is None else QueueAwareHealth(self.health, replicas)
        self.cold = cold_starts
        if cold_starts is not None:
            self.live = ColdAwareHealth(self.live, cold_starts)
        self._budget_logged: set[tuple[str, str]] = set()
        self._known_snapshot: Snapshot | None = None
        self.external = ExternalClassifiers(transport, clock)

    async def decide_asking(
        self, parsed: ParsedRequest, raw: bytes, headers: Mapping[str, str], request_id: str | None = None
    ) -> Decision:
        """`decide`, after asking the policy's external classifier (when it has one) about `raw`, the
        client's body. Its failures are verdicts, not errors: the built-in classifier then decides."""
        policy = self._snapshot().policies.get(parsed.model)  # a tier named directly has no classifier
        verdict = None
        if policy is not None and asks_external(policy, headers):
            verdict = await self.external.verdict(policy, raw, request_id)
        return self.decide(parsed, headers, verdict)

    def _snapshot(self) -> Snapshot:
        if not self.store.ready:
            raise NotReadyError("the gateway has not loaded its tiers and policies yet; retry shortly")
        snapshot = self.store.current
        if snapshot is not self._known_snapshot:  # a swap: live figures of deleted tiers go with them
            self._known_snapshot = snapshot
            self.health.forget_except(set(snapshot.tiers))
            self.limits.forget_except(set(snapshot.tiers))
            self.external.forget_except({policy.key for policy in snapshot.policies.values()})
        return snapshot

    def decide(
        self, parsed: ParsedRequest, headers: Mapping[str, str], external: ExternalVerdict | None = None
    ) -> Decision:
        """The routing decision for a request against the current snapshot, in a `tiergate.route` span."""
        snapshot = self._snapshot()
        # Not start_as_current_span: nothing below starts spans or logs per request, and making the
        # span current costs ~4 us a request (two context switches) for no gain.
        span = tracer().start_span("tiergate.route")
        try:
            decision = decide(snapshot, parsed, headers, self.live, self.state, self.clock(), external)
        except BudgetExceededError as exc:
            self._log_budget_once(parsed.model, f"budget exceeded for model {parsed.model!r}: {exc.message}")
            observe.end_route_with_error(span, exc)
            raise
        except BaseException as exc:
            observe.end_route_with_error(span, exc)
            raise
        observe.record_decision(span, decision)
        span.end()
        if Note.BUDGET_DOWNGRADE in decision.plan.notes:
            policy = decision.plan.policy.name
            self._log_budget_once(policy, f"policy {policy} is over budget; downgrading to the cheapest tiers")
        return decision

    def _log_budget_once(self, key: str, message: str) -> None:
        """Budget state changes at INFO, once per policy per UTC day (not once per request)."""
        marker = (key, utc_day(self.clock()))
        if marker not in self._budget_logged:
            self._budget_logged.add(marker)
            log.info(message)

    async def run(
        self,
        parsed: ParsedRequest,
        decision: Decision,
        *,
        deadline_seconds: float | None = None,
        request_id: str | None = None,
    ) -> Answer | StreamAnswer:
        """Walk the plan until a tier answers; raise a GatewayError when none does."""
        plan = decision.plan
        first = plan.ranked_first
        if first is not None and self.cold is not None and self.cold.any_autoscaled:
            # Demand (and the start of a tier at zero) is counted here, not in `decide`: explain decides too.
            self.cold.wanted(f"{plan.policy.namespace}/{first}", self.clock())
        trail = Trail()
        extra_headers = {"x-request-id": request_id} if request_id else {}
        budget = deadline_seconds if deadline_seconds is not None else plan.policy.request_timeout_seconds
        deadline = self.clock() + budget if budget else None
        tokens = plan.facts.prompt_tokens + plan.facts.output_tokens
        for index, step in enumerate(plan.steps):
            tier = step.tier
            now = self.clock()
            skip = self._skip_reason(plan, index, now, deadline)
            cold = None if skip is not None or self.cold is None else self.cold.state(tier.key, now)
            if cold is not None:
                skip = await self._cold_start(step, cold, now, deadline, plan, index)
                now = self.clock()
            pool = self.replicas.pool_of(tier)
            if skip is None and pool is not None and not pool.replicas:
                skip = ReplicaReason.NONE_READY
            attempt = None if skip is not None else await admit(self.state, tier, tokens, now)
            if attempt is None:
                skip = skip or LimitReason.RATE_LIMITED
                trail.reasons.append(f"{tier.name}={skip}")
                trail.skips.append((tier, skip))
                continue
            limit = _AttemptLimit(min(plan.policy.attempt_timeout_seconds, tier.timeout_seconds))
            if deadline is not None:
                left = deadline - now
                capped = max(0.001, min(limit.seconds, left - self._reserve(plan, index)))
                limit = _AttemptLimit(capped, caller_bound=capped < limit.seconds, deadline_left=left)
            trail.attempts += 1
            answer = await self._attempt(attempt, pool, parsed, decision, step, trail, limit, extra_headers)
            if answer is not None:
                if plan.ranked_first is not None and tier.name != plan.ranked_first:
                    observe.record_fallbacks(_health_skips_before(plan, step), tier.name)
                observe.record_fallbacks(trail.reasons, tier.name)
                return answer
            if trail.stop:
                break
        observe.record_fallbacks(trail.reasons, None)
        raise self._exhausted(plan, trail, deadline)

    async def _attempt(
        self,
        attempt: Attempt,
        pool: ReplicaPool | None,
        parsed: ParsedRequest,
        decision: Decision,
        step: Step,
        trail: Trail,
        limit: _AttemptLimit,
        extra_headers: dict[str, str],
    ) -> Answer | StreamAnswer | None:
        """One try at one tier: an answer, or None after recording why it failed.

        However it ends, `attempt` gives back what it took from live state (the stream's relay
        gives back its slot), and the attempt's span is ended here or by the relay.
        """
        tier = step.tier
        timeout = limit.seconds
        span: trace.Span = trace.INVALID_SPAN
        ends_at = None if limit.deadline_left is None else self.timer() + limit.deadline_left

        def seconds_left() -> float | None:  # of the request's deadline, for retries on other replicas
            return None if ends_at is None else ends_at - self.timer()

        with attempt:
            try:
                span = observe.start_attempt(decision, step, trail.attempts, parsed.endpoint, parsed.stream)
                if span.get_span_context().is_valid:
                    with trace.use_span(span, end_on_exit=False):
                        headers = propagation_headers()
                    headers.update(extra_headers)
                else:  # no tracing and no caller's trace: nothing to propagate (attaching a context costs ~8 us)
                    headers = dict(extra_headers)
                body = _upstream_body(parsed, tier)
                if parsed.stream:
                    # Made before the stream opens, so that once it is open nothing stands between it and its relay.
                    tap = StreamTap(strip_usage=not _client_wants_usage(parsed))
                    answer_headers = self._headers(decision, step, trail)
                    handle, chosen = await self.replicas.send(
                        pool,
                        tier,
                        parsed,
                        trail.reasons,
                        seconds_left,
                        lambda base_url: open_stream(
                            self.transport,
                            tier,
                            parsed.endpoint,
                            body,
                            _within(timeout, seconds_left()),
                            headers,
                            deadline_seconds=seconds_left(),
                            clock=self.clock,
                            timer=self.timer,
                            base_url=base_url,
                        ),
                    )
                    relay = self._relay(attempt, chosen, handle, tap, decision, step, span, trail)
                    attempt.hand_over()
                    self._circuit(tier, attempt.succeeded(self.clock(), ttft_ms=handle.ttft_ms))
                    if chosen.replica is not None and trail.reasons:  # replicas retried on the way
                        answer_headers = self._headers(decision, step, trail)
                    _name_replica(answer_headers, span, chosen)
                    return StreamAnswer(relay, answer_headers, trail)
                reply, chosen = await self.replicas.send(
                    pool,
                    tier,
                    parsed,
                    trail.reasons,
                    seconds_left,
                    lambda base_url: complete(
                        self.transport,
                        tier,
                        parsed.endpoint,
                        body,
                        _within(timeout, seconds_left()),
                        headers,
                        max_bytes=self.max_response_bytes,
                        clock=self.clock,
                        timer=self.timer,
                        base_url=base_url,
                    ),
                )
                chosen.finished(tier, True, self.clock())
                usage, response_model = _usage_of(reply.body)
                self._circuit(tier, attempt.succeeded(self.clock()))
                await self._account(attempt, decision, step, usage, span, trail, response_model)
                observe.end_attempt(span, tier, "ok", status=200)
                answer_headers = self._headers(decision, step, trail)
                _name_replica(answer_headers, span, chosen)
                return Answer(200, reply.body, reply.content_type, answer_headers, trail)
            except AttemptFailure as failure:
                if failure.kind == FailureKind.TIMEOUT and limit.caller_bound:
                    # The caller's deadline, not the tier's own timeout, ran out: no evidence against the tier.
                    kind = DeadlineReason.EXCEEDED.value
                    trail.reasons.append(f"{tier.name}={kind}")
                    trail.failures.append(f"{tier.name}: {kind} (the request's deadline left {timeout:g}s)")
                    observe.end_attempt(span, tier, kind, error_type=kind)
                    return None
                self._circuit(tier, await attempt.failed(self.clock(), retry_after=failure.retry_after))
                trail.reasons.append(f"{tier.name}={failure.kind.value}")
                trail.failures.append(f"{tier.name}: {failure.kind.value} ({failure.detail})")
                retry_on = decision.plan.policy.retry_on
                trail.stop = failure.kind.value in _RETRYABLE and RetryOn(failure.kind.value) not in retry_on
                observe.end_attempt(
                    span, tier, failure.kind.value, status=failure.status, error_type=failure.kind.value
                )
                return None
            except UpstreamClientError as rejected:
                self._circuit(tier, attempt.succeeded(self.clock()))
                observe.end_attempt(span, tier, "client_error", status=rejected.status, error_type="ClientError")
                secret = tier.api_key.get_secret_value() if tier.api_key is not None else None
                body = tier_error_body(rejected.status, rejected.body, secret)
                headers = {**self._headers(decision, step, trail), SHOULD_RETRY_HEADER: "false"}
                return Answer(rejected.status, body, "application/json", headers, trail)
            except BaseException:
                observe.end_attempt(span, tier, "cancelled", error_type="Cancelled")
                raise

    async def _cold_start(
        self, step: Step, cold: BlockReason, now: float, deadline: float | None, plan: Plan, index: int
    ) -> BlockReason | None:
        """None once the cold tier has a ready replica (when the plan allows a wait for one), else why it
        is passed over: `cold`, its ScaledToZero or Starting."""
        assert self.cold is not None  # checked by the caller
        wait = step.cold_wait
        if deadline is not None:
            wait = min(wait, deadline - now - self._reserve(plan, index))
        if wait <= 0 or not await self.cold.wait_ready(step.tier.key, wait):
            return cold
        return None

    def _circuit(self, tier: TierView, changed: CircuitState | None) -> None:
        """Tell of a circuit that changed state with an attempt's verdict."""
        if changed is not None:
            observe.record_circuit(tier, changed)
            log.info("circuit of tier %s is now %s", tier.name, changed.value)

    def _skip_reason(self, plan: Plan, index: int, now: float, deadline: float | None) -> PassReason | None:
        """Why a planned tier is passed over at attempt time (health changes while we walk).

        The first tier was placed by routing a moment ago, knowing its health.
        """
        tier = plan.steps[index].tier
        refused = refusal(self.state, tier, now, check_health=index > 0)
        if refused is not None:
            return refused
        if deadline is not None:
            left = deadline - now
            if left <= 0:
                return DeadlineReason.EXCEEDED
            is_last = index == len(plan.steps) - 1
            expected = self.health.expected_ms(tier, plan.facts.output_tokens) / 1000
            if not is_last and expected > left - self._reserve(plan, index):
                return DeadlineReason.TOO_SHORT
        return None

    def _reserve(self, plan: Plan, index: int) -> float:
        """Seconds to keep for the Local last resort planned after this attempt."""
        last = plan.steps[-1]
        if index >= len(plan.steps) - 1 or not last.tier.is_local:
            return 0.0
        return self.health.expected_ms(last.tier, plan.facts.output_tokens) / 1000

    def _exhausted(self, plan: Plan, trail: Trail, deadline: float | None) -> GatewayError:
        now = self.clock()
        wait = self._usable_at(plan, trail, now) - now
        headers = {HEADER_ATTEMPTS: str(trail.attempts), **retry_after_header(wait)}
        if not trail.attempts and trail.skips and all(reason in _OVERLOAD_SKIPS for _, reason in trail.skips):
            names = ", ".join(dict.fromkeys(tier.name for tier, _ in trail.skips))
            if all(reason == LimitReason.RATE_LIMITED for _, reason in trail.skips):
                return TierRateLimitError(
                    f"every planned tier ({names}) is at its requests- or tokens-per-minute limit; "
                    f"the window frees in {headers.get('retry-after', '1')}s",
                    headers=headers,
                )
            return TierAtCapacityError(
                f"every planned tier ({names}) is at its limit of requests in flight; retry shortly", headers=headers
            )
        tried = "; ".join(trail.failures) or "every planned tier was skipped"
        skipped = "; ".join(f"{s.tier}: {s.reason.value}" for s in plan.skipped if s.reason != SkipReason.ATTEMPT_CAP)
        passed = "; ".join(r for r in trail.reasons if r.split("=")[-1] not in _FAILURE_KINDS)
        detail = f"no tier could answer: {tried}"
        if passed:
            detail += f"; passed over: {passed}"
        if skipped:
            detail += f"; not planned: {skipped}"
        if deadline is not None and now >= deadline:
            return NoTierAvailableError(
                f"the request deadline passed; {detail}", headers=headers, code="deadline_exceeded"
            )
        return NoTierAvailableError(detail, headers=headers)

    def _usable_at(self, plan: Plan, trail: Trail, now: float) -> float:
        """The earliest moment a tier of the plan can be tried again: `now` when one can be already."""
        limited = {tier.key: reason for tier, reason in trail.skips}
        moments: list[float] = []
        for step in plan.steps:
            at = self.live.usable_at(step.tier.key, now)
            reason = limited.get(step.tier.key)
            if reason == LimitReason.RATE_LIMITED:
                at = max(at, self.limits.rate_window_ends(now))
            elif reason == LimitReason.AT_CAPACITY:
                at = max(at, now + 1.0)  # a slot frees as soon as an answer ends; a second is a fair guess
            elif reason in COLD:
                at = max(at, now + COLD_RETRY_GUESS)  # its start time is known to `live` when one was seen
            moments.append(at)
        blocked = {s.tier for s in plan.skipped if s.reason in HEALTH_SKIPS}
        moments += [self.live.usable_at(t.key, now) for t in plan.policy.all_tiers if t.name in blocked]
        return min(moments, default=now)

    def _headers(self, decision: Decision, step: Step, trail: Trail) -> dict[str, str]:
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

    async def _account(
        self,
        attempt: Attempt,
        decision: Decision,
        step: Step,
        usage: tuple[int, int] | None,
        span: trace.Span,
        trail: Trail,
        response_model: str | None = None,
    ) -> None:
        """What the answer cost (the tier's usage, else the estimate): on the span, in the counters,
        and against the policy's day."""
        facts = decision.plan.facts
        prompt, completion = usage if usage else (facts.prompt_tokens, facts.output_tokens)
        cost = step.tier.estimated_cost(prompt, completion)
        trail.cost_femto = cost
        trail.billed = (prompt, completion)
        trail.usage = usage
        observe.record_usage(span, decision, step, usage, cost, response_model)
        if cost and not decision.direct:
            policy = decision.plan.policy
            spent = await attempt.charge(policy.key, cost, self.clock())
            observe.record_budget(policy.name, spent, policy.daily_limit_femto)

    async def _relay(
        self,
        attempt: Attempt,
        chosen: Chosen,
        handle: StreamHandle,
        tap: StreamTap,
        decision: Decision,
        step: Step,
        span: trace.Span,
        trail: Trail,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the stream chunk by chunk; end it with an OpenAI error event if the tier breaks.

        Owns the attempt's slot (handed over when the stream opened) and gives it back when the stream ends.
        """
        result, error_type = "ok", None
        try:
            first = tap.feed(handle.first_chunk)
            if first:
                yield first
            if not tap.done:  # after [DONE] the answer is whole; aclose() waits briefly for the body's end
                async for chunk in handle.rest:
                    out = tap.feed(chunk)
                    if out:
                        yield out
                    if tap.done:
                        break
            rest = tap.flush()
            if rest:
                yield rest
            if not tap.done:
                raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the stream ended without [DONE]")
        except DeadlineReached:
            result = error_type = DeadlineReason.EXCEEDED.value  # the caller's limit: no tier failure
            yield sse_error_event(
                "the request's deadline passed; the answer is incomplete", "timeout_error", "deadline_exceeded"
            )
        # TimeoutError: the tier went silent; OSError: a transport that let one through.
        except (UpstreamError, TimeoutError, OSError) as exc:
            result, error_type = "StreamBroken", type(exc).__name__
            self._circuit(step.tier, await attempt.failed(self.clock()))
            log.warning("stream from tier %s broke after the first byte: %s", step.tier.name, error_type)
            yield sse_error_event(f"tier {step.tier.name} failed mid-stream; the answer is incomplete")
        except BaseException:
            result, error_type = "ClientGone", "ClientGone"
            raise
        finally:
            attempt.release()
            if result == "ok":
                chosen.finished(step.tier, True, self.clock())
            elif result == "StreamBroken":
                chosen.finished(step.tier, False, self.clock())
            else:
                chosen.released()
            await handle.aclose(finished=tap.done)
            if tap.bad_usage:
                metrics.BAD_USAGE.inc()
            await self._account(attempt, decision, step, tap.usage, span, trail)
            observe.end_attempt(span, step.tier, result, status=200, error_type=error_type, ttft_ms=handle.ttft_ms)


_OVERLOAD_SKIPS = frozenset(LimitReason)
COLD_RETRY_GUESS = 10.0
"""Seconds to suggest retrying after when a tier is starting and no start of it has been timed yet."""
_FAILURE_KINDS = frozenset(kind.value for kind in FailureKind)


def _within(timeout: float, left: float | None) -> float:
    """An attempt's timeout, shortened to what is left of the request's deadline."""
    return timeout if left is None else max(0.001, min(timeout, left))


def _name_replica(headers: dict[str, str], span: trace.Span, chosen: Chosen) -> None:
    """`x-tiergate-replica` and the span attribute, when the tier has replicas to pick from."""
    label = chosen.label
    if label is not None:
        headers[HEADER_REPLICA] = label
        if span.is_recording():
            span.set_attribute("tiergate.replica", label)


def _health_skips_before(plan: Plan, step: Step) -> list[str]:
    return [f"{s.tier}={s.reason.value}" for s in plan.skipped if s.reason in HEALTH_SKIPS and s.tier != step.tier.name]


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
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:  # orjson writes at most 254 levels of nesting; it reads up to 1,024
        raise InvalidRequestError("the request body is nested too deeply", param="messages") from None


def _usage_of(body: bytes) -> tuple[tuple[int, int] | None, str | None]:
    """((prompt, completion) tokens, model) of a non-streaming answer; raise when it is not an answer."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the answer is not JSON") from None
    if not isinstance(parsed, dict) or "error" in parsed or "choices" not in parsed:
        raise AttemptFailure(FailureKind.INVALID_RESPONSE, "the answer has no choices")
    model = parsed.get("model") if isinstance(parsed.get("model"), str) else None
    usage = parsed.get("usage")
    counts = usage_counts(usage)
    if counts is None and isinstance(usage, dict):
        metrics.BAD_USAGE.inc()
    return counts, model
