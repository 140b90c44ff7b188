"""Autoscaled tiers on a cluster: a KEDA ScaledObject when KEDA is there, a clear condition when it is not,
and never a fight over the Deployment's replica count.

Every test runs against the API emulator; the ones that make sense there also run with `-m e2e`
against a real cluster (with or without KEDA, as each one needs). In the emulator the tests play
KEDA's part: they scale the Deployment through `/scale` as KEDA's HPA does, and write the
ScaledObject's Ready condition as KEDA's operator does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from operator_cluster import Cluster
from operator_manifests import GATEWAY, PROMETHEUS, vllm_tier

pytestmark = pytest.mark.usefixtures("operator")

TIER = "small"
WORKLOAD = "small-vllm"
AUTOSCALING = {"minReplicas": 0, "maxReplicas": 3, "idleSecondsBeforeZero": 60}


async def get_existing(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    async def exists() -> dict[str, Any] | None:
        return await cluster.get(kind, name)

    exists.__name__ = f"{kind}/{name} exists"
    return await cluster.wait_for(exists)


async def tier_status(cluster: Cluster, **expected: Any) -> dict[str, Any]:
    """Wait until the tier's status has these values (a key given as None must be absent)."""

    async def matches() -> dict[str, Any] | None:
        status = ((await cluster.get("ModelTier", TIER)) or {}).get("status") or {}
        return status if all(status.get(key) == value for key, value in expected.items()) else None

    matches.__name__ = f"status {expected}"
    return await cluster.wait_for(matches)


async def deployment_replicas(cluster: Cluster, replicas: int) -> dict[str, Any]:
    async def scaled() -> dict[str, Any] | None:
        found = await cluster.get("Deployment", WORKLOAD)
        return found if found is not None and found["spec"]["replicas"] == replicas else None

    scaled.__name__ = f"Deployment {WORKLOAD} at {replicas} replicas"
    return await cluster.wait_for(scaled)


async def with_keda(cluster: Cluster) -> None:
    if not cluster.emulated and not await cluster.keda_installed():
        pytest.skip("KEDA is not installed in this cluster (make kind-autoscaling installs it)")
    await cluster.install_keda()


async def without_keda(cluster: Cluster) -> None:
    if await cluster.keda_installed():
        pytest.skip("KEDA is installed in this cluster; this test needs a cluster without it")


# ---------------------------------------------------------------- without KEDA


async def test_without_keda_an_autoscaled_tier_runs_at_least_one_replica_and_says_why(cluster: Cluster) -> None:
    await without_keda(cluster)
    await cluster.create(vllm_tier(cluster, autoscaling=AUTOSCALING))

    deployment = await get_existing(cluster, "Deployment", WORKLOAD)
    assert deployment["spec"]["replicas"] == 1  # max(minReplicas, 1): nothing would wake a tier at zero
    condition = await cluster.wait_condition("ModelTier", TIER, "Autoscaling", "False", "KEDANotInstalled")
    assert "KEDA is not installed" in condition["message"]
    assert "max(minReplicas, 1) = 1 replicas" in condition["message"]
    await tier_status(cluster, replicas=1, scaledToZero=False)
    warning = await cluster.wait_event(TIER, "KEDANotInstalled")
    assert warning["type"] == "Warning"

    # With no scaler, the replica count is the operator's: a scale to zero is undone.
    await cluster.scale(WORKLOAD, 0)
    await deployment_replicas(cluster, 1)
    restored = await cluster.wait_event(TIER, "Restored")
    assert "spec.replicas" in restored["message"]

    await cluster.patch("ModelTier", TIER, {"spec": {"vllm": {"autoscaling": {"minReplicas": 2}}}})
    await deployment_replicas(cluster, 2)
    await tier_status(cluster, replicas=2, scaledToZero=False)


async def test_installing_keda_later_takes_over_without_restarting_the_operator(cluster: Cluster) -> None:
    if not cluster.emulated:
        pytest.skip("installs KEDA in the middle of the test: the emulator only")
    await cluster.create(vllm_tier(cluster, autoscaling=AUTOSCALING))
    await cluster.wait_condition("ModelTier", TIER, "Autoscaling", "False", "KEDANotInstalled")

    await cluster.install_keda()  # the operator looks again every keda_recheck_seconds

    scaled_object = await get_existing(cluster, "ScaledObject", WORKLOAD)
    assert scaled_object["spec"]["scaleTargetRef"]["name"] == WORKLOAD
    pending = await cluster.wait_condition("ModelTier", TIER, "Autoscaling", "Unknown", "Pending")
    assert f"ScaledObject {WORKLOAD}" in pending["message"]
    await cluster.simulate_keda(TIER, ready=True)
    scaling = await cluster.wait_condition("ModelTier", TIER, "Autoscaling", "True", "KEDAScaling")
    assert "between 0 and 3 replicas on queue, kv-cache, demand, gateway-demand" in scaling["message"]
    updated = await cluster.wait_event(TIER, "Updated")  # the Deployment changed hands
    assert WORKLOAD in updated["message"]

    await cluster.scale(WORKLOAD, 0)  # KEDA's word now: it stays
    await tier_status(cluster, replicas=0, scaledToZero=True)
    await asyncio.sleep(1.5)
    assert (await cluster.get("Deployment", WORKLOAD))["spec"]["replicas"] == 0  # type: ignore[index]


@pytest.mark.parametrize("operator_config", [{"prometheus_address": None, "gateway_demand_url": None}],
                         indirect=True)
async def test_keda_without_any_signal_source_is_reported_not_half_configured(cluster: Cluster) -> None:
    await with_keda(cluster)
    await cluster.create(vllm_tier(cluster, autoscaling=AUTOSCALING))

    condition = await cluster.wait_condition("ModelTier", TIER, "Autoscaling", "False", "NoTriggers")
    assert "TIERGATE_OPERATOR_PROMETHEUS_ADDRESS" in condition["message"]
    assert (await get_existing(cluster, "Deployment", WORKLOAD))["spec"]["replicas"] == 1
    assert await cluster.get("ScaledObject", WORKLOAD) is None


# ---------------------------------------------------------------- with KEDA


@pytest.mark.parametrize("operator_config", [{"resync_seconds": 60.0}], indirect=True)
async def test_the_scaled_object_is_owned_and_restored_when_edited_or_deleted(cluster: Cluster) -> None:
    """With a one-minute resync, only the watch on ScaledObjects can restore them within the test's deadline."""
    await with_keda(cluster)
    tier = await cluster.create(vllm_tier(cluster, autoscaling={**AUTOSCALING, "targetKvCachePercent": 80}))

    scaled_object = await get_existing(cluster, "ScaledObject", WORKLOAD)
    [owner] = scaled_object["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "ModelTier", TIER, tier["metadata"]["uid"], True)
    assert scaled_object["metadata"]["labels"]["tiergate.io/tier"] == TIER
    spec = scaled_object["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKLOAD}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["cooldownPeriod"]) == (0, 3, 60)
    assert [t["name"] for t in spec["triggers"]] == ["queue", "kv-cache", "demand", "gateway-demand"]
    assert spec["triggers"][0]["metadata"]["serverAddress"] == PROMETHEUS
    assert spec["triggers"][3]["metadata"]["url"] == f"{GATEWAY}/scaling/demand/{cluster.namespace}/{TIER}"

    async def reported() -> dict[str, Any] | None:  # a real KEDA may well find these test addresses unreachable
        return await cluster.condition("ModelTier", TIER, "Autoscaling")

    await cluster.wait_for(reported)

    await cluster.patch("ScaledObject", WORKLOAD, {"spec": {"maxReplicaCount": 50}})

    async def restored() -> bool:
        found = await cluster.get("ScaledObject", WORKLOAD)
        return found is not None and found["spec"]["maxReplicaCount"] == 3

    await cluster.wait_for(restored)
    event = await cluster.wait_event(TIER, "Restored")
    assert "ScaledObject" in event["message"] and "spec.maxReplicaCount" in event["message"]

    await cluster.delete("ScaledObject", WORKLOAD)

    async def recreated() -> dict[str, Any] | None:
        found = await cluster.get("ScaledObject", WORKLOAD)
        return found if found is not None and found["metadata"]["uid"] != scaled_object["metadata"]["uid"] else None

    await cluster.wait_for(recreated)

    await cluster.delete("ModelTier", TIER)
    await cluster.wait_gone("ScaledObject", WORKLOAD)


async def test_the_operator_leaves_replicas_to_keda_and_reports_what_it_chose(cluster: Cluster) -> None:
    if not cluster.emulated:
        pytest.skip("a real KEDA scales the Deployment by itself; in the emulator the test plays KEDA")
    await with_keda(cluster)
    await cluster.create(vllm_tier(cluster, autoscaling=AUTOSCALING))
    assert (await get_existing(cluster, "Deployment", WORKLOAD))["spec"]["replicas"] == 1  # created at max(min, 1)
    await get_existing(cluster, "ScaledObject", WORKLOAD)
    await cluster.simulate_keda(TIER, ready=True)
    await cluster.wait_condition("ModelTier", TIER, "Autoscaling", "True", "KEDAScaling")
    await cluster.wait_condition("ModelTier", TIER, "Ready", "False", "Starting")
    await asyncio.sleep(0.3)  # let the echoes of the operator's own writes settle
    cluster.clear_requests()

    # Demand: KEDA's HPA scales out; the tier reports what it wants, then that it is ready.
    await cluster.scale(WORKLOAD, 3)
    starting = await cluster.wait_condition("ModelTier", TIER, "Ready", "False", "Starting")
    await tier_status(cluster, replicas=3, readyReplicas=0, scaledToZero=False)
    await cluster.simulate_rollout(TIER, ready=3)
    ready = await cluster.wait_condition("ModelTier", TIER, "Ready", "True")
    assert ready["message"].startswith("3/3 replicas ready")
    assert "requests fall back" in starting["message"]

    # Idle: KEDA scales to zero; the operator keeps its hands off through many resyncs.
    await cluster.scale(WORKLOAD, 0)
    await cluster.simulate_rollout(TIER, ready=0)
    zero = await cluster.wait_condition("ModelTier", TIER, "Ready", "False", "ScaledToZero")
    assert "requests fall back until the tier starts again" in zero["message"]
    await tier_status(cluster, replicas=0, readyReplicas=0, scaledToZero=True)
    await cluster.wait_event(TIER, "ScaledToZero")
    await asyncio.sleep(2.5)  # two resyncs and more

    assert (await cluster.get("Deployment", WORKLOAD))["spec"]["replicas"] == 0  # type: ignore[index]
    writes = cluster.writes(("deployments", "scaledobjects"))
    assert writes is not None
    ours = [f"{w.method} {w.path}" for w in writes if w.subresource != "scale"]
    assert ours == []  # no operator write to the Deployment or the ScaledObject, replicas included
    assert "Restored" not in await cluster.event_reasons(TIER)

    # A wake-up (KEDA's 0 -> 1, or the gateway's): Starting until a replica is ready.
    await cluster.scale(WORKLOAD, 1)
    await cluster.wait_condition("ModelTier", TIER, "Ready", "False", "Starting")
    await tier_status(cluster, replicas=1, scaledToZero=False)


async def test_turning_autoscaling_off_deletes_the_scaled_object_and_the_operator_writes_replicas_again(
    cluster: Cluster,
) -> None:
    await with_keda(cluster)
    await cluster.create(vllm_tier(cluster, autoscaling=AUTOSCALING))
    await get_existing(cluster, "ScaledObject", WORKLOAD)
    if cluster.emulated:
        await cluster.scale(WORKLOAD, 0)
        await tier_status(cluster, replicas=0, scaledToZero=True)

    await cluster.patch("ModelTier", TIER, {"spec": {"vllm": {"autoscaling": None, "replicas": 2}}})

    await cluster.wait_gone("ScaledObject", WORKLOAD)
    await deployment_replicas(cluster, 2)
    status = await tier_status(cluster, replicas=2, scaledToZero=None)
    assert "scaledToZero" not in status
    assert "Autoscaling" not in {c["type"] for c in status["conditions"]}

    async def told() -> bool:
        return any(e.get("reason") == "Deleted" and f"ScaledObject {WORKLOAD}" in e.get("message", "")
                   for e in await cluster.events_about(TIER))

    await cluster.wait_for(told)


async def test_an_autoscaled_tier_turned_into_an_endpoint_loses_its_scaled_object(cluster: Cluster) -> None:
    await with_keda(cluster)
    await cluster.create(vllm_tier(cluster, autoscaling=AUTOSCALING))
    await get_existing(cluster, "ScaledObject", WORKLOAD)

    endpoint = {"url": "http://existing-server.default.svc:8000/v1", "locality": "Local"}
    await cluster.patch("ModelTier", TIER, {"spec": {"vllm": None, "endpoint": endpoint}})

    await cluster.wait_gone("ScaledObject", WORKLOAD)
    await cluster.wait_gone("Deployment", WORKLOAD)
    status = await tier_status(cluster, endpoint=endpoint["url"])
    assert "scaledToZero" not in status and "replicas" not in status
