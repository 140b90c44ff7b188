"""RoutingPolicy: how requests for one model alias are matched to tiers.

The policy names its candidate tiers, how to rank them (strategy), what they may cost
(budget) and in which order to fall back when a tier fails. The CRD in `crds/` is
generated from these models (`make crds`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from tiergate_api.base import ApiModel, Bool, Int, ObjectName
from tiergate_api.conditions import Condition
from tiergate_api.constants import API_VERSION, ROUTING_POLICY_KIND
from tiergate_api.enums import (
    ClassifierMode,
    DifficultyRouting,
    LatencyClass,
    Locality,
    LowConfidenceAction,
    OnBudgetExceeded,
    RetryOn,
    Strategy,
    Task,
)
from tiergate_api.metadata import ObjectMeta
from tiergate_api.modeltier import EndpointUrl, SecretKeyRef
from tiergate_api.quantities import DECIMAL_PATTERN, parse_usd
from tiergate_api.schema_extras import RuleViolationError, cel, list_map, list_set, validations

UsdString = Annotated[str, StringConstraints(max_length=20, pattern=DECIMAL_PATTERN)]
Weight = Annotated[Int, Field(ge=0, le=100)]

DEFAULT_WEIGHTS = (50, 30, 20)
"""Hybrid weights (capability, cost, latency) when a Hybrid policy gives none."""


class TierRef(ApiModel):
    """A ModelTier in the policy's namespace."""

    name: ObjectName
    """Name of the ModelTier."""


class Weights(ApiModel):
    """Relative weights of the Hybrid score; only their proportions matter."""

    capability: Weight = 0
    """Weight of capability fit (smaller capable tiers score higher)."""
    cost: Weight = 0
    """Weight of estimated cost (cheaper tiers score higher)."""
    latency: Weight = 0
    """Weight of expected latency (faster tiers score higher)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.capability + self.cost + self.latency > 0", "weights must sum to more than zero")
        )
    )

    @model_validator(mode="after")
    def _positive_sum(self) -> Self:
        if self.capability + self.cost + self.latency <= 0:
            raise ValueError("weights must sum to more than zero")
        return self


class Budget(ApiModel):
    """Cost limits in USD; never exceeded by choice."""

    max_cost_per_request: UsdString | None = None
    """Largest estimated cost of one request (prompt tokens plus max_tokens at the tier's prices)."""
    daily_limit: UsdString | None = None
    """Spend allowed per UTC day for this policy."""
    on_exceeded: OnBudgetExceeded = OnBudgetExceeded.DOWNGRADE
    """Downgrade: send to the cheapest tiers that fit (Local first). Reject: answer 429."""

    @property
    def max_cost(self) -> Decimal | None:
        """maxCostPerRequest as a Decimal, or None when unlimited."""
        return parse_usd(self.max_cost_per_request) if self.max_cost_per_request else None

    @property
    def daily(self) -> Decimal | None:
        """dailyLimit as a Decimal, or None when unlimited."""
        return parse_usd(self.daily_limit) if self.daily_limit else None


ALL_RETRY_ON = [RetryOn.SERVER_ERROR, RetryOn.RATE_LIMITED, RetryOn.TIMEOUT, RetryOn.CONNECTION_ERROR]


class Fallback(ApiModel):
    """What happens when an attempt fails."""

    chain: Annotated[list[TierRef], *list_map("name", 32, min_items=1)] | None = None
    """Explicit fallback order after the primary; unset follows the strategy's ranking."""
    retry_on: Annotated[list[RetryOn], *list_set(4)] = Field(
        default_factory=lambda: list(ALL_RETRY_ON),
        json_schema_extra={"default": [r.value for r in ALL_RETRY_ON]},
    )
    """Failures that move the request to the next tier."""
    max_attempts: Annotated[Int, Field(ge=1, le=10)] = 3
    """Most upstream attempts per request (one more is allowed to reach the Local last resort)."""
    attempt_timeout_seconds: Annotated[Int, Field(ge=1, le=3600)] = 30
    """Time allowed per attempt before it counts as a Timeout."""
    require_local_last: Bool = True
    """Every plan ends with a healthy Local tier; the policy is not Ready without one."""
    request_timeout_seconds: Annotated[Int | None, Field(ge=1, le=3600)] = None
    """Deadline for the whole request, split across attempts so the Local last resort keeps its time.

    The x-tiergate-timeout-ms header overrides it; unset, only the per-attempt timeouts apply."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.chain) || self.chain.all(t, self.chain.filter(u, u.name == t.name).size() == 1)",
                "fallback.chain names must be unique",
                field_path=".chain",
            )
        )
    )


ColdStartSeconds = Annotated[Int, Field(ge=0, le=3600)]

DEFAULT_BATCH_COLD_START_WAIT_SECONDS = 120
"""Batch requests wait this long for a cold tier by default: cheap capacity is worth a wait to them."""


class ColdStartWait(ApiModel):
    """Per latency class, the longest a request waits for a cold tier; 0 falls back at once."""

    realtime: ColdStartSeconds = 0
    """Seconds a Realtime request waits; 0 (the default) falls back at once."""
    interactive: ColdStartSeconds = 0
    """Seconds an Interactive request waits; 0 (the default) falls back at once."""
    batch: ColdStartSeconds = DEFAULT_BATCH_COLD_START_WAIT_SECONDS
    """Seconds a Batch request waits for the tier it would go to (default 120)."""

    def for_class(self, latency_class: LatencyClass) -> int:
        """The wait of one latency class, in seconds."""
        if latency_class == LatencyClass.REALTIME:
            return self.realtime
        if latency_class == LatencyClass.INTERACTIVE:
            return self.interactive
        return self.batch


class ColdStart(ApiModel):
    """What a request does when the tier routing picked has no ready replica (scaled to zero, or starting).

    It falls back down the plan at once, or waits up to maxWaitSeconds of its latency class for the
    tier to become ready. It never waits past the request's deadline, nor when the tier is not
    expected to be ready within the wait. Either way the request counts as demand for the tier, and
    the gateway starts a tier scaled to zero.
    """

    max_wait_seconds: ColdStartWait = Field(default_factory=ColdStartWait, json_schema_extra={"default": {}})
    """Longest wait per latency class (realtime, interactive, batch)."""


class LowConfidence(ApiModel):
    """What to do when the classifier is unsure of a request's task.

    Unsure means its confidence (the probability of the task it chose, shown by explain; for an external
    classifier, the confidence it answered with) is below belowPercent. RouteUp keeps the task but does
    not make the smallest capable tier the primary: the next size up answers first, and the smallest
    stays in the plan as a fallback. DefaultTask routes the request as defaultTask instead.
    """

    below_percent: Annotated[Int, Field(ge=1, le=99)] = 50
    """Confidence, in percent, under which a classification counts as unsure (default 50)."""
    action: LowConfidenceAction = LowConfidenceAction.ROUTE_UP
    """RouteUp (the default) or DefaultTask."""
    default_task: Task = Task.CHAT
    """The task an unsure request is routed as, with DefaultTask (default Chat)."""


DEFAULT_EXTERNAL_CLASSIFIER_TIMEOUT_MS = 200
"""How long a request waits for an external classifier by default before the built-in one decides."""


class ExternalClassifier(ApiModel):
    """The team's own classifier, reached over HTTP; the built-in classifier decides when it cannot.

    The gateway POSTs the client's request body, unchanged, to url and expects a JSON answer
    `{"task": "Reasoning", "confidence": 0.93}` (confidence optional, 0 to 1). A slow, failing or
    malformed answer costs at most timeoutMilliseconds: the built-in classifier then decides and the
    failure is shown by explain, counted in tiergate_external_classifier_total and traced. After five
    failures in a row the service is left alone for 10 seconds, then tried again.
    """

    url: EndpointUrl
    """Full URL of the classifier endpoint, for example http://router.ml.svc:8080/classify (http or https)."""
    timeout_milliseconds: Annotated[Int, Field(ge=1, le=10000)] = DEFAULT_EXTERNAL_CLASSIFIER_TIMEOUT_MS
    """Longest wait for an answer, in milliseconds (default 200); the built-in classifier decides after it."""
    api_key_secret_ref: SecretKeyRef | None = None
    """Secret key (in the policy's namespace) sent as a Bearer token. Never put keys in the spec."""


class Classifier(ApiModel):
    """How the task of a request is decided."""

    header: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")] = (
        "x-tiergate-task"
    )
    """Request header that names the task explicitly; it always wins."""
    mode: ClassifierMode = ClassifierMode.AUTO
    """Auto: the header, else the external classifier when one is set, else the built-in classifier.
    HeaderOnly: the header, else Chat."""
    external: ExternalClassifier | None = None
    """An HTTP service that classifies instead of the built-in classifier, which stays its fallback."""
    low_confidence: LowConfidence | None = None
    """What to do when the classifier (built-in, or external with a confidence) is unsure; unset: its choice
    stands, however unsure."""
    difficulty: DifficultyRouting = DifficultyRouting.OFF
    """RouteHardUp: a request judged hard within its task (a multi-file design, a multi-step proof) prefers
    tiers in the upper part of the task's size range, the smaller ones staying as fallbacks. Off (the
    default): the smallest capable tier first, however hard."""


class RoutingPolicySpec(ApiModel):
    """The desired routing for one model alias."""

    model_alias: Annotated[
        str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    ]
    """Requests whose model is this alias use this policy, for example auto."""
    strategy: Strategy = Strategy.CAPABILITY
    """Capability (smallest capable first), Cost, Latency or Hybrid (weighted score)."""
    weights: Weights | None = None
    """Hybrid only: relative weights of capability, cost and latency (default 50/30/20)."""
    tiers: Annotated[list[TierRef], *list_map("name", 64, min_items=1)]
    """Candidate tiers, in the policy's namespace."""
    default_latency_class: LatencyClass = LatencyClass.INTERACTIVE
    """Latency class when the request's x-tiergate-latency-class header gives none."""
    budget: Budget | None = None
    """Cost limits; unset means no limit."""
    fallback: Fallback = Field(default_factory=Fallback, json_schema_extra={"default": {}})
    """Fallback order, triggers and attempt limits."""
    classifier: Classifier = Field(default_factory=Classifier, json_schema_extra={"default": {}})
    """How the task of a request is decided."""
    cold_start: ColdStart = Field(default_factory=ColdStart, json_schema_extra={"default": {}})
    """Whether requests wait for a tier scaled to zero or starting, per latency class, or fall back at once."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.weights) || self.strategy == 'Hybrid'",
                "weights are allowed only with strategy Hybrid",
                field_path=".weights",
            ),
            cel(
                "self.tiers.all(t, self.tiers.filter(u, u.name == t.name).size() == 1)",
                "tiers names must be unique",
                field_path=".tiers",
            ),
        )
    )

    @model_validator(mode="after")
    def _weights_only_with_hybrid(self) -> Self:
        if self.weights is not None and self.strategy != Strategy.HYBRID:
            raise RuleViolationError("weights are allowed only with strategy Hybrid", "weights")
        return self

    @property
    def effective_weights(self) -> tuple[int, int, int]:
        """(capability, cost, latency) weights, with the default when none are given."""
        if self.weights is None:
            return DEFAULT_WEIGHTS
        return (self.weights.capability, self.weights.cost, self.weights.latency)


class PolicyTierStatus(ApiModel):
    """What the policy sees of one candidate tier."""

    name: ObjectName
    """Name of the ModelTier."""
    ready: Bool = False
    """Whether the tier exists and is Ready."""
    locality: Locality | None = None
    """Local or Remote; unset when the tier does not exist."""


class BudgetStatus(ApiModel):
    """Spend of the current UTC day."""

    day: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    """The UTC day the figures are for (YYYY-MM-DD)."""
    spent: UsdString
    """USD spent today through this policy."""
    remaining: UsdString | None = None
    """USD left of dailyLimit today; unset without a limit."""


class RoutingPolicyStatus(ApiModel):
    """The observed state of a RoutingPolicy."""

    observed_generation: Annotated[Int | None, Field(ge=0)] = None
    """The metadata.generation the status was computed from."""
    conditions: Annotated[list[Condition], *list_map("type", 16)] = []
    """Ready (summary), ResolvedRefs and LocalFallback."""
    tiers: Annotated[list[PolicyTierStatus], Field(max_length=96)] = []
    """Each candidate and fallback tier with its readiness and locality."""
    budget: BudgetStatus | None = None
    """Spend today and what remains of the daily limit."""


class RoutingPolicy(ApiModel):
    """A RoutingPolicy resource as stored by the API server or written in a YAML file."""

    api_version: Literal["tiergate.io/v1alpha1"] = API_VERSION
    kind: Literal["RoutingPolicy"] = ROUTING_POLICY_KIND
    metadata: ObjectMeta
    spec: RoutingPolicySpec
    status: RoutingPolicyStatus | None = None

    model_config = ConfigDict(extra="ignore")
