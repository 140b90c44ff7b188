"""Bad days: API errors, conflicts, rejected manifests and an API server outage end well, without hot loops.

Emulator only: faults are injected with kmock reactions, which a real cluster has no equivalent of.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from harness import RunningEmulator
from operator_cluster import EmulatedCluster, running_operator
from operator_manifests import vllm_tier
from tiergate_operator.settings import OperatorConfig

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
WORKLOAD = "small-vllm"


@pytest.fixture
def cluster(kube_emulator: RunningEmulator) -> EmulatedCluster:
    return EmulatedCluster(kube_emulator)


@pytest.fixture
def operator(cluster: EmulatedCluster, operator_config: OperatorConfig) -> Iterator[Any]:
    with running_operator(cluster, operator_config) as memo:
        yield memo


def requests_to(cluster: EmulatedCluster, method: str, path: str) -> list[Any]:
    return [r for r in cluster.emulator.requests if r.method == method and r.path == path]


@pytest.mark.usefixtures("operator")
async def test_server_errors_are_retried_with_backoff_and_reported_once(cluster: EmulatedCluster) -> None:
    cluster.emulator.api["post", DEPLOYMENTS][:3] << 503  # the first three creates fail

    await cluster.create(vllm_tier(cluster))

    async def created() -> dict[str, Any] | None:
        return await cluster.get("Deployment", WORKLOAD)

    await cluster.wait_for(created)
    assert len(requests_to(cluster, "POST", DEPLOYMENTS)) == 4  # three failures, then success
    await cluster.wait_event("small", "Created")
    assert (await cluster.event_reasons("small")).count("ReconcileFailed") == 1  # one per failure streak


@pytest.mark.usefixtures("operator")
async def test_a_conflicting_update_is_retried(cluster: EmulatedCluster) -> None:
    await cluster.create(vllm_tier(cluster))
    await cluster.wait_for(lambda: cluster.get("Deployment", WORKLOAD))
    cluster.emulator.api["patch", f"{DEPLOYMENTS}/{WORKLOAD}"][:1] << 409  # the first update conflicts

    await cluster.patch("ModelTier", "small", {"spec": {"vllm": {"replicas": 3}}})

    async def scaled() -> bool:
        found = await cluster.get("Deployment", WORKLOAD)
        return found is not None and found["spec"]["replicas"] == 3

    await cluster.wait_for(scaled)
    assert len(requests_to(cluster, "PATCH", f"{DEPLOYMENTS}/{WORKLOAD}")) == 2


@pytest.mark.usefixtures("operator")
async def test_a_rejected_manifest_is_a_condition_and_is_not_retried_hot(cluster: EmulatedCluster) -> None:
    rejection = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422}
    cluster.emulator.api["post", DEPLOYMENTS] << 422 << {**rejection, "message": "quota says no"}

    await cluster.create(vllm_tier(cluster))

    degraded = await cluster.wait_condition("ModelTier", "small", "Degraded", "True", "InvalidWorkload")
    assert "quota says no" in degraded["message"]
    await cluster.wait_event("small", "InvalidWorkload")
    before = len(requests_to(cluster, "POST", DEPLOYMENTS))
    await asyncio.sleep(2.0)
    after = len(requests_to(cluster, "POST", DEPLOYMENTS))
    assert after - before <= 6  # at most one attempt per retry_max_seconds (0.5 s), not a hot loop
    assert await cluster.get("Service", WORKLOAD) is not None  # the rest of the tier was still served


async def test_an_api_server_outage_is_survived_and_nothing_is_lost(
    cluster: EmulatedCluster, operator_config: OperatorConfig
) -> None:
    with running_operator(cluster, operator_config):
        await cluster.create(vllm_tier(cluster))
        await cluster.wait_for(lambda: cluster.get("Deployment", WORKLOAD))

        await asyncio.to_thread(cluster.emulator.stop)  # every watch drops, every request fails
        await cluster.patch("ModelTier", "small", {"spec": {"vllm": {"replicas": 2}}})  # changed meanwhile
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.emulator.start)

        async def caught_up() -> bool:
            found = await cluster.get("Deployment", WORKLOAD)
            return found is not None and found["spec"]["replicas"] == 2

        await cluster.wait_for(caught_up, timeout=30)


async def test_the_operator_restarted_takes_over_without_rewriting_anything(
    cluster: EmulatedCluster, operator_config: OperatorConfig
) -> None:
    with running_operator(cluster, operator_config):
        await cluster.create(vllm_tier(cluster))
        await cluster.wait_condition("ModelTier", "small", "ResolvedRefs", "True")
        await cluster.wait_for(lambda: cluster.get("Service", WORKLOAD))
        await asyncio.sleep(0.3)

    cluster.clear_requests()
    with running_operator(cluster, operator_config):
        await asyncio.sleep(1.5)
    writes = cluster.writes(("deployments", "services", "modeltiers"))
    assert writes == [], [f"{w.method} {w.path}" for w in writes or []]
