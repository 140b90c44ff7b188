"""Autoscaled tiers, the pure part: the ScaledObject rendered, who owns the replica count, and the status.

The integration tests (test_operator_autoscaling.py) run the same behaviour against a cluster.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest

from harness.schema import unknown_fields, validate
from operator_cluster import KEDA_CRD
from tiergate_api.modeltier import ModelTier
from tiergate_operator.diff import differences, merge_patch
from tiergate_operator.reconcile import _needs_pod_check
from tiergate_operator.render import ANNOTATION_SPEC_HASH, REPLICAS, render, spec_hash
from tiergate_operator.scaling import NEVER_SCALES_OUT, Scaling
from tiergate_operator.settings import OperatorConfig
from tiergate_operator.status import TIER_STATUS_KEYS, TierObservation, status_patch, tier_status

PROMETHEUS = "http://prometheus.monitoring.svc:9090"
GATEWAY = "http://tiergate-gateway.tiergate.svc:8080"
BOTH = OperatorConfig(prometheus_address=PROMETHEUS, gateway_demand_url=GATEWAY)
T0 = datetime(2025, 1, 1, tzinfo=UTC)
K8S_VERSION = "1.34.0"


def tier(name: str = "small", *, replicas: int = 1, **autoscaling: Any) -> ModelTier:
    vllm: dict[str, Any] = {"gpu": {"count": 1}, "replicas": replicas}
    if autoscaling:
        vllm["autoscaling"] = autoscaling
    return ModelTier.model_validate(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": name, "namespace": "models", "uid": "uid-1", "generation": 2},
            "spec": {"model": "Qwen/Qwen2.5-1.5B-Instruct", "size": "1.5B", "vllm": vllm},
        }
    )


def keda_schema() -> dict[str, Any]:
    import yaml

    crd = yaml.safe_load(KEDA_CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def deployment(replicas: int, ready: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "small-vllm", "generation": 3},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 3,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        },
    }


def scaled_object(ready: str | None, reason: str = "ScaledObjectReady", message: str = "") -> dict[str, Any]:
    found = render(tier(maxReplicas=3), BOTH, keda_installed=True).scaled_object
    assert found is not None
    live = copy.deepcopy(found)
    if ready is not None:
        live["status"] = {"conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}]}
    return live


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


# ---------------------------------------------------------------- rendering


def test_a_keda_scaled_tier_gets_a_scaled_object_named_labelled_and_owned_like_its_deployment() -> None:
    children = render(tier(minReplicas=0, maxReplicas=4, idleSecondsBeforeZero=900), BOTH, keda_installed=True)
    assert children.scaling is Scaling.KEDA
    so, deployment = children.scaled_object, children.deployment
    assert so is not None and deployment is not None
    assert (so["apiVersion"], so["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    assert so["metadata"]["name"] == deployment["metadata"]["name"] == "small-vllm"
    assert so["metadata"]["namespace"] == "models"
    assert so["metadata"]["labels"] == deployment["metadata"]["labels"]
    assert so["metadata"]["ownerReferences"] == deployment["metadata"]["ownerReferences"]
    assert so["metadata"]["annotations"][ANNOTATION_SPEC_HASH] == spec_hash(so)
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "small-vllm"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["pollingInterval"]) == (0, 4, 15)
    assert spec["cooldownPeriod"] == spec["initialCooldownPeriod"] == 900
    assert spec["advanced"] == {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
        "stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}}
    assert children.present()[-1] is so  # created after the Deployment it scales


def test_the_triggers_read_the_queue_the_kv_cache_and_the_demand_of_every_gateway() -> None:
    children = render(tier(maxReplicas=3, targetWaitingRequests=6, targetKvCachePercent=75, idleSecondsBeforeZero=300),
                      BOTH, keda_installed=True)
    assert children.scaled_object is not None
    triggers = {t["name"]: t for t in children.scaled_object["spec"]["triggers"]}
    assert list(triggers) == ["queue", "kv-cache", "demand", "gateway-demand"]
    pods = 'namespace="models",pod=~"small-vllm-[a-z0-9]+-[a-z0-9]+"'
    assert triggers["queue"] == {"type": "prometheus", "name": "queue", "metricType": "AverageValue", "metadata": {
        "serverAddress": PROMETHEUS, "query": f"sum(vllm:num_requests_waiting{{{pods}}})", "threshold": "6"}}
    assert triggers["kv-cache"]["metadata"]["query"] == f"sum(vllm:kv_cache_usage_perc{{{pods}}}) * 100"
    assert triggers["kv-cache"]["metadata"]["threshold"] == "75"
    assert triggers["demand"]["metadata"] == {  # over the demand window (a minute), not the idle time
        "serverAddress": PROMETHEUS,
        "query": 'sum(increase(tiergate_tier_demand_total{tier_namespace="models",tier="small"}[60s]))',
        "threshold": NEVER_SCALES_OUT,
        "activationThreshold": "0",
    }
    assert triggers["gateway-demand"] == {"type": "metrics-api", "name": "gateway-demand", "metricType": "AverageValue",
                                          "metadata": {"url": f"{GATEWAY}/scaling/demand/models/small",
                                                       "valueLocation": "demand", "targetValue": NEVER_SCALES_OUT,
                                                       "activationTargetValue": "0"}}


def test_the_queue_query_counts_this_tiers_pods_only() -> None:
    # Pods are <deployment>-<template hash>-<suffix>; tier "a-vllm-x" must not count as tier "a".
    children = render(tier("a", maxReplicas=2), BOTH, keda_installed=True)
    assert children.scaled_object is not None
    query = children.scaled_object["spec"]["triggers"][0]["metadata"]["query"]
    pattern = re.search(r'pod=~"([^"]+)"', query).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(pattern, "a-vllm-7d9f8b6c5d-x2x4q")
    assert not re.fullmatch(pattern, "a-vllm-x-vllm-7d9f8b6c5d-x2x4q")


@pytest.mark.parametrize(("config", "names"), [
    (OperatorConfig(prometheus_address=PROMETHEUS), ["queue", "kv-cache", "demand"]),
    (OperatorConfig(gateway_demand_url=GATEWAY), ["gateway-demand"]),
], ids=["prometheus-only", "gateway-only"])
def test_triggers_whose_source_is_not_configured_are_left_out(config: OperatorConfig, names: list[str]) -> None:
    children = render(tier(maxReplicas=2), config, keda_installed=True)
    assert children.scaled_object is not None
    assert [t["name"] for t in children.scaled_object["spec"]["triggers"]] == names


def test_the_kv_cache_trigger_is_on_by_default_at_55_percent_and_0_turns_it_off() -> None:
    default = render(tier(maxReplicas=2), BOTH, keda_installed=True)
    assert default.scaled_object is not None
    kv = [t for t in default.scaled_object["spec"]["triggers"] if t["name"] == "kv-cache"]
    assert [t["metadata"]["threshold"] for t in kv] == ["55"]
    queue_only = render(tier(maxReplicas=2, targetKvCachePercent=0), BOTH, keda_installed=True)
    assert queue_only.scaled_object is not None
    assert "kv-cache" not in [t["name"] for t in queue_only.scaled_object["spec"]["triggers"]]


@pytest.mark.parametrize(("config", "keda", "scaling"), [
    (BOTH, False, Scaling.KEDA_NOT_INSTALLED),
    (OperatorConfig(), True, Scaling.NO_TRIGGERS),
], ids=["keda-missing", "no-sources"])
@pytest.mark.parametrize(("minimum", "floor"), [(0, 1), (3, 3)])
def test_without_a_usable_scaler_the_operator_runs_max_of_min_and_one(
    config: OperatorConfig, keda: bool, scaling: Scaling, minimum: int, floor: int
) -> None:
    children = render(tier(minReplicas=minimum, maxReplicas=5, replicas=7), config, keda_installed=keda)
    assert children.scaling is scaling and children.scaled_object is None
    assert children.deployment is not None and children.deployment["spec"]["replicas"] == floor
    assert children.unowned("Deployment") == ()  # the operator keeps it there


def test_keda_owns_the_replicas_after_creation_and_the_digest_ignores_them() -> None:
    zero = render(tier(minReplicas=0, maxReplicas=3), BOTH, keda_installed=True)
    two = render(tier(minReplicas=2, maxReplicas=3), BOTH, keda_installed=True)
    assert zero.deployment is not None and two.deployment is not None
    assert (zero.deployment["spec"]["replicas"], two.deployment["spec"]["replicas"]) == (1, 2)  # on creation
    assert zero.unowned("Deployment") == (REPLICAS,) and zero.unowned("Service") == ()
    digest = ANNOTATION_SPEC_HASH
    assert zero.deployment["metadata"]["annotations"][digest] == two.deployment["metadata"]["annotations"][digest]
    without = render(tier(minReplicas=0, maxReplicas=3), BOTH, keda_installed=False)
    assert without.deployment is not None  # who scales changed: that is a spec change of the Deployment
    assert without.deployment["metadata"]["annotations"][digest] != zero.deployment["metadata"]["annotations"][digest]


def test_a_tier_that_was_never_autoscaled_keeps_its_digest() -> None:
    fixed = render(tier(replicas=2), BOTH, keda_installed=True)
    assert fixed.scaling is Scaling.FIXED and fixed.scaled_object is None
    assert fixed.deployment is not None
    assert fixed.deployment["metadata"]["annotations"][ANNOTATION_SPEC_HASH] == spec_hash(fixed.deployment)


def test_rendered_objects_are_valid_kubernetes_and_valid_keda() -> None:
    children = render(tier(maxReplicas=3, targetKvCachePercent=90), BOTH, keda_installed=True)
    assert children.deployment is not None and children.scaled_object is not None
    kubernetes_validate.validate(children.deployment, K8S_VERSION, strict=True)
    schema = keda_schema()
    assert validate(children.scaled_object, schema) == []
    assert unknown_fields(children.scaled_object, schema, root=True) == []  # nothing KEDA would prune


# ---------------------------------------------------------------- comparing


def test_replicas_changed_by_keda_are_no_difference_and_never_patched() -> None:
    children = render(tier(maxReplicas=3), BOTH, keda_installed=True)
    desired = children.deployment
    assert desired is not None
    live = copy.deepcopy(desired)
    live["spec"]["replicas"] = 0
    live["metadata"]["resourceVersion"] = "7"
    unowned = children.unowned("Deployment")
    assert differences(desired, live, unowned=unowned) == []
    assert differences(desired, live) == ["spec.replicas"]  # what a tier without a scaler would restore
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1"
    patch = merge_patch(desired, live, unowned=unowned)
    assert "replicas" not in patch["spec"]
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] != "someone/else:1"


def test_pods_are_listed_against_what_the_scaler_wants_now() -> None:
    assert _needs_pod_check(deployment(replicas=2, ready=0), 2)
    assert not _needs_pod_check(deployment(replicas=0, ready=0), 0)  # scaled to zero: no pod to explain


# ---------------------------------------------------------------- status


def observe(scaling: Scaling, live: dict[str, Any] | None, so: dict[str, Any] | None = None) -> TierObservation:
    return TierObservation(deployment=live, scaling=scaling, scaled_object=so)


def test_status_reports_what_keda_chose_and_whether_the_tier_is_at_zero() -> None:
    autoscaled = tier(minReplicas=0, maxReplicas=3)
    at_zero = tier_status(autoscaled, observe(Scaling.KEDA, deployment(0), scaled_object("True")), None, now=T0)
    assert (at_zero.status["replicas"], at_zero.status["readyReplicas"], at_zero.status["scaledToZero"]) == (0, 0, True)
    ready = conditions(at_zero.status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ScaledToZero")
    assert ready["message"] == "scaled to zero for want of demand; requests fall back until the tier starts again"
    assert [(e.type, e.reason) for e in at_zero.events if e.reason == "ScaledToZero"] == [("Normal", "ScaledToZero")]

    waking = tier_status(autoscaled, observe(Scaling.KEDA, deployment(2)), at_zero.status, now=T0)
    assert (waking.status["replicas"], waking.status["scaledToZero"]) == (2, False)
    starting = conditions(waking.status)["Ready"]
    assert (starting["status"], starting["reason"]) == ("False", "Starting")
    assert starting["message"] == "0/2 replicas ready; starting, requests fall back until a replica is ready"

    serving = tier_status(autoscaled, observe(Scaling.KEDA, deployment(2, ready=1)), waking.status, now=T0)
    assert conditions(serving.status)["Ready"]["status"] == "True"


def test_a_tier_that_is_not_autoscaled_has_no_autoscaling_condition_and_no_zero_flag() -> None:
    fixed = tier_status(tier(replicas=0), observe(Scaling.FIXED, deployment(0)), None, now=T0)
    assert "scaledToZero" not in fixed.status and fixed.status["replicas"] == 0
    assert "Autoscaling" not in conditions(fixed.status)
    assert conditions(fixed.status)["Ready"]["message"].startswith("spec.vllm.replicas is 0")
    unready = tier_status(tier(replicas=2), observe(Scaling.FIXED, deployment(2)), None, now=T0)
    assert conditions(unready.status)["Ready"]["reason"] == "ReplicasNotReady"  # not Starting: nothing scaled it


def test_turning_autoscaling_off_removes_the_zero_flag_from_the_live_status() -> None:
    previous = {"replicas": 0, "scaledToZero": True}
    now = tier_status(tier(replicas=1), observe(Scaling.FIXED, deployment(1, ready=1)), previous, now=T0)
    patch = status_patch(now.status, previous, TIER_STATUS_KEYS)
    assert patch is not None and patch["scaledToZero"] is None and patch["replicas"] == 1


@pytest.mark.parametrize(("scaling", "so", "expected"), [
    (Scaling.KEDA_NOT_INSTALLED, None, ("False", "KEDANotInstalled")),
    (Scaling.NO_TRIGGERS, None, ("False", "NoTriggers")),
    (Scaling.KEDA, None, ("Unknown", "Pending")),
    (Scaling.KEDA, "no-status", ("Unknown", "Pending")),
    (Scaling.KEDA, "ready", ("True", "KEDAScaling")),
    (Scaling.KEDA, "failed", ("False", "ScaledObjectCheckFailed")),
])
def test_the_autoscaling_condition_says_who_scales_and_why_not(
    scaling: Scaling, so: str | None, expected: tuple[str, str]
) -> None:
    live = {
        None: None,
        "no-status": scaled_object(None),
        "ready": scaled_object("True"),
        "failed": scaled_object("False", "ScaledObjectCheckFailed", "Target resource doesn't exist"),
    }[so]
    result = tier_status(tier(minReplicas=0, maxReplicas=3), observe(scaling, deployment(1, ready=1), live), None,
                         now=T0)
    condition = conditions(result.status)["Autoscaling"]
    assert (condition["status"], condition["reason"]) == expected
    warnings = [e.reason for e in result.events if e.type == "Warning"]
    assert (expected[1] in warnings) == (expected[0] == "False")  # a Warning event when it cannot autoscale
    if so == "ready":
        assert condition["message"].startswith("KEDA scales the tier between 0 and 3 replicas on queue, kv-cache, "
                                               "demand, gateway-demand; it wants 1 now")
    if so == "failed":
        assert "Target resource doesn't exist" in condition["message"]
    if scaling is Scaling.KEDA_NOT_INSTALLED:
        assert "max(minReplicas, 1) = 1 replicas" in condition["message"]
