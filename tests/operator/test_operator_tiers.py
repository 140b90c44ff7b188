"""The operator on a cluster: ModelTiers become owned vLLM Deployments and Services, kept and reported.

Every test runs against the API emulator, and with `-m e2e` against a real cluster.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import kopf
import pytest

from operator_cluster import Cluster
from operator_manifests import endpoint_tier, secret, vllm_tier
from tiergate_operator.render import ANNOTATION_SPEC_HASH

pytestmark = pytest.mark.usefixtures("operator")

TIER = "small"
WORKLOAD = "small-vllm"


async def get_existing(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    async def exists() -> dict[str, Any] | None:
        return await cluster.get(kind, name)

    exists.__name__ = f"{kind}/{name} exists"
    return await cluster.wait_for(exists)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


async def test_a_new_tier_gets_a_deployment_service_and_cache_claim_it_owns(cluster: Cluster) -> None:
    tier = await cluster.create(vllm_tier(cluster, modelCache={"size": "1Gi"}))
    uid = tier["metadata"]["uid"]

    deployment = await get_existing(cluster, "Deployment", WORKLOAD)
    service = await get_existing(cluster, "Service", WORKLOAD)
    claim = await get_existing(cluster, "PersistentVolumeClaim", "small-vllm-cache")
    for child in (deployment, service, claim):
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("ModelTier", TIER, uid, True)
        assert child["metadata"]["labels"]["tiergate.io/tier"] == TIER
    model = "Qwen/Qwen2.5-0.5B-Instruct"
    assert container(deployment)["args"][:4] == ["--model", model, "--served-model-name", model]
    assert service["spec"]["ports"][0]["port"] == 8000

    await cluster.wait_condition("ModelTier", TIER, "ResolvedRefs", "True")
    status = (await cluster.get("ModelTier", TIER))["status"]  # type: ignore[index]
    assert status["endpoint"] == f"http://small-vllm.{cluster.namespace}.svc.cluster.local:8000/v1"
    assert status["locality"] == "Local"
    assert status["replicas"] == 1
    created = await cluster.wait_event(TIER, "Created")
    assert created["type"] == "Normal"


async def test_spec_changes_update_children_in_place_and_an_unchanged_tier_sends_no_write(cluster: Cluster) -> None:
    await cluster.create(vllm_tier(cluster))
    first = await get_existing(cluster, "Deployment", WORKLOAD)

    change = {
        "replicas": 2,
        "image": "registry.example/vllm-openai:v0.21.1",
        "extraArgs": ["--enable-prefix-caching"],
        "gpu": {"count": 1},
        "nodePool": {"nodeSelector": {"tiergate.io/pool": "gpu-small"}},
    }
    tier = await cluster.patch("ModelTier", TIER, {"spec": {"vllm": change}})

    async def updated() -> dict[str, Any] | None:
        found = await cluster.get("Deployment", WORKLOAD)
        ok = (
            found is not None
            and found["spec"]["replicas"] == 2
            and container(found)["image"] == change["image"]
            and container(found)["args"][-1] == "--enable-prefix-caching"
            and container(found)["resources"].get("limits", {}).get("nvidia.com/gpu") == "1"
            and found["spec"]["template"]["spec"].get("nodeSelector") == {"tiergate.io/pool": "gpu-small"}
        )
        return found if ok else None

    second = await cluster.wait_for(updated)
    assert second["metadata"]["uid"] == first["metadata"]["uid"]  # patched in place, not replaced
    await cluster.wait_event(TIER, "Updated")

    async def observed() -> bool:
        found = await cluster.get("ModelTier", TIER)
        return (found or {}).get("status", {}).get("observedGeneration") == tier["metadata"]["generation"]

    await cluster.wait_for(observed)
    await asyncio.sleep(0.3)  # let the last watch events of our own writes settle
    cluster.clear_requests()
    service_version = (await cluster.get("Service", WORKLOAD))["metadata"]["resourceVersion"]  # type: ignore[index]
    await asyncio.sleep(2.5 if cluster.emulated else 10)  # several resyncs of an unchanged tier

    writes = cluster.writes(("deployments", "services", "persistentvolumeclaims", "modeltiers"))
    if writes is not None:
        assert writes == [], [f"{w.method} {w.path}" for w in writes]
    third = await cluster.get("Deployment", WORKLOAD)
    assert third is not None and third["metadata"]["generation"] == second["metadata"]["generation"]
    assert (await cluster.get("Service", WORKLOAD))["metadata"]["resourceVersion"] == service_version  # type: ignore[index]


async def test_a_child_edited_or_deleted_by_someone_is_restored(cluster: Cluster) -> None:
    await cluster.create(vllm_tier(cluster))
    await get_existing(cluster, "Deployment", WORKLOAD)
    service = await get_existing(cluster, "Service", WORKLOAD)

    await cluster.patch("Deployment", WORKLOAD, {"spec": {"replicas": 5}})

    async def scaled_back() -> bool:
        found = await cluster.get("Deployment", WORKLOAD)
        return found is not None and found["spec"]["replicas"] == 1

    await cluster.wait_for(scaled_back)
    restored = await cluster.wait_event(TIER, "Restored")
    assert restored["type"] == "Warning" and "spec.replicas" in restored["message"]

    await cluster.delete("Service", WORKLOAD)

    async def recreated() -> dict[str, Any] | None:
        found = await cluster.get("Service", WORKLOAD)
        return found if found is not None and found["metadata"]["uid"] != service["metadata"]["uid"] else None

    again = await cluster.wait_for(recreated)
    spec_hash = service["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
    assert again["metadata"]["annotations"][ANNOTATION_SPEC_HASH] == spec_hash


async def test_tier_status_follows_the_deployment(cluster: Cluster) -> None:
    if not cluster.emulated and not cluster.workload_image:
        pytest.skip("set TIERGATE_E2E_VLLM_IMAGE to an image that serves /health to run this on a real cluster")
    await cluster.create(vllm_tier(cluster))
    await get_existing(cluster, "Deployment", WORKLOAD)
    if cluster.emulated:  # on a real cluster a fast image may be ready before the first look
        await cluster.wait_condition("ModelTier", TIER, "Ready", "False", "ReplicasNotReady")

    await cluster.simulate_rollout(TIER, ready=1)

    ready = await cluster.wait_condition("ModelTier", TIER, "Ready", "True")
    assert ready["message"].startswith("1/1 replicas ready")
    await cluster.wait_condition("ModelTier", TIER, "Available", "True", "MinimumReplicasAvailable")
    status = (await cluster.get("ModelTier", TIER))["status"]  # type: ignore[index]
    assert status["readyReplicas"] == 1
    await cluster.wait_event(TIER, "Ready")


async def test_an_image_that_cannot_be_pulled_is_degraded_not_a_crash(cluster: Cluster) -> None:
    await cluster.create(vllm_tier(cluster, image="registry.invalid/tiergate/no-such-image:0"))
    await get_existing(cluster, "Deployment", WORKLOAD)

    await cluster.simulate_pod(TIER, waiting="ImagePullBackOff")

    degraded = await cluster.wait_condition("ModelTier", TIER, "Degraded", "True", "ImagePullBackOff")
    assert "cannot pull the image" in degraded["message"]
    ready = await cluster.condition("ModelTier", TIER, "Ready")
    assert ready is not None and ready["status"] == "False"
    warning = await cluster.wait_event(TIER, "ImagePullBackOff")
    assert warning["type"] == "Warning"


async def test_a_node_pool_without_nodes_is_unschedulable(cluster: Cluster) -> None:
    pool = {"nodeSelector": {"tiergate.io/pool": "no-such-pool"}}
    await cluster.create(vllm_tier(cluster, nodePool=pool))
    await get_existing(cluster, "Deployment", WORKLOAD)

    reason = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    await cluster.simulate_pod(TIER, unschedulable=reason)

    degraded = await cluster.wait_condition("ModelTier", TIER, "Degraded", "True", "Unschedulable")
    assert "node" in degraded["message"]
    await cluster.wait_event(TIER, "Unschedulable")


async def test_deleting_a_tier_deletes_its_children(cluster: Cluster) -> None:
    await cluster.create(vllm_tier(cluster))
    await get_existing(cluster, "Deployment", WORKLOAD)
    await get_existing(cluster, "Service", WORKLOAD)

    await cluster.delete("ModelTier", TIER)

    await cluster.wait_gone("ModelTier", TIER)  # the operator let go of its finalizer
    await cluster.wait_gone("Deployment", WORKLOAD)
    await cluster.wait_gone("Service", WORKLOAD)


async def test_an_endpoint_tier_waits_for_its_secret_then_becomes_ready(cluster: Cluster) -> None:
    await cluster.create(endpoint_tier("remote", secret="openai"))

    refs = await cluster.wait_condition("ModelTier", "remote", "ResolvedRefs", "False", "SecretNotFound")
    assert "openai" in refs["message"]
    await cluster.wait_condition("ModelTier", "remote", "Ready", "False", "SecretNotFound")
    warning = await cluster.wait_event("remote", "SecretNotFound")
    assert warning["type"] == "Warning"
    assert await cluster.get("Deployment", "remote-vllm") is None

    key = base64.b64encode(b"sk-test-not-a-real-key").decode()
    await cluster.create(secret("openai", {"api-key": key}))

    await cluster.wait_condition("ModelTier", "remote", "ResolvedRefs", "True", "AllRefsResolved")
    await cluster.wait_condition("ModelTier", "remote", "Ready", "True")
    tier = await cluster.get("ModelTier", "remote")
    assert tier is not None
    assert tier["status"]["endpoint"] == "https://api.example.com/v1" and tier["status"]["locality"] == "Remote"
    for event in await cluster.events_about("remote"):
        assert "sk-test" not in event.get("message", "")


async def test_a_secret_without_the_key_is_reported_as_such(cluster: Cluster) -> None:
    other = base64.b64encode(b"x").decode()
    await cluster.create(secret("openai", {"other": other}))
    await cluster.create(endpoint_tier("remote", secret="openai"))
    refs = await cluster.wait_condition("ModelTier", "remote", "ResolvedRefs", "False", "SecretKeyNotFound")
    assert "api-key" in refs["message"]


async def test_turning_a_vllm_tier_into_an_endpoint_removes_its_workload(cluster: Cluster) -> None:
    await cluster.create(vllm_tier(cluster))
    await get_existing(cluster, "Deployment", WORKLOAD)
    await get_existing(cluster, "Service", WORKLOAD)

    endpoint = {"url": "http://existing-server.default.svc:8000/v1", "locality": "Local"}
    await cluster.patch("ModelTier", TIER, {"spec": {"vllm": None, "endpoint": endpoint}})

    await cluster.wait_gone("Deployment", WORKLOAD)
    await cluster.wait_gone("Service", WORKLOAD)

    async def endpoint_status() -> dict[str, Any] | None:
        status = ((await cluster.get("ModelTier", TIER)) or {}).get("status") or {}
        return status if status.get("endpoint") == endpoint["url"] else None

    status = await cluster.wait_for(endpoint_status)
    assert "replicas" not in status and status["locality"] == "Local"
    assert {c["type"] for c in status["conditions"]} == {"Ready", "ResolvedRefs"}
    await cluster.wait_event(TIER, "Deleted")


async def test_a_child_name_taken_by_someone_else_is_a_conflict_not_a_takeover(cluster: Cluster) -> None:
    squatter = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": WORKLOAD, "labels": {"owner": "someone"}},
        "spec": {"selector": {"app": "other"}, "ports": [{"port": 80}]},
    }
    await cluster.create(squatter)
    await cluster.create(vllm_tier(cluster))

    degraded = await cluster.wait_condition("ModelTier", TIER, "Degraded", "True", "ChildConflict")
    assert WORKLOAD in degraded["message"]
    service = await cluster.get("Service", WORKLOAD)
    assert service is not None
    assert not service["metadata"].get("ownerReferences") and service["spec"]["selector"] == {"app": "other"}
    await get_existing(cluster, "Deployment", WORKLOAD)  # the rest of the tier is still served


async def test_the_liveness_probe_counts_tiers(cluster: Cluster, operator: kopf.Memo) -> None:
    await cluster.create(vllm_tier(cluster))
    await get_existing(cluster, "Deployment", WORKLOAD)
    runtime = operator["runtime"]
    assert runtime.wakeups.count("ModelTier") == 1
