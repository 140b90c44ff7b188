"""Manifests the operator's integration tests create: small tiers, policies and Secrets."""

from __future__ import annotations

from typing import Any

from operator_cluster import Cluster

# Where KEDA's triggers point in these tests (nothing answers there: the operator only writes them down).
PROMETHEUS = "http://prometheus.monitoring.svc:9090"
GATEWAY = "http://tiergate-gateway.tiergate.svc:8080"


def vllm_tier(cluster: Cluster | None, name: str = "small", **vllm: Any) -> dict[str, Any]:
    """A CPU tier (runs anywhere); on a real cluster with the e2e stand-in image when there is one."""
    backend: dict[str, Any] = {"gpu": {"count": 0}, "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
    if cluster is not None and cluster.workload_image:
        backend["image"] = cluster.workload_image
    backend.update(vllm)
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "size": "0.5B", "vllm": backend},
    }


def endpoint_tier(name: str = "remote", secret: str = "openai") -> dict[str, Any]:
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": "gpt-4o",
            "size": "200B",
            "endpoint": {"url": "https://api.example.com/v1", "apiKeySecretRef": {"name": secret, "key": "api-key"}},
        },
    }


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    """An Opaque Secret with base64-encoded `data`."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "data": data}


def routing_policy(name: str, tiers: list[str], chain: list[str] | None = None, **fallback: Any) -> dict[str, Any]:
    """A Capability policy over `tiers`, with an optional explicit fallback chain."""
    spec: dict[str, Any] = {"modelAlias": name, "strategy": "Capability", "tiers": [{"name": t} for t in tiers]}
    if chain is not None:
        fallback["chain"] = [{"name": t} for t in chain]
    if fallback:
        spec["fallback"] = fallback
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "RoutingPolicy", "metadata": {"name": name}, "spec": spec}
