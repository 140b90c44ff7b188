"""Status from observations: conditions per the Kubernetes conventions, events on transitions only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api_cases import endpoint_tier, policy, vllm_tier
from tiergate_api.conditions import Condition
from tiergate_api.enums import Locality
from tiergate_api.modeltier import ModelTier
from tiergate_api.routingpolicy import RoutingPolicy
from tiergate_operator.status import (
    POLICY_STATUS_KEYS,
    TIER_STATUS_KEYS,
    Problem,
    SecretCheck,
    TierObservation,
    TierView,
    invalid_status,
    policy_status,
    status_patch,
    tier_status,
    tier_view,
    workload_problem,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 1, 1, 0, 5, tzinfo=UTC)


def tier(document: dict[str, Any], generation: int = 3) -> ModelTier:
    metadata = {**document["metadata"], "namespace": "ns", "uid": "u", "generation": generation}
    document = {**document, "metadata": metadata}
    return ModelTier.model_validate(document)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def ready_deployment(ready: int = 1, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "small-vllm", "generation": generation},
        "status": {
            "observedGeneration": generation,
            "replicas": ready,
            "readyReplicas": ready,
            "updatedReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "ok"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "done"},
            ],
        },
    }


def pod(name: str, *, waiting: str | None = None, unschedulable: bool = False, message: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending", "conditions": []}
    if unschedulable:
        status["conditions"].append(
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        )
    if waiting:
        status["containerStatuses"] = [{"name": "vllm", "state": {"waiting": {"reason": waiting, "message": message}}}]
    return {"metadata": {"name": name}, "status": status}


# ---------------------------------------------------------------- vllm tiers


def test_a_new_vllm_tier_reports_its_endpoint_and_is_not_ready() -> None:
    result = tier_status(tier(vllm_tier()), TierObservation(), None, now=T0)
    status = result.status
    assert status["observedGeneration"] == 3
    assert status["endpoint"] == "http://small-vllm.ns.svc.cluster.local:8000/v1"
    assert status["locality"] == "Local"
    assert (status["replicas"], status["readyReplicas"]) == (1, 0)
    found = conditions(status)
    assert found["Ready"]["status"] == "False"
    assert found["Available"]["reason"] == "DeploymentMissing"
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])
    assert result.events == []


def test_a_ready_deployment_makes_the_tier_ready_and_says_so_once() -> None:
    first = tier_status(tier(vllm_tier()), TierObservation(), None, now=T0)
    ready = tier_status(tier(vllm_tier()), TierObservation(deployment=ready_deployment()), first.status, now=T1)
    found = conditions(ready.status)
    assert found["Ready"]["status"] == "True"
    assert found["Ready"]["lastTransitionTime"] == "2025-01-01T00:05:00Z"
    assert found["Available"] == {**found["Available"], "status": "True", "reason": "MinimumReplicasAvailable"}
    assert found["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert found["Degraded"]["status"] == "False"
    assert ready.status["readyReplicas"] == 1
    assert [(e.type, e.reason) for e in ready.events] == [("Normal", "Ready")]

    again = tier_status(tier(vllm_tier()), TierObservation(deployment=ready_deployment()), ready.status, now=T1)
    assert again.events == []
    assert status_patch(again.status, ready.status, TIER_STATUS_KEYS) is None


def test_transition_time_stays_while_the_status_holds() -> None:
    first = tier_status(tier(vllm_tier()), TierObservation(), None, now=T0)
    later = tier_status(tier(vllm_tier()), TierObservation(), first.status, now=T1)
    assert conditions(later.status)["Ready"]["lastTransitionTime"] == "2025-01-01T00:00:00Z"


def test_an_unobserved_deployment_generation_is_progressing() -> None:
    deployment = ready_deployment(generation=2)
    deployment["metadata"]["generation"] = 3
    found = conditions(tier_status(tier(vllm_tier()), TierObservation(deployment=deployment), None).status)
    assert found["Progressing"]["reason"] == "RolloutPending"
    assert found["Ready"]["status"] == "True"  # the old pods still serve


@pytest.mark.parametrize(
    ("pods", "reason"),
    [
        ([pod("a", waiting="ImagePullBackOff", message="Back-off pulling image")], "ImagePullBackOff"),
        ([pod("a", waiting="ErrImagePull")], "ImagePullBackOff"),
        ([pod("a", waiting="CrashLoopBackOff")], "CrashLoopBackOff"),
        ([pod("a", waiting="CreateContainerConfigError", message="no secret")], "CreateContainerConfigError"),
        ([pod("a", unschedulable=True, message="0/3 nodes: 3 Insufficient nvidia.com/gpu.")], "Unschedulable"),
        ([pod("a", unschedulable=True), pod("b", waiting="CrashLoopBackOff")], "CrashLoopBackOff"),
        ([pod("a", waiting="CrashLoopBackOff"), pod("b", waiting="ImagePullBackOff")], "ImagePullBackOff"),
    ],
)
def test_pod_trouble_is_degraded_with_the_most_actionable_reason(pods: list[dict[str, Any]], reason: str) -> None:
    deployment = ready_deployment(ready=0)
    result = tier_status(tier(vllm_tier()), TierObservation(deployment=deployment, pods=pods), None)
    found = conditions(result.status)
    assert found["Degraded"]["status"] == "True"
    assert found["Degraded"]["reason"] == reason
    assert found["Ready"] == {**found["Ready"], "status": "False", "reason": reason}
    assert ("Warning", reason) in [(e.type, e.reason) for e in result.events]


def test_unschedulable_message_names_the_scheduler_reason() -> None:
    problem = workload_problem(None, [pod("p", unschedulable=True, message="0/3 nodes: Insufficient nvidia.com/gpu")])
    assert problem is not None and "Insufficient nvidia.com/gpu" in problem.message


def test_terminating_pods_do_not_count() -> None:
    leaving = pod("old", waiting="CrashLoopBackOff")
    leaving["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert workload_problem(None, [leaving]) is None


def test_progress_deadline_exceeded_is_degraded() -> None:
    deployment = ready_deployment(ready=0)
    deployment["status"]["conditions"][1] = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet has timed out progressing.",
    }
    found = conditions(tier_status(tier(vllm_tier()), TierObservation(deployment=deployment), None).status)
    assert found["Degraded"]["reason"] == "ProgressDeadlineExceeded"
    assert found["Progressing"]["status"] == "False"


def test_a_reconcile_problem_overrides_readiness() -> None:
    observation = TierObservation(
        deployment=ready_deployment(), problems=[Problem("ChildConflict", "Deployment small-vllm is not ours")]
    )
    found = conditions(tier_status(tier(vllm_tier()), observation, None).status)
    assert found["Ready"]["reason"] == "ChildConflict" and found["Ready"]["status"] == "False"
    assert found["Degraded"]["reason"] == "ChildConflict"


def test_scaled_to_zero_is_not_ready() -> None:
    document = vllm_tier()
    document["spec"]["vllm"]["replicas"] = 0
    found = conditions(tier_status(tier(document), TierObservation(deployment=ready_deployment(0)), None).status)
    assert found["Ready"]["reason"] == "ScaledToZero"


def test_a_missing_hf_token_secret_is_reported_for_vllm_tiers() -> None:
    check = SecretCheck("spec.vllm.hfTokenSecretRef", "hf", "token", secret_exists=False, key_exists=False)
    found = conditions(tier_status(tier(vllm_tier()), TierObservation(secrets=[check]), None).status)
    assert found["ResolvedRefs"]["reason"] == "SecretNotFound"
    assert found["Ready"]["reason"] == "SecretNotFound"


# ---------------------------------------------------------------- endpoint tiers


def test_an_endpoint_tier_with_its_secret_is_ready_and_remote() -> None:
    check = SecretCheck("spec.endpoint.apiKeySecretRef", "k", "api-key", secret_exists=True, key_exists=True)
    status = tier_status(tier(endpoint_tier()), TierObservation(secrets=[check]), None).status
    assert status["endpoint"] == "https://api.example.com/v1"
    assert status["locality"] == "Remote"
    assert "replicas" not in status
    found = conditions(status)
    assert set(found) == {"Ready", "ResolvedRefs"}
    assert found["Ready"]["status"] == "True" and found["ResolvedRefs"]["reason"] == "AllRefsResolved"


@pytest.mark.parametrize(
    ("exists", "has_key", "reason"), [(False, False, "SecretNotFound"), (True, False, "SecretKeyNotFound")]
)
def test_a_missing_secret_or_key_is_resolved_refs_false(exists: bool, has_key: bool, reason: str) -> None:
    check = SecretCheck("spec.endpoint.apiKeySecretRef", "k", "api-key", secret_exists=exists, key_exists=has_key)
    result = tier_status(tier(endpoint_tier()), TierObservation(secrets=[check]), None)
    found = conditions(result.status)
    assert found["ResolvedRefs"]["status"] == "False" and found["ResolvedRefs"]["reason"] == reason
    assert found["Ready"]["status"] == "False"
    assert "'k'" in found["ResolvedRefs"]["message"]
    assert [(e.type, e.reason) for e in result.events] == [("Warning", reason)]


def test_switching_a_tier_to_an_endpoint_removes_workload_fields_and_conditions() -> None:
    before = tier_status(tier(vllm_tier()), TierObservation(deployment=ready_deployment()), None).status
    check = SecretCheck("spec.endpoint.apiKeySecretRef", "k", "api-key", secret_exists=True, key_exists=True)
    after = tier_status(tier(endpoint_tier()), TierObservation(secrets=[check]), before).status
    patch = status_patch(after, before, TIER_STATUS_KEYS)
    assert patch is not None
    assert patch["replicas"] is None and patch["readyReplicas"] is None
    assert {c["type"] for c in patch["conditions"]} == {"Ready", "ResolvedRefs"}


def test_an_unreadable_spec_is_reported_not_crashed_on() -> None:
    result = invalid_status(4, "spec.size: bad", None)
    [ready] = result.status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert [e.reason for e in result.events] == ["InvalidSpec"]
    assert invalid_status(4, "spec.size: bad", result.status).events == []


def test_foreign_reasons_are_made_valid() -> None:
    deployment = ready_deployment()
    deployment["status"]["conditions"][0]["reason"] = "Minimum replicas-available!"
    found = conditions(tier_status(tier(vllm_tier()), TierObservation(deployment=deployment), None).status)
    Condition.model_validate(found["Available"])
    assert found["Available"]["reason"] == "Minimumreplicasavailable"


# ---------------------------------------------------------------- policies


def views(*entries: tuple[str, bool, Locality]) -> dict[str, TierView]:
    return {name: TierView(name, ready, locality) for name, ready, locality in entries}


def routing_policy(**spec: Any) -> RoutingPolicy:
    document = policy()
    document["metadata"].update(namespace="ns", generation=2)
    document["spec"].update(spec)
    return RoutingPolicy.model_validate(document)


def test_a_policy_with_every_tier_and_a_local_one_is_ready() -> None:
    tiers = views(("small", True, Locality.LOCAL), ("remote", False, Locality.REMOTE))
    result = policy_status(routing_policy(), tiers, None)
    found = conditions(result.status)
    assert found["Ready"]["status"] == "True"
    assert found["ResolvedRefs"]["status"] == "True"
    assert found["LocalFallback"]["reason"] == "LocalTierPresent"
    assert result.status["tiers"] == [
        {"name": "small", "ready": True, "locality": "Local"},
        {"name": "remote", "ready": False, "locality": "Remote"},
    ]
    assert result.status["observedGeneration"] == 2


def test_an_unknown_tier_is_resolved_refs_false_and_listed_as_not_ready() -> None:
    chain = {"chain": [{"name": "ghost"}, {"name": "small"}], "maxAttempts": 3}
    result = policy_status(routing_policy(fallback=chain), views(("small", True, Locality.LOCAL)), None)
    found = conditions(result.status)
    assert found["ResolvedRefs"] == {**found["ResolvedRefs"], "status": "False", "reason": "TierNotFound"}
    assert "remote" in found["ResolvedRefs"]["message"] and "ghost" in found["ResolvedRefs"]["message"]
    assert found["Ready"]["reason"] == "TierNotFound"
    assert {"name": "ghost", "ready": False} in result.status["tiers"]
    assert ("Warning", "TierNotFound") in [(e.type, e.reason) for e in result.events]


def test_no_local_tier_is_local_fallback_false_with_a_warning() -> None:
    tiers = views(("small", True, Locality.REMOTE), ("remote", True, Locality.REMOTE))
    result = policy_status(routing_policy(), tiers, None)
    found = conditions(result.status)
    assert found["LocalFallback"]["status"] == "False" and found["LocalFallback"]["reason"] == "NoLocalTier"
    assert found["Ready"]["reason"] == "NoLocalTier"
    assert ("Warning", "NoLocalTier") in [(e.type, e.reason) for e in result.events]
    assert policy_status(routing_policy(), tiers, result.status).events == []


def test_local_fallback_is_not_required_when_the_policy_says_so() -> None:
    chain = {"chain": [{"name": "remote"}], "requireLocalLast": False}
    tiers = views(("small", True, Locality.REMOTE), ("remote", True, Locality.REMOTE))
    found = conditions(policy_status(routing_policy(fallback=chain), tiers, None).status)
    assert found["LocalFallback"]["reason"] == "NotRequired"
    assert found["Ready"]["status"] == "True"


def test_policy_status_patch_leaves_the_gateways_budget_alone() -> None:
    tiers = views(("small", True, Locality.LOCAL), ("remote", True, Locality.REMOTE))
    status = policy_status(routing_policy(), tiers, None).status
    live = {**status, "budget": {"day": "2025-01-01", "spent": "1"}}
    assert status_patch(status, live, POLICY_STATUS_KEYS) is None


def test_tier_view_reads_readiness_and_locality_from_the_raw_object() -> None:
    body = {**vllm_tier(), "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert tier_view(body) == TierView("small", True, Locality.LOCAL)
    assert tier_view(endpoint_tier()) == TierView("remote", False, Locality.REMOTE)


def test_pool_tier_reports_its_replica_count_and_no_single_endpoint() -> None:
    document = endpoint_tier()
    document["spec"]["endpoint"] = {"urls": ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], "locality": "Local"}
    status = tier_status(tier(document), TierObservation(), None, now=T0).status
    assert "endpoint" not in status and status["replicas"] == 2
    assert conditions(status)["Ready"]["message"] == "requests go to 2 replicas"
