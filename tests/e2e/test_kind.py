"""End to end on the kind cluster of `make kind-e2e`: tiers become Ready, requests route, tiers fail over.

The chart is installed by the Makefile with ci/kind-values.yaml: the operator and the gateway
watch every namespace, Jaeger is on, and the gateway is reachable on the host at node port 30080.
The suite works in a namespace of its own:

- two `vllm` tiers run by the operator as `tiergate sim` pods (the simulator image, gpu.count 0)
  on the gpu-small and gpu-large pools, Local;
- one `endpoint` tier that stands in for an external API (Remote): it points at the small
  tier's Service, and is the smallest, so the Capability strategy ranks it first;
- a RoutingPolicy `e2e` over the three, Capability strategy, Local last resort required.

Each step waits with a deadline and says what it waited for when it gives up.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from e2e_objects import GROUP, VERSION, sim_tier, wait
from e2e_settings import E2ESettings

pytestmark = pytest.mark.e2e

ALIAS = "e2e"


def _endpoint_tier(name: str, url: str, model: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "size": "0.5B",
            "capabilities": {"tasks": ["Classification", "Extraction", "Summarization", "Chat"],
                             "maxContextTokens": 8192, "features": ["Streaming"]},
            "cost": {"inputPerMillionTokens": "0.001", "outputPerMillionTokens": "0.002"},
            "endpoint": {"url": url, "locality": "Remote", "timeoutSeconds": 10},
        },
    }


def _policy() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RoutingPolicy",
        "metadata": {"name": ALIAS},
        "spec": {
            "modelAlias": ALIAS,
            "strategy": "Capability",
            "tiers": [{"name": "e2e-remote"}, {"name": "e2e-small"}, {"name": "e2e-large"}],
            "fallback": {"retryOn": ["ServerError", "RateLimited", "Timeout", "ConnectionError"],
                         "maxAttempts": 3, "attemptTimeoutSeconds": 15, "requireLocalLast": True},
        },
    }


def _custom(kube: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube)


def _ready(kube: Any, namespace: str, plural: str, name: str) -> bool:
    obj = _custom(kube).get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _chat(gateway: httpx.Client, text: str = "Say hello.", task: str = "Chat") -> httpx.Response:
    return gateway.post(
        "/v1/chat/completions",
        headers={"x-tiergate-task": task},
        json={"model": ALIAS, "messages": [{"role": "user", "content": text}], "max_tokens": 16},
    )


@pytest.fixture(scope="module")
def applied(kube: Any, namespace: str, e2e: E2ESettings) -> str:
    """The suite's tiers and policy, applied and Ready; returns their namespace."""
    from kubernetes import client

    deployment = client.AppsV1Api(kube).read_namespaced_deployment(f"{e2e.fullname}-operator", e2e.release_namespace)
    image = deployment.spec.template.spec.containers[0].image
    repository, _, tag = image.rpartition(":")
    sim_image = f"{repository}-sim:{tag}"
    small_url = f"http://e2e-small-vllm.{namespace}.svc.cluster.local:8000/v1"
    objects = [
        ("modeltiers", sim_tier("e2e-small", "1.5B", "gpu-small", sim_image)),
        ("modeltiers", sim_tier("e2e-large", "8B", "gpu-large", sim_image)),
        ("modeltiers", _endpoint_tier("e2e-remote", small_url, "e2e/e2e-small")),
        ("routingpolicies", _policy()),
    ]
    for plural, body in objects:
        _custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    for plural, body in objects:
        name = body["metadata"]["name"]
        wait(f"{plural}/{name} Ready", lambda p=plural, n=name: _ready(kube, namespace, p, n), timeout=300)
    return namespace


def test_chart_components_are_up(kube: Any, e2e: E2ESettings, gateway: httpx.Client) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(kube)
    for component in ("operator", "gateway", "jaeger"):
        name = f"{e2e.fullname}-{component}"

        def available(n: str = name) -> bool:
            return (apps.read_namespaced_deployment(n, e2e.release_namespace).status.available_replicas or 0) >= 1

        wait(f"deployment {name} available", available)
    wait("gateway /readyz", lambda: gateway.get("/readyz").status_code == 200)


def test_tiers_and_policy_become_ready(kube: Any, applied: str) -> None:
    from kubernetes import client

    tier = _custom(kube).get_namespaced_custom_object(GROUP, VERSION, applied, "modeltiers", "e2e-small")
    assert tier["status"]["locality"] == "Local"
    assert tier["status"]["endpoint"] == f"http://e2e-small-vllm.{applied}.svc.cluster.local:8000/v1"
    pods = client.CoreV1Api(kube).list_namespaced_pod(applied, label_selector="tiergate.io/tier=e2e-large")
    assert {pod.spec.node_name for pod in pods.items}, "the large tier has no pod"
    nodes = client.CoreV1Api(kube).list_node(label_selector="tiergate.io/pool=gpu-large").items
    assert {pod.spec.node_name for pod in pods.items} <= {node.metadata.name for node in nodes}


def test_chat_is_routed_through_the_gateway(gateway: httpx.Client, applied: str) -> None:
    wait("the gateway to know the e2e policy",
          lambda: any(m["id"] == ALIAS for m in gateway.get("/v1/models").json().get("data", [])))
    response = wait("a routed answer", lambda: (r := _chat(gateway)).status_code == 200 and r)
    assert response.headers["x-tiergate-policy"] == ALIAS
    assert response.headers["x-tiergate-tier"] == "e2e-remote"  # smallest capable: the Capability strategy
    assert response.headers["x-tiergate-task"] == "Chat"
    assert response.json()["choices"][0]["message"]["content"]


def test_a_two_replica_tier_spreads_over_its_pods(kube: Any, gateway: httpx.Client, applied: str) -> None:
    """The gateway finds the pods from the Service's EndpointSlices and names the one that answered."""
    _custom(kube).patch_namespaced_custom_object(
        GROUP, VERSION, applied, "modeltiers", "e2e-large", {"spec": {"vllm": {"replicas": 2}}})

    def two_pods() -> bool:
        seen = set()
        for turn in range(16):
            message = {"role": "user", "content": f"unique {turn}"}
            response = gateway.post(
                "/v1/chat/completions",
                headers={"x-tiergate-task": "Chat"},
                json={"model": "e2e-large", "messages": [message], "max_tokens": 4},
            )
            if response.status_code == 200 and "x-tiergate-replica" in response.headers:
                seen.add(response.headers["x-tiergate-replica"])
        return len(seen) == 2

    wait("answers from both pods of the large tier", two_pods, timeout=240)


def test_dead_remote_tier_falls_back_to_a_local_one(kube: Any, gateway: httpx.Client, applied: str) -> None:
    _custom(kube).patch_namespaced_custom_object(
        GROUP, VERSION, applied, "modeltiers", "e2e-remote",
        {"spec": {"endpoint": {"url": "http://127.0.0.1:9/v1"}}},  # nothing listens on the discard port
    )

    def fell_back() -> httpx.Response | None:
        response = _chat(gateway)
        return response if response.headers.get("x-tiergate-tier") in ("e2e-small", "e2e-large") else None

    response = wait("a fallback away from the dead remote tier", fell_back, timeout=120)
    assert response.status_code == 200
    reason = response.headers["x-tiergate-fallback-reason"]
    assert reason.startswith("e2e-remote="), reason  # e.g. e2e-remote=ConnectionError, or =CircuitOpen later


def test_scaled_down_local_tier_falls_back_to_the_other(kube: Any, gateway: httpx.Client, applied: str) -> None:
    _custom(kube).patch_namespaced_custom_object(
        GROUP, VERSION, applied, "modeltiers", "e2e-small", {"spec": {"vllm": {"replicas": 0}}})

    def answered_by_large() -> httpx.Response | None:
        response = _chat(gateway)
        return response if response.headers.get("x-tiergate-tier") == "e2e-large" else None

    response = wait("the large tier to take over from the scaled-down small one", answered_by_large, timeout=180)
    assert response.status_code == 200
    assert "e2e-small=" in response.headers["x-tiergate-fallback-reason"]


def test_a_trace_reaches_jaeger(gateway: httpx.Client, e2e: E2ESettings, applied: str) -> None:
    _chat(gateway)
    with httpx.Client(base_url=e2e.jaeger_url, timeout=10) as jaeger:
        def traces() -> list[Any] | None:
            response = jaeger.get("/api/traces", params={"service": "tiergate-gateway", "limit": 20,
                                                         "lookback": "1h"})
            return response.json().get("data") if response.status_code == 200 else None

        found = wait("a tiergate-gateway trace in Jaeger", traces, timeout=90)
    assert any(span["operationName"] for trace in found for span in trace["spans"])
