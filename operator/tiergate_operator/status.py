"""Compute the status of tiers and policies from what the operator observed (pure).

Nothing here reads the cluster: the reconciler gathers the observations (the Deployment,
the pods, whether referenced Secrets exist, what went wrong while writing) and these
functions turn them into `status` and into the events a `kubectl describe` user expects.
Conditions follow the Kubernetes conventions: a summary `Ready`, `Available` and
`Progressing` mirrored from the Deployment, `Degraded` with the most telling reason,
`ResolvedRefs` for Secrets (tiers) and tiers (policies), `LocalFallback` for policies, and
`Autoscaling` for autoscaled tiers (who scales them, and whether KEDA says it can).
Transition times move only when a condition's status changes (`set_condition`).

An autoscaled tier's desired replicas are what its Deployment asks for now (KEDA's choice),
not a spec field: zero is `ScaledToZero`, at least one with none ready yet is `Starting`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from tiergate_api.conditions import (
    CAMEL_REASON,
    Condition,
    ConditionStatus,
    ConditionType,
    find_condition,
    merge_conditions,
    now_utc,
)
from tiergate_api.enums import Locality
from tiergate_api.modeltier import ModelTier
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_operator.render import service_url
from tiergate_operator.scaling import Scaling, initial_replicas

NORMAL: Final = "Normal"
WARNING: Final = "Warning"
MAX_MESSAGE: Final = 1024

# Pod and container states worth a Degraded condition, most actionable first.
_WAITING_REASONS: Final = (
    "InvalidImageName",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
)
# ErrImagePull and ImagePullBackOff alternate while kubelet retries; one reason keeps the condition still.
_REASON_ALIASES: Final = {"ErrImagePull": "ImagePullBackOff"}
# Ready reasons of a tier whose scaler took its pods away or is bringing them back: told as Normal events.
_SCALING_REASONS: Final = ("ScaledToZero", "Starting")


@dataclass(frozen=True)
class Problem:
    """Something that keeps a tier from its desired state, with a CamelCase reason."""

    reason: str
    message: str


@dataclass(frozen=True)
class SecretCheck:
    """Whether a referenced Secret and its key exist (never the value)."""

    field: str
    name: str
    key: str
    secret_exists: bool
    key_exists: bool

    @property
    def problem(self) -> Problem | None:
        """SecretNotFound or SecretKeyNotFound, or None when the reference resolves."""
        if not self.secret_exists:
            return Problem("SecretNotFound", f"{self.field}: Secret {self.name!r} not found")
        if not self.key_exists:
            return Problem("SecretKeyNotFound", f"{self.field}: Secret {self.name!r} has no key {self.key!r}")
        return None


@dataclass(frozen=True)
class TierObservation:
    """What the reconciler saw of a tier's world in one pass."""

    deployment: Mapping[str, Any] | None = None
    pods: Sequence[Mapping[str, Any]] = ()
    secrets: Sequence[SecretCheck] = ()
    problems: Sequence[Problem] = ()
    """Failures of the reconcile itself (a child owned by someone else, a rejected manifest)."""
    scaling: Scaling = Scaling.FIXED
    """Who sets the Deployment's replica count (scaling.py)."""
    scaled_object: Mapping[str, Any] | None = None
    """The live KEDA ScaledObject, when KEDA scales the tier."""


@dataclass(frozen=True)
class Event:
    """A Kubernetes event to post on the object."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class TierView:
    """What a policy needs to know about one tier."""

    name: str
    ready: bool
    locality: Locality


@dataclass(frozen=True)
class StatusResult:
    """A status to write and the events its changes deserve."""

    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)


# ---------------------------------------------------------------- tiers


def tier_status(
    tier: ModelTier,
    observation: TierObservation,
    previous: Mapping[str, Any] | None,
    *,
    now: datetime | None = None,
) -> StatusResult:
    """The tier's status from an observation, keeping unchanged transition times from `previous`."""
    generation = tier.metadata.generation
    old_conditions = parse_conditions(previous)
    updates = _tier_conditions(tier, observation)
    stamped = [c.model_copy(update={"observed_generation": generation}) for c in updates]
    applicable = {c.type for c in stamped}
    conditions = merge_conditions([c for c in old_conditions if c.type in applicable], stamped, now=now)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": [c.to_wire() for c in conditions],
        "locality": tier.spec.locality.value,
    }
    if tier.spec.vllm is not None:
        desired = desired_replicas(tier, observation.deployment)
        status["endpoint"] = service_url(tier.metadata.name, tier.metadata.namespace)
        status["replicas"] = desired
        status["readyReplicas"] = _ready_replicas(observation.deployment)
        if tier.spec.vllm.autoscaling is not None:
            status["scaledToZero"] = desired == 0
    elif tier.spec.endpoint is not None:
        if tier.spec.endpoint.urls is None:
            status["endpoint"] = tier.spec.endpoint.url
        else:  # a pool: no one endpoint; the gateway picks a replica per request
            status["replicas"] = len(tier.spec.endpoint.urls)
    return StatusResult(status=status, events=transition_events(old_conditions, conditions))


def desired_replicas(tier: ModelTier, deployment: Mapping[str, Any] | None) -> int:
    """Pods the tier wants now: spec.vllm.replicas, or for an autoscaled tier its Deployment's replicas.

    The Deployment's count is whatever its scaler (KEDA, the gateway's wake-up, or the operator
    when there is no scaler) last wrote; before the Deployment exists, what the operator creates it with.
    """
    vllm = tier.spec.vllm
    if vllm is None:
        return 0
    if vllm.autoscaling is None:
        return vllm.replicas
    replicas = ((deployment or {}).get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) and replicas >= 0 else initial_replicas(tier)


def _endpoint_target(tier: ModelTier) -> str:
    """Where an endpoint tier's requests go, for its Ready message."""
    urls = tier.spec.endpoint.replica_urls() if tier.spec.endpoint is not None else []
    return f"requests go to {urls[0]}" if len(urls) == 1 else f"requests go to {len(urls)} replicas"


def _tier_conditions(tier: ModelTier, observation: TierObservation) -> list[Condition]:
    refs = _resolved_refs(observation.secrets, "Secret")
    if tier.spec.vllm is None:
        ready = (
            _condition(ConditionType.READY, True, "EndpointConfigured", _endpoint_target(tier))
            if refs.status == ConditionStatus.TRUE
            else _condition(ConditionType.READY, False, refs.reason, refs.message)
        )
        return [ready, refs]

    deployment = observation.deployment
    available = _mirror(deployment, ConditionType.AVAILABLE, "Available")
    progressing = _mirror(deployment, ConditionType.PROGRESSING, "Progressing")
    problem = next(iter(observation.problems), None) or workload_problem(deployment, observation.pods)
    degraded = (
        _condition(ConditionType.DEGRADED, True, problem.reason, problem.message)
        if problem is not None
        else _condition(ConditionType.DEGRADED, False, "AsExpected", "no pod or rollout problems seen")
    )
    autoscaled = tier.spec.vllm.autoscaling is not None
    desired = desired_replicas(tier, deployment)
    ready_replicas = _ready_replicas(deployment)
    summary = f"{ready_replicas}/{desired} replicas ready"
    if observation.problems:
        ready = _condition(ConditionType.READY, False, problem.reason, problem.message)  # type: ignore[union-attr]
    elif desired == 0:
        why = "scaled to zero for want of demand" if autoscaled else "spec.vllm.replicas is 0"
        ready = _condition(
            ConditionType.READY, False, "ScaledToZero", f"{why}; requests fall back until the tier starts again"
        )
    elif autoscaled and ready_replicas == 0 and problem is None and refs.status != ConditionStatus.FALSE:
        ready = _condition(
            ConditionType.READY, False, "Starting", f"{summary}; starting, requests fall back until a replica is ready"
        )
    elif ready_replicas >= 1 and available.status != ConditionStatus.FALSE:
        message = summary if problem is None else f"{summary}; {problem.reason}: {problem.message}"
        ready = _condition(ConditionType.READY, True, "Ready", message)
    elif problem is not None:
        ready = _condition(ConditionType.READY, False, problem.reason, f"{summary}; {problem.message}")
    elif refs.status == ConditionStatus.FALSE:
        ready = _condition(ConditionType.READY, False, refs.reason, f"{summary}; {refs.message}")
    else:
        ready = _condition(ConditionType.READY, False, "ReplicasNotReady", f"{summary}; waiting for the model to load")
    conditions = [ready, available, progressing, degraded, refs]
    if autoscaled:
        conditions.append(_autoscaling(tier, observation, desired))
    return conditions


def _autoscaling(tier: ModelTier, observation: TierObservation, desired: int) -> Condition:
    """Whether the tier's replica count follows demand, and if not, why not."""
    autoscaling = tier.spec.vllm.autoscaling if tier.spec.vllm is not None else None
    assert autoscaling is not None  # checked by the caller
    floor = autoscaling.floor_without_scaler
    bounds = f"between {autoscaling.min_replicas} and {autoscaling.max_replicas} replicas"
    match observation.scaling:
        case Scaling.KEDA_NOT_INSTALLED:
            return _condition(
                ConditionType.AUTOSCALING,
                False,
                "KEDANotInstalled",
                f"KEDA is not installed (the API server serves no keda.sh/v1alpha1 ScaledObjects): the tier runs "
                f"max(minReplicas, 1) = {floor} replicas and never scales to zero; install KEDA to scale it {bounds} "
                "(docs/autoscaling.md); the operator keeps looking for it",
            )
        case Scaling.NO_TRIGGERS:
            return _condition(
                ConditionType.AUTOSCALING,
                False,
                "NoTriggers",
                "KEDA is installed but the operator knows neither a Prometheus address nor the gateway's demand URL "
                "(TIERGATE_OPERATOR_PROMETHEUS_ADDRESS, TIERGATE_OPERATOR_GATEWAY_DEMAND_URL; chart values "
                f"tierAutoscaling.*), so nothing could tell KEDA about demand: the tier runs {floor} replicas",
            )
    scaled_object = observation.scaled_object
    if scaled_object is None:
        return _condition(ConditionType.AUTOSCALING, ConditionStatus.UNKNOWN, "Pending", "no ScaledObject yet")
    name = (scaled_object.get("metadata") or {}).get("name", "")
    spec_triggers = (scaled_object.get("spec") or {}).get("triggers") or []
    triggers = ", ".join(t.get("name") or t.get("type", "?") for t in spec_triggers)
    keda_ready = next(
        (c for c in (scaled_object.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    if keda_ready is None or keda_ready.get("status") not in ("True", "False"):
        return _condition(
            ConditionType.AUTOSCALING,
            ConditionStatus.UNKNOWN,
            "Pending",
            f"waiting for KEDA to take up ScaledObject {name}; until then the tier keeps {desired} replicas",
        )
    detail = _clip(keda_ready.get("message") or "")
    if keda_ready["status"] == "False":
        reason = keda_ready.get("reason") or "ScaledObjectNotReady"
        return _condition(
            ConditionType.AUTOSCALING, False, reason, f"KEDA reports ScaledObject {name} not ready: {detail}"
        )
    message = f"KEDA scales the tier {bounds} on {triggers}; it wants {desired} now"
    return _condition(ConditionType.AUTOSCALING, True, "KEDAScaling", f"{message} ({detail})" if detail else message)


def _mirror(deployment: Mapping[str, Any] | None, type_: str, deployment_type: str) -> Condition:
    """A Deployment condition copied as it is, so `kubectl describe` reads the same on both."""
    if deployment is None:
        return _condition(type_, False, "DeploymentMissing", "the Deployment does not exist yet")
    meta, status = deployment.get("metadata", {}), deployment.get("status") or {}
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    if type_ == ConditionType.PROGRESSING and (observed is None or (generation is not None and observed < generation)):
        return _condition(type_, True, "RolloutPending", "the Deployment controller has not seen the latest spec yet")
    for raw in status.get("conditions") or []:
        if raw.get("type") == deployment_type:
            status_value = raw.get("status", "Unknown")
            reason = raw.get("reason") or ("Deployment" + deployment_type)
            return _condition(type_, ConditionStatus(status_value), reason, _clip(raw.get("message", "")))
    return _condition(type_, ConditionStatus.UNKNOWN, "Pending", "the Deployment reports no such condition yet")


def workload_problem(deployment: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]) -> Problem | None:
    """The most telling reason the workload is unhealthy, from pod states and Deployment conditions."""
    found: dict[str, list[str]] = {}
    live_pods = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    for pod in live_pods:
        name = pod.get("metadata", {}).get("name", "?")
        for reason, detail in _pod_problems(pod):
            found.setdefault(reason, []).append(f"pod {name}: {detail}" if detail else f"pod {name}")
    ranking = [_REASON_ALIASES.get(r, r) for r in _WAITING_REASONS] + ["OOMKilled", "Unschedulable", "Evicted"]
    for reason in dict.fromkeys(ranking):
        if reason in found:
            details = found[reason]
            count = f"{len(details)} of {len(live_pods)} pods" if len(live_pods) > 1 else "pod"
            return Problem(reason, _clip(f"{count} {_verb(reason)}: {details[0]}"))
    for raw in (deployment or {}).get("status", {}).get("conditions") or []:
        if raw.get("type") == "ReplicaFailure" and raw.get("status") == "True":
            return Problem(raw.get("reason") or "ReplicaFailure", _clip(raw.get("message", "")))
        if raw.get("type") == "Progressing" and raw.get("reason") == "ProgressDeadlineExceeded":
            return Problem("ProgressDeadlineExceeded", _clip(raw.get("message", "")))
    return None


def _pod_problems(pod: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    status = pod.get("status") or {}
    if status.get("phase") == "Failed" and status.get("reason") == "Evicted":
        yield "Evicted", status.get("message", "")
    for condition in status.get("conditions") or []:
        scheduled = (condition.get("type"), condition.get("status"), condition.get("reason"))
        if scheduled == ("PodScheduled", "False", "Unschedulable"):
            yield "Unschedulable", condition.get("message", "")
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _WAITING_REASONS:
            yield _REASON_ALIASES.get(reason, reason), waiting.get("message", "")
        terminated = (container.get("lastState") or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            yield "OOMKilled", f"container {container.get('name', '?')} ran out of memory"


def _verb(reason: str) -> str:
    return {
        "Unschedulable": "cannot be scheduled (no node of the pool has room, or none matches)",
        "ImagePullBackOff": "cannot pull the image",
        "InvalidImageName": "name an invalid image",
        "CrashLoopBackOff": "keep crashing",
        "CreateContainerConfigError": "cannot start (a referenced Secret or ConfigMap is missing?)",
        "OOMKilled": "ran out of memory",
        "Evicted": "were evicted",
    }.get(reason, "are failing")


def _ready_replicas(deployment: Mapping[str, Any] | None) -> int:
    return int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)


# ---------------------------------------------------------------- policies


def tier_view(body: Mapping[str, Any]) -> TierView:
    """A tier as a policy sees it: its Ready condition and its locality, read from the raw object."""
    spec = body.get("spec") or {}
    if "vllm" in spec:
        locality = Locality.LOCAL
    else:
        locality = Locality.LOCAL if (spec.get("endpoint") or {}).get("locality") == "Local" else Locality.REMOTE
    ready = any(
        c.get("type") == ConditionType.READY and c.get("status") == ConditionStatus.TRUE
        for c in (body.get("status") or {}).get("conditions") or []
    )
    return TierView(name=body.get("metadata", {}).get("name", ""), ready=ready, locality=locality)


def invalid_status(generation: int | None, message: str, previous: Mapping[str, Any] | None) -> StatusResult:
    """The status of an object whose spec the operator cannot read (the schema let it through)."""
    old_conditions = parse_conditions(previous)
    ready = _condition(ConditionType.READY, False, "InvalidSpec", message).model_copy(
        update={"observed_generation": generation}
    )
    conditions = merge_conditions([c for c in old_conditions if c.type == ConditionType.READY], [ready])
    status = {"observedGeneration": generation, "conditions": [c.to_wire() for c in conditions]}
    events = (
        [] if _same(find_condition(old_conditions, "Ready"), ready) else [Event(WARNING, "InvalidSpec", ready.message)]
    )
    return StatusResult(status=status, events=events)


def _same(before: Condition | None, after: Condition) -> bool:
    return before is not None and (before.status, before.reason, before.message) == (
        after.status,
        after.reason,
        after.message,
    )


def policy_status(
    policy: RoutingPolicy,
    tiers: Mapping[str, TierView],
    previous: Mapping[str, Any] | None,
    *,
    now: datetime | None = None,
) -> StatusResult:
    """The policy's status given the tiers of its namespace (by name)."""
    spec = policy.spec
    candidates = list(dict.fromkeys([t.name for t in spec.tiers] + [t.name for t in spec.fallback.chain or []]))
    missing = [name for name in candidates if name not in tiers]
    present = [tiers[name] for name in candidates if name in tiers]
    local = [view.name for view in present if view.locality == Locality.LOCAL]

    if missing:
        refs = _condition(ConditionType.RESOLVED_REFS, False, "TierNotFound", f"tiers not found: {', '.join(missing)}")
    else:
        refs = _condition(ConditionType.RESOLVED_REFS, True, "AllTiersFound", f"{len(candidates)} tiers found")
    if not spec.fallback.require_local_last:
        fallback = _condition(ConditionType.LOCAL_FALLBACK, True, "NotRequired", "fallback.requireLocalLast is false")
    elif local:
        fallback = _condition(
            ConditionType.LOCAL_FALLBACK, True, "LocalTierPresent", f"local tiers: {', '.join(local)}"
        )
    else:
        fallback = _condition(
            ConditionType.LOCAL_FALLBACK,
            False,
            "NoLocalTier",
            "fallback.requireLocalLast is true but no candidate tier is Local; requests may fail when remote tiers do",
        )
    ready_names = [view.name for view in present if view.ready]
    if refs.status != ConditionStatus.TRUE:
        ready = _condition(ConditionType.READY, False, refs.reason, refs.message)
    elif fallback.status != ConditionStatus.TRUE:
        ready = _condition(ConditionType.READY, False, fallback.reason, fallback.message)
    elif not ready_names:
        ready = _condition(ConditionType.READY, False, "NoReadyTier", "no candidate tier is Ready")
    else:
        ready = _condition(ConditionType.READY, True, "Ready", f"{len(ready_names)}/{len(candidates)} tiers ready")

    generation = policy.metadata.generation
    stamped = [c.model_copy(update={"observed_generation": generation}) for c in (ready, refs, fallback)]
    old_conditions = parse_conditions(previous)
    conditions = merge_conditions([c for c in old_conditions if c.type in {c.type for c in stamped}], stamped, now=now)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": [c.to_wire() for c in conditions],
        "tiers": [
            {"name": name, "ready": tiers[name].ready, "locality": tiers[name].locality.value}
            if name in tiers
            else {"name": name, "ready": False}
            for name in candidates
        ],
    }
    return StatusResult(status=status, events=transition_events(old_conditions, conditions))


# ---------------------------------------------------------------- shared


def transition_events(old: Sequence[Condition], new: Sequence[Condition]) -> list[Event]:
    """Events for condition changes worth telling: failures as Warnings, recovery as Normal."""
    events: list[Event] = []
    for condition in new:
        before = find_condition(old, condition.type)
        changed = before is None or before.status != condition.status or before.reason != condition.reason
        was_ready = before is not None and before.status == ConditionStatus.TRUE
        if not changed:
            continue
        bad = (condition.type == ConditionType.DEGRADED and condition.status == ConditionStatus.TRUE) or (
            condition.type in (ConditionType.RESOLVED_REFS, ConditionType.LOCAL_FALLBACK, ConditionType.AUTOSCALING)
            and condition.status == ConditionStatus.FALSE
        )
        if bad:
            events.append(Event(WARNING, condition.reason, condition.message))
        elif condition.type == ConditionType.READY and condition.status == ConditionStatus.TRUE and not was_ready:
            events.append(Event(NORMAL, "Ready", condition.message))
        elif condition.type == ConditionType.READY and condition.reason in _SCALING_REASONS:
            events.append(Event(NORMAL, condition.reason, condition.message))
    return events


def parse_conditions(status: Mapping[str, Any] | None) -> list[Condition]:
    """The valid conditions of a live status; malformed entries are dropped (they will be rewritten)."""
    conditions = []
    for raw in (status or {}).get("conditions") or []:
        try:
            conditions.append(Condition.model_validate(raw))
        except ValidationError:
            continue
    return conditions


TIER_STATUS_KEYS: Final = (
    "observedGeneration",
    "conditions",
    "endpoint",
    "locality",
    "replicas",
    "readyReplicas",
    "scaledToZero",
)
POLICY_STATUS_KEYS: Final = ("observedGeneration", "conditions", "tiers")
"""The status keys the operator writes; others (a policy's budget, written by the gateway) are left alone."""


def status_patch(
    desired: Mapping[str, Any], live: Mapping[str, Any] | None, owned: Sequence[str]
) -> dict[str, Any] | None:
    """The merge patch of `.status` that writes `desired`, or None when the live status already matches."""
    live = live or {}
    patch: dict[str, Any] = dict(desired)
    for key in owned:
        if key not in desired and live.get(key) is not None:
            patch[key] = None
    changed = any(_normalise(value) != _normalise(live.get(key)) for key, value in patch.items())
    return patch if changed else None


def _normalise(value: Any) -> Any:
    # Conditions come back from the API with timestamps as strings in either "Z" or "+00:00" form.
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items() if item is not None and item != ""}
    if isinstance(value, str) and value.endswith("+00:00"):
        return value[: -len("+00:00")] + "Z"
    return value


def _resolved_refs(checks: Sequence[SecretCheck], noun: str) -> Condition:
    problems = [check.problem for check in checks if check.problem is not None]
    if problems:
        return _condition(
            ConditionType.RESOLVED_REFS, False, problems[0].reason, "; ".join(p.message for p in problems)
        )
    if not checks:
        return _condition(ConditionType.RESOLVED_REFS, True, "NoReferences", f"the tier references no {noun}")
    return _condition(ConditionType.RESOLVED_REFS, True, "AllRefsResolved", f"every referenced {noun} and key exists")


def _condition(type_: str, status: ConditionStatus | bool, reason: str, message: str) -> Condition:
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    # The transition time is a placeholder: merge_conditions keeps or replaces it.
    return Condition(
        type=type_, status=status, reason=_safe_reason(reason), message=_clip(message), last_transition_time=now_utc()
    )


def _safe_reason(reason: str) -> str:
    """A reason that satisfies the CRD's pattern even when it comes from another controller."""
    if _REASON_RE.match(reason):
        return reason
    cleaned = re.sub(r"[^A-Za-z0-9_,:]", "", reason).lstrip("0123456789_,:").rstrip(",:")
    return cleaned or "Unknown"


_REASON_RE: Final = re.compile(CAMEL_REASON)


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
