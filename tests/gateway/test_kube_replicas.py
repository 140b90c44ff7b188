"""Kubernetes mode: an in-cluster tier's replicas come from its Service's EndpointSlices, and follow churn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.runtime import RunningEmulator
from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_sim.process import SimProcess, start_sim

SERVICE = "tiergate-qwen"
MANAGED = {"app.kubernetes.io/managed-by": "tiergate-operator"}
BODY = {"model": "auto", "max_tokens": 4, "messages": [{"role": "user", "content": "hello"}]}
CHAT = {"x-tiergate-task": "Chat"}
NOT_READY = [{"addresses": ["127.0.0.1"], "conditions": {"ready": False}}]


def endpoint_slice(name: str, port: int, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": SERVICE, **MANAGED}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}],
    }


@pytest.fixture(scope="module")
def pods() -> Iterator[list[SimProcess]]:
    started = [start_sim(["--model", "Qwen/Qwen2.5-1.5B-Instruct", "--output-tokens", "3"]) for _ in range(3)]
    try:
        yield started
    finally:
        for sim in started:
            sim.stop()


def port_of(sim: SimProcess) -> int:
    return int(httpx.URL(sim.base_url).port or 0)


@pytest.fixture
def cluster(kube_emulator: RunningEmulator, pods: list[SimProcess]) -> RunningEmulator:
    """A vLLM tier as the operator leaves it (status.endpoint is its Service) and a policy for it."""
    tier = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": "qwen"},
        "spec": {
            "model": "Qwen/Qwen2.5-1.5B-Instruct",
            "size": "1.5B",
            "vllm": {"gpu": {"count": 0}, "replicas": 3},
            "replicaPicking": {"weights": {"kvCache": 0}},
        },
    }
    kube_emulator.create(tier)
    kube_emulator.set_status(
        "modeltiers",
        "qwen",
        {"endpoint": f"http://{SERVICE}.default.svc.cluster.local:8000/v1", "locality": "Local"},
    )
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "RoutingPolicy",
            "metadata": {"name": "main"},
            "spec": {"modelAlias": "auto", "tiers": [{"name": "qwen"}]},
        }
    )
    for index, sim in enumerate(pods[:2]):
        kube_emulator.create(endpoint_slice(f"{SERVICE}-{index}", port_of(sim)))
    return kube_emulator


@pytest.fixture
def gateway(cluster: RunningEmulator, tmp_path: Path) -> Iterator[GatewayProcess]:
    with start_gateway(["--kubeconfig", str(cluster.kubeconfig_path)], tmp_path / "gateway.log") as started:
        yield started


def replicas_answering(gateway: GatewayProcess, requests: int = 12) -> set[str]:
    seen = set()
    for _ in range(requests):
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=10)
        assert response.status_code == 200, response.text
        seen.add(response.headers["x-tiergate-replica"])
    return seen


def eventually(check: Any, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "discovery did not catch up"
        time.sleep(0.05)


def test_requests_go_to_the_pods_the_endpoint_slices_list(gateway: GatewayProcess, pods: list[SimProcess]) -> None:
    assert replicas_answering(gateway) == {f"127.0.0.1:{port_of(sim)}" for sim in pods[:2]}


def test_replicas_follow_endpoint_slice_churn(
    cluster: RunningEmulator, gateway: GatewayProcess, pods: list[SimProcess]
) -> None:
    first, _, third = (f"127.0.0.1:{port_of(sim)}" for sim in pods)
    cluster.create(endpoint_slice(f"{SERVICE}-2", port_of(pods[2])))
    eventually(lambda: third in replicas_answering(gateway))
    cluster.patch("endpointslices", f"{SERVICE}-0", {"endpoints": NOT_READY})
    eventually(lambda: first not in replicas_answering(gateway))
    cluster.delete("endpointslices", f"{SERVICE}-1")
    eventually(lambda: replicas_answering(gateway) == {third})


def test_a_tier_with_no_ready_pod_is_passed_over(cluster: RunningEmulator, gateway: GatewayProcess) -> None:
    for index in range(2):
        cluster.patch("endpointslices", f"{SERVICE}-{index}", {"endpoints": NOT_READY})

    def refused() -> bool:
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=10)
        return response.status_code == 503 and "NoReadyReplica" in response.text

    eventually(refused)
