"""RoutingPolicy checks on a cluster: references resolve, the chain can end Local, status follows the tiers."""

from __future__ import annotations

from typing import Any

import pytest

from operator_cluster import Cluster
from operator_manifests import endpoint_tier, routing_policy, vllm_tier

pytestmark = pytest.mark.usefixtures("operator")


async def policy_tiers(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return ((await cluster.get("RoutingPolicy", name)) or {}).get("status", {}).get("tiers", [])


async def test_an_unknown_tier_is_reported_until_it_is_created(cluster: Cluster) -> None:
    await cluster.create(vllm_tier(cluster, "small"))
    await cluster.create(routing_policy("auto", ["small", "big"], chain=["big", "small"]))

    refs = await cluster.wait_condition("RoutingPolicy", "auto", "ResolvedRefs", "False", "TierNotFound")
    assert "big" in refs["message"] and "small" not in refs["message"]
    await cluster.wait_condition("RoutingPolicy", "auto", "Ready", "False", "TierNotFound")
    warning = await cluster.wait_event("auto", "TierNotFound")
    assert warning["type"] == "Warning"
    assert await policy_tiers(cluster, "auto") == [
        {"name": "small", "ready": False, "locality": "Local"},
        {"name": "big", "ready": False},
    ]

    await cluster.create(endpoint_tier("big", secret="none-needed"))

    await cluster.wait_condition("RoutingPolicy", "auto", "ResolvedRefs", "True", "AllTiersFound")
    await cluster.wait_condition("RoutingPolicy", "auto", "LocalFallback", "True", "LocalTierPresent")

    async def both_listed() -> bool:
        return [t.get("locality") for t in await policy_tiers(cluster, "auto")] == ["Local", "Remote"]

    await cluster.wait_for(both_listed)


async def test_a_policy_without_a_local_tier_warns_no_local_tier(cluster: Cluster) -> None:
    await cluster.create(endpoint_tier("gpt", secret="openai"))
    await cluster.create(endpoint_tier("claude", secret="anthropic"))
    await cluster.create(routing_policy("remote-only", ["gpt", "claude"]))

    fallback = await cluster.wait_condition("RoutingPolicy", "remote-only", "LocalFallback", "False", "NoLocalTier")
    assert "Local" in fallback["message"]
    await cluster.wait_condition("RoutingPolicy", "remote-only", "Ready", "False", "NoLocalTier")
    warning = await cluster.wait_event("remote-only", "NoLocalTier")
    assert warning["type"] == "Warning"

    await cluster.create(vllm_tier(cluster, "small"))
    await cluster.patch("RoutingPolicy", "remote-only", {"spec": {"tiers": [{"name": "gpt"}, {"name": "small"}]}})
    await cluster.wait_condition("RoutingPolicy", "remote-only", "LocalFallback", "True", "LocalTierPresent")


async def test_a_policy_that_does_not_require_local_last_is_fine_without_one(cluster: Cluster) -> None:
    await cluster.create(endpoint_tier("gpt", secret="openai"))
    await cluster.create(routing_policy("relaxed", ["gpt"], requireLocalLast=False))
    await cluster.wait_condition("RoutingPolicy", "relaxed", "LocalFallback", "True", "NotRequired")


async def test_policy_status_follows_tier_readiness_and_deletion(cluster: Cluster) -> None:
    if not cluster.emulated and not cluster.workload_image:
        pytest.skip("set TIERGATE_E2E_VLLM_IMAGE to an image that serves /health to run this on a real cluster")
    await cluster.create(vllm_tier(cluster, "small"))
    await cluster.create(routing_policy("auto", ["small"]))
    await cluster.wait_condition("RoutingPolicy", "auto", "Ready", "False", "NoReadyTier")

    async def deployment() -> dict[str, Any] | None:
        return await cluster.get("Deployment", "small-vllm")

    await cluster.wait_for(deployment)
    await cluster.simulate_rollout("small", ready=1)

    await cluster.wait_condition("RoutingPolicy", "auto", "Ready", "True")
    assert await policy_tiers(cluster, "auto") == [{"name": "small", "ready": True, "locality": "Local"}]

    await cluster.delete("ModelTier", "small")
    await cluster.wait_condition("RoutingPolicy", "auto", "ResolvedRefs", "False", "TierNotFound")
