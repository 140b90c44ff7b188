"""The immutable snapshot of tiers and policies, built from parsed resources.

Sources (the config folder, the Kubernetes watch) parse resources and call `build_snapshot`;
`runtime.snapshots.SnapshotStore` holds the current one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from pydantic import SecretStr

from tiergate_api.conditions import ConditionStatus, find_condition
from tiergate_api.enums import DifficultyRouting, LatencyClass, Locality, OnBudgetExceeded
from tiergate_api.modeltier import ModelTier, SecretKeyRef
from tiergate_api.quantities import billions
from tiergate_api.routingpolicy import ExternalClassifier, RoutingPolicy
from tiergate_api.tasks import default_tasks
from tiergate_api.urls import ascii_url
from tiergate_gateway.core.replicas import PickWeights
from tiergate_gateway.core.views import (
    ExternalClassifierView,
    PolicyView,
    TierView,
    price_per_million_to_femto_per_token,
    usd_to_femto,
    with_index,
)

SecretLookup = Callable[[str, str, str], str | None]
"""(namespace, secret name, key) -> value, or None when missing."""


def no_secrets(_namespace: str, _name: str, _key: str) -> None:
    """A lookup for snapshots without any secrets."""
    return None


@dataclass(frozen=True)
class Snapshot:
    """Everything routing needs, never mutated after construction."""

    tiers: Mapping[str, TierView]
    """By namespace/name."""
    policies: Mapping[str, PolicyView]
    """By model alias."""
    tiers_by_name: Mapping[str, TierView]
    """By bare name (first namespace in sorted order wins) and by namespace/name."""
    version: int = 0
    created_at: float = 0.0
    """When the source built it (Unix seconds); the core reads no clock, so the source passes it."""
    problems: tuple[str, ...] = ()
    """Conflicts noticed while building (duplicate aliases and the like)."""


EMPTY = Snapshot(tiers={}, policies={}, tiers_by_name={})


def build_snapshot(
    tiers: Iterable[ModelTier],
    policies: Iterable[RoutingPolicy],
    secrets: SecretLookup = no_secrets,
    *,
    version: int = 0,
    created_at: float = 0.0,
) -> Snapshot:
    """Resolve tiers (addresses, keys, capabilities) and policies (tier references).

    Conflicts go into `problems`; the store logs them when the snapshot is published.
    """
    tier_views = {view.key: view for view in (tier_view(t, secrets) for t in tiers)}
    by_name: dict[str, TierView] = {}
    for key in sorted(tier_views):
        view = tier_views[key]
        by_name.setdefault(view.name, view)
        by_name[key] = view
    problems: list[str] = []
    policy_views: dict[str, PolicyView] = {}
    for policy in sorted(policies, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        routed = policy_view(policy, tier_views, secrets)
        if routed.alias in policy_views:
            kept = policy_views[routed.alias]
            problems.append(
                f"model alias {routed.alias!r} of policy {routed.key} is already used by {kept.key}; ignored"
            )
            continue
        policy_views[routed.alias] = routed
    return Snapshot(tier_views, policy_views, by_name, version=version, created_at=created_at, problems=tuple(problems))


def tier_view(tier: ModelTier, secrets: SecretLookup) -> TierView:
    """The routing view of one tier."""
    spec = tier.spec
    namespace, name = tier.metadata.namespace, tier.metadata.name
    size = billions(spec.size)
    caps = spec.capabilities
    problem: str | None = None
    api_key: SecretStr | None = None
    autoscaling = spec.vllm.autoscaling if spec.vllm is not None else None
    autoscaled = autoscaling is not None
    if spec.endpoint is not None:
        replica_urls = spec.endpoint.replica_urls()
        url: str | None = replica_urls[0]
        timeout = float(spec.endpoint.timeout_seconds)
        api_key, problem = _secret_key(secrets, namespace, spec.endpoint.api_key_secret_ref)
    else:
        url = tier.status.endpoint if tier.status else None
        replica_urls = [url] if url else []
        timeout = 600.0
        if url is None:
            problem = "NoEndpoint: the operator has not published status.endpoint yet"
    status = tier.status
    if status is not None and spec.vllm is not None:
        ready = find_condition(status.conditions, "Ready")
        # No ready replica yet is a cold start (routed around as ScaledToZero or Starting), not a fault.
        cold = ready is not None and (ready.reason in _COLD_REASONS or (ready.reason in _STARTING and autoscaled))
        if ready is not None and ready.status == ConditionStatus.FALSE and not cold:
            problem = problem or f"NotReady: {ready.reason}"
    try:
        # An internationalised host goes on the wire IDNA-encoded.
        replica_urls = [ascii_url(u).rstrip("/") for u in replica_urls]
    except ValueError as exc:  # the models refuse such URLs; never let one reach a request
        replica_urls, problem = [], problem or f"InvalidURL: {exc}"
    url = replica_urls[0] if replica_urls else None
    reported = status if spec.vllm is not None else None  # what the operator says of its pods
    picking = spec.effective_replica_picking
    max_context = caps.max_context_tokens or (spec.vllm.max_model_len if spec.vllm else None)
    priors = spec.latency
    limits = spec.limits
    return TierView(
        key=f"{namespace}/{name}",
        name=name,
        namespace=namespace,
        model=spec.model,
        billions=float(size),
        log_billions=math.log(max(float(size), 0.001)),
        tasks=frozenset(caps.tasks) if caps.tasks else default_tasks(size),
        max_context_tokens=max_context,
        features=frozenset(caps.features),
        declares_features=bool(caps.features),
        input_femto_per_token=price_per_million_to_femto_per_token(spec.cost.input_price),
        output_femto_per_token=price_per_million_to_femto_per_token(spec.cost.output_price),
        locality=Locality.LOCAL if spec.vllm is not None else spec.locality,
        url=url.rstrip("/") if url else None,
        api_key=api_key,
        timeout_seconds=timeout,
        ttft_ms=float(priors.ttft_milliseconds) if priors and priors.ttft_milliseconds is not None else _ttft(size),
        tokens_per_second=float(priors.tokens_per_second)
        if priors and priors.tokens_per_second
        else _tokens_per_second(size),
        requests_per_minute=limits.requests_per_minute if limits else None,
        tokens_per_minute=limits.tokens_per_minute if limits else None,
        max_in_flight=limits.max_in_flight if limits else None,
        problem=problem,
        replica_urls=tuple(replica_urls),
        service=service_of(url) if spec.vllm is not None else None,
        picking=PickWeights(
            queue=picking.weights.queue,
            kv_cache=picking.weights.kv_cache,
            prefix=picking.weights.prefix_affinity,
            affinity_load_bound_percent=picking.affinity_load_bound_percent,
            block_tokens=picking.prefix_block_tokens,
        ),
        scrape_interval_seconds=picking.metrics_scrape_interval_milliseconds / 1000,
        autoscaled=autoscaled,
        desired_replicas=reported.replicas if reported is not None else None,
        ready_replicas=reported.ready_replicas if reported is not None else None,
        demand_window_seconds=float(autoscaling.demand_window_seconds) if autoscaling is not None else 60.0,
        idle_seconds=float(autoscaling.idle_seconds_before_zero) if autoscaling is not None else 600.0,
    )


_COLD_REASONS = frozenset({"ScaledToZero", "Starting"})
"""Ready reasons of an in-cluster tier that only lacks a ready replica (tiergate_operator.status)."""
_STARTING = frozenset({"ReplicasNotReady"})
"""Pods loading the model: a cold start for an autoscaled tier (for a fixed one, still NotReady)."""


def service_of(url: str | None) -> str | None:
    """`namespace/name` of the Service a cluster-DNS URL names (`http://<name>.<namespace>.svc...`)."""
    if not url or "://" not in url:
        return None
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    labels = host.split(".")
    if len(labels) >= 3 and labels[2] == "svc":
        return f"{labels[1]}/{labels[0]}"
    return None


def _secret_key(
    secrets: SecretLookup, namespace: str, ref: SecretKeyRef | None
) -> tuple[SecretStr | None, str | None]:
    """(the key, None), (None, why it is missing), or (None, None) without a reference."""
    if ref is None:
        return None, None
    value = secrets(namespace, ref.name, ref.key)
    if value is None:
        return None, f"SecretNotFound: key {ref.key!r} of Secret {ref.name!r} is missing"
    return SecretStr(value.strip()), None


def _external_classifier(
    external: ExternalClassifier | None, namespace: str, secrets: SecretLookup
) -> ExternalClassifierView | None:
    if external is None:
        return None
    api_key, problem = _secret_key(secrets, namespace, external.api_key_secret_ref)
    return ExternalClassifierView(ascii_url(external.url), external.timeout_milliseconds / 1000, api_key, problem)


def _ttft(size: Decimal) -> float:
    # Prior when a tier states none: larger models take longer to the first token.
    return 30.0 + 6.0 * float(size)


def _tokens_per_second(size: Decimal) -> float:
    return max(10.0, 250.0 / (1.0 + float(size) / 8.0))


def policy_view(policy: RoutingPolicy, tiers: Mapping[str, TierView], secrets: SecretLookup = no_secrets) -> PolicyView:
    """The routing view of one policy, its tier names resolved in its namespace."""
    spec = policy.spec
    namespace = policy.metadata.namespace
    missing: list[str] = []

    def resolve(names: Iterable[str]) -> tuple[TierView, ...]:
        found = []
        for tier_name in names:
            view = tiers.get(f"{namespace}/{tier_name}")
            if view is None:
                if tier_name not in missing:
                    missing.append(tier_name)
            else:
                found.append(view)
        return tuple(found)

    candidates = resolve(ref.name for ref in spec.tiers)
    chain = resolve(ref.name for ref in spec.fallback.chain) if spec.fallback.chain else None
    budget = spec.budget
    return with_index(
        PolicyView(
            key=f"{namespace}/{policy.metadata.name}",
            name=policy.metadata.name,
            namespace=namespace,
            alias=spec.model_alias,
            strategy=spec.strategy,
            weights=spec.effective_weights,
            tiers=candidates,
            chain=chain,
            missing_tiers=tuple(missing),
            default_latency_class=spec.default_latency_class,
            max_cost_femto=usd_to_femto(budget.max_cost) if budget and budget.max_cost is not None else None,
            daily_limit_femto=usd_to_femto(budget.daily) if budget and budget.daily is not None else None,
            on_exceeded=budget.on_exceeded if budget else OnBudgetExceeded.DOWNGRADE,
            retry_on=frozenset(spec.fallback.retry_on),
            max_attempts=spec.fallback.max_attempts,
            attempt_timeout_seconds=float(spec.fallback.attempt_timeout_seconds),
            require_local_last=spec.fallback.require_local_last,
            request_timeout_seconds=float(spec.fallback.request_timeout_seconds)
            if spec.fallback.request_timeout_seconds
            else None,
            classifier_header=spec.classifier.header.lower(),
            classifier_mode=spec.classifier.mode,
            low_confidence=spec.classifier.low_confidence,
            external_classifier=_external_classifier(spec.classifier.external, namespace, secrets),
            route_hard_up=spec.classifier.difficulty == DifficultyRouting.ROUTE_HARD_UP,
            cold_start_wait={
                latency_class: float(spec.cold_start.max_wait_seconds.for_class(latency_class))
                for latency_class in LatencyClass
            },
        )
    )
