"""Kubernetes mode: an autoscaled tier at zero is routed around, started by the gateway, and used again.

Real processes on loopback: the Kubernetes API emulator, the gateway in Kubernetes mode and two
`tiergate sim` servers (a pod of the in-cluster tier, and the remote API it falls back to). The
tier's replicas come and go through its Service's EndpointSlice, as on a cluster where KEDA (or
the gateway) scales its Deployment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.runtime import RunningEmulator
from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_sim.process import SimProcess, start_sim

SERVICE = "local-vllm"
MANAGED = {"app.kubernetes.io/managed-by": "tiergate-operator"}
BODY = {"model": "auto", "max_tokens": 4, "messages": [{"role": "user", "content": "hello"}]}
CHAT = {"x-tiergate-task": "Chat"}
BATCH_WAIT_SECONDS = 8


def port_of(sim: SimProcess) -> int:
    return int(httpx.URL(sim.base_url).port or 0)


def endpoints(port: int | None) -> dict[str, Any]:
    """The Service's EndpointSlice: one ready pod on `port`, or none (the tier at zero)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{SERVICE}-abc", "labels": {"kubernetes.io/service-name": SERVICE, **MANAGED}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port or 8000, "protocol": "TCP"}],
        "endpoints": [] if port is None else [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
    }


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": "local"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVICE, "labels": MANAGED},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
            },
        },
    }


def tier_status(replicas: int, ready: int) -> dict[str, Any]:
    """`local`'s status as the operator writes it (replicas: what its Deployment wants)."""
    return {
        "endpoint": f"http://{SERVICE}.default.svc.cluster.local:8000/v1",
        "locality": "Local",
        "replicas": replicas,
        "readyReplicas": ready,
        "scaledToZero": replicas == 0,
    }


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, SimProcess]]:
    started = {
        "pod": start_sim(["--model", "Qwen/Qwen2.5-7B-Instruct", "--output-tokens", "3"]),
        "remote": start_sim(["--model", "gpt-4o-mini", "--output-tokens", "3"]),
    }
    try:
        yield started
    finally:
        for sim in started.values():
            sim.stop()


@pytest.fixture
def cluster(kube_emulator: RunningEmulator, sims: dict[str, SimProcess]) -> RunningEmulator:
    """`local` (autoscaled, at zero, as the operator reports it) first, then the `remote` API."""
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "local"},
            "spec": {
                "model": "Qwen/Qwen2.5-7B-Instruct",
                "size": "7B",
                "vllm": {"gpu": {"count": 0}, "autoscaling": {"minReplicas": 0, "maxReplicas": 2}},
            },
        }
    )
    kube_emulator.set_status("modeltiers", "local", tier_status(0, 0))
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "remote"},
            "spec": {
                "model": "gpt-4o-mini",
                "size": "70B",
                "cost": {"inputPerMillionTokens": "0.15", "outputPerMillionTokens": "0.60"},
                "endpoint": {"url": f"{sims['remote'].base_url}", "locality": "Remote"},
            },
        }
    )
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "RoutingPolicy",
            "metadata": {"name": "main"},
            "spec": {
                "modelAlias": "auto",
                "tiers": [{"name": "local"}, {"name": "remote"}],
                "fallback": {"requireLocalLast": False},
                "coldStart": {"maxWaitSeconds": {"batch": BATCH_WAIT_SECONDS}},
            },
        }
    )
    kube_emulator.create(deployment(0))
    kube_emulator.create(endpoints(None))
    return kube_emulator


@pytest.fixture
def gateway(cluster: RunningEmulator, tmp_path: Path) -> Iterator[GatewayProcess]:
    with start_gateway(["--kubeconfig", str(cluster.kubeconfig_path)], tmp_path / "gateway.log") as started:
        yield started


def ask(gateway: GatewayProcess, latency_class: str = "Interactive") -> httpx.Response:
    headers = {**CHAT, "x-tiergate-latency-class": latency_class}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response


def demand(gateway: GatewayProcess) -> dict[str, Any]:
    response = httpx.get(f"{gateway.base_url.removesuffix('/v1')}/scaling/demand/default/local", timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def eventually(check: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the gateway did not catch up"
        time.sleep(0.05)


def test_explain_names_the_tier_at_zero_and_why_without_starting_it(
    cluster: RunningEmulator, gateway: GatewayProcess
) -> None:
    response = httpx.post(f"{gateway.base_url}/route/explain", json=BODY, headers=CHAT, timeout=10)
    assert response.status_code == 200, response.text
    explained = response.json()
    skipped = {s["tier"]: s for s in explained["skipped"]}
    assert skipped["local"]["reason"] == "ScaledToZero" and "does not wait" in skipped["local"]["detail"]
    assert [step["tier"] for step in explained["plan"]] == ["remote"]
    time.sleep(0.5)
    assert (cluster.get("deployments", SERVICE) or {})["spec"]["replicas"] == 0  # a dry run wants nothing started
    assert demand(gateway)["demand"] == 0


def test_a_tier_at_zero_is_routed_around_started_and_used_again(
    cluster: RunningEmulator, gateway: GatewayProcess, sims: dict[str, SimProcess]
) -> None:
    first = ask(gateway)
    assert first.headers["x-tiergate-tier"] == "remote"
    assert "local=ScaledToZero" in first.headers["x-tiergate-fallback-reason"]

    # The gateway scales the Deployment from 0 to 1 itself, within a second of the request.
    eventually(lambda: (cluster.get("deployments", SERVICE) or {})["spec"]["replicas"] == 1, within=1.0)
    seen = demand(gateway)
    assert seen["state"] == "Starting" and seen["demand"] >= 2 and seen["windowSeconds"] == 60

    while_starting = ask(gateway)
    assert "local=Starting" in while_starting.headers["x-tiergate-fallback-reason"]
    assert (cluster.get("deployments", SERVICE) or {})["spec"]["replicas"] == 1  # one start, not two

    cluster.patch(
        "endpointslices",
        f"{SERVICE}-abc",
        {"endpoints": endpoints(port_of(sims["pod"]))["endpoints"], "ports": endpoints(port_of(sims["pod"]))["ports"]},
    )
    eventually(lambda: ask(gateway).headers["x-tiergate-tier"] == "local")
    assert demand(gateway)["state"] == "Ready"

    metrics = httpx.get(f"{gateway.base_url.removesuffix('/v1')}/metrics", timeout=5).text
    assert 'tiergate_tier_demand_total{state="ScaledToZero",tier="local",tier_namespace="default"} 1.0' in metrics
    assert 'tiergate_tier_wakes_total{result="scaled",tier="local",tier_namespace="default"} 1.0' in metrics
    assert 'reason="ScaledToZero",to_tier="remote"' in metrics


def test_batch_waits_for_the_start_while_interactive_falls_back(
    cluster: RunningEmulator, gateway: GatewayProcess, sims: dict[str, SimProcess]
) -> None:
    answers: dict[str, httpx.Response] = {}
    started = time.monotonic()
    batch = threading.Thread(target=lambda: answers.setdefault("batch", ask(gateway, "Batch")))
    batch.start()
    interactive = ask(gateway, "Interactive")
    assert interactive.headers["x-tiergate-tier"] == "remote" and time.monotonic() - started < 3

    time.sleep(1.5)
    assert batch.is_alive()  # waiting for the cheap tier, within its 8 s
    ready = endpoints(port_of(sims["pod"]))
    cluster.patch("endpointslices", f"{SERVICE}-abc", {"endpoints": ready["endpoints"], "ports": ready["ports"]})
    batch.join(timeout=BATCH_WAIT_SECONDS)
    assert answers["batch"].headers["x-tiergate-tier"] == "local"
    assert 1.5 <= time.monotonic() - started < BATCH_WAIT_SECONDS


def test_a_batch_request_falls_back_when_the_start_outlasts_its_wait(gateway: GatewayProcess) -> None:
    started = time.monotonic()
    response = ask(gateway, "Batch")
    took = time.monotonic() - started
    assert response.headers["x-tiergate-tier"] == "remote"
    assert "local=" in response.headers["x-tiergate-fallback-reason"]
    assert BATCH_WAIT_SECONDS - 0.5 <= took < BATCH_WAIT_SECONDS + 3


def test_a_serving_tier_that_scales_to_zero_is_routed_around_from_the_next_request(
    cluster: RunningEmulator, gateway: GatewayProcess, sims: dict[str, SimProcess]
) -> None:
    ready = endpoints(port_of(sims["pod"]))
    cluster.scale("deployments", SERVICE, 1)
    cluster.set_status("modeltiers", "local", tier_status(1, 1))
    cluster.patch("endpointslices", f"{SERVICE}-abc", {"endpoints": ready["endpoints"], "ports": ready["ports"]})
    eventually(lambda: ask(gateway).headers["x-tiergate-tier"] == "local")

    # The idle window passed: KEDA scales the Deployment to 0, the pod leaves the Service.
    cluster.scale("deployments", SERVICE, 0)
    cluster.set_status("modeltiers", "local", tier_status(0, 0))
    cluster.patch("endpointslices", f"{SERVICE}-abc", {"endpoints": []})

    def routed_around() -> bool:
        response = ask(gateway)
        return response.headers["x-tiergate-tier"] == "remote" and "local=ScaledToZero" in response.headers.get(
            "x-tiergate-fallback-reason", ""
        )

    eventually(routed_around)
    eventually(lambda: (cluster.get("deployments", SERVICE) or {})["spec"]["replicas"] == 1, within=1.0)


def test_the_demand_endpoint_refuses_what_it_does_not_know_with_a_clear_error(gateway: GatewayProcess) -> None:
    root = gateway.base_url.removesuffix("/v1")
    for path in ("/scaling/demand/default/remote", "/scaling/demand/default/" + "x" * 5000, "/scaling/demand/default"):
        response = httpx.get(root + path, timeout=5)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error["message"] and error["type"] in ("invalid_request_error", "not_found")
    assert demand(gateway)["tier"] == "default/local"  # and still answers for the tier it knows
