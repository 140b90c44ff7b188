"""What the end-to-end tests build and how they wait: tiers run as `tiergate sim` pods, deadlines that say what
they waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

GROUP, VERSION = "tiergate.io", "v1alpha1"


def wait[T](what: str, check: Callable[[], T | None], timeout: float = 240, interval: float = 2) -> T:
    """Call `check` until it returns something truthy, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        time.sleep(interval)
    detail = f" ({last_error})" if last_error else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def sim_tier(name: str, size: str, pool: str, sim_image: str) -> dict[str, Any]:
    """A vllm tier the operator runs as one `tiergate sim` pod on a kind node pool (no GPU)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": f"e2e/{name}",
            "size": size,
            "capabilities": {"tasks": ["Classification", "Extraction", "Summarization", "Chat"],
                             "maxContextTokens": 8192, "features": ["Streaming"]},
            "cost": {"inputPerMillionTokens": "0.01", "outputPerMillionTokens": "0.02"},
            "vllm": {
                "image": sim_image,
                "replicas": 1,
                "gpu": {"count": 0},
                "maxModelLen": 8192,
                "extraArgs": ["--ttft-ms", "20", "--tokens-per-second", "0", "--host", "0.0.0.0"],
                "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
                "nodePool": {
                    "nodeSelector": {"tiergate.io/pool": pool},
                    "tolerations": [{"key": "tiergate.io/pool", "operator": "Equal", "value": pool,
                                     "effect": "NoSchedule"}],
                },
            },
        },
    }


def sim_image(kube: Any, release_namespace: str, operator: str) -> str:
    """The simulator image next to the operator's own (`<repository>-sim:<tag>`, as `make image` builds it)."""
    from kubernetes import client

    deployment = client.AppsV1Api(kube).read_namespaced_deployment(operator, release_namespace)
    repository, _, tag = deployment.spec.template.spec.containers[0].image.rpartition(":")
    return f"{repository}-sim:{tag}"
