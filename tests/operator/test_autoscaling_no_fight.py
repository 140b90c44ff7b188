"""The operator, the gateway and KEDA never fight over an autoscaled tier's replica count.

Three writers could touch the Deployment's `spec.replicas`: the operator (which created it), the
gateway (which starts a tier at zero, 0 -> 1, the moment a request wants it) and KEDA (which owns
0 <-> 1 and, through its HPA, 1 <-> N). Here all three run against the Kubernetes API emulator:
the real operator, the real gateway process, and `tiergate_sim.keda.KedaModel` in KEDA's place,
reading the triggers of the ScaledObject the operator rendered (the gateway's demand, over HTTP)
and writing through the Deployment's `/scale` like KEDA does. KEDA's periods are compressed
(a 0.25 s poll, a 2 s cooldown) so that what takes minutes on a cluster takes seconds here.

The first test shows the design holds: the gateway's start is kept, no write is undone. The second
takes the gateway's trigger out of the ScaledObject (a misconfiguration) and shows the fight it
would cause, and that the gateway then stops starting the tier for a while instead of flapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.runtime import RunningEmulator
from operator_cluster import EmulatedCluster, running_operator
from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_operator.names import workload_name
from tiergate_operator.settings import OperatorConfig
from tiergate_sim.keda import KedaModel, ScaledObjectSpec, Trigger, flaps
from tiergate_sim.process import SimProcess, start_sim

TIER = "local"
DEPLOYMENT = workload_name(TIER)
BODY = {"model": "auto", "max_tokens": 4, "messages": [{"role": "user", "content": "hello"}]}
HEADERS = {"x-tiergate-task": "Chat", "x-tiergate-latency-class": "Interactive"}
POLL_SECONDS = 0.25
COOLDOWN_SECONDS = 2.0


class HttpScaleTarget:
    """The Deployment's `/scale` on the emulator, as KEDA's scale client reads and writes it."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        self.cluster = cluster
        self.url = f"{cluster.emulator.url}/apis/apps/v1/namespaces/default/deployments/{DEPLOYMENT}/scale"

    async def get_replicas(self) -> int:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(self.url)
        answer.raise_for_status()
        return int(answer.json()["spec"].get("replicas") or 0)

    async def set_replicas(self, replicas: int) -> None:
        await self.cluster.scale(DEPLOYMENT, replicas)


def triggers_of(scaled_object: dict[str, Any], *, keep_gateway: bool = True) -> tuple[Trigger, ...]:
    """The ScaledObject's triggers as KEDA would evaluate them (here only metrics-api ones: no Prometheus)."""
    found = []
    for trigger in scaled_object["spec"]["triggers"]:
        assert trigger["type"] == "metrics-api", "the operator was given no Prometheus: only the gateway's trigger"
        if not keep_gateway:
            continue
        metadata = trigger["metadata"]
        url, location = metadata["url"], metadata["valueLocation"]

        def value(url: str = url, location: str = location) -> float:
            return float(httpx.get(url, timeout=5).json()[location])

        found.append(
            Trigger(
                trigger["name"],
                value,
                float(metadata["targetValue"]),
                float(metadata.get("activationTargetValue", 0)),
            )
        )
    return tuple(found)


@contextlib.contextmanager
def running_keda(model: KedaModel) -> Iterator[None]:
    """KEDA's loop and HPA in a thread of their own, on the wall clock."""
    loop = asyncio.new_event_loop()
    task: list[asyncio.Task[None]] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(model.run(time.time)))
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task[0])

    thread = threading.Thread(target=serve, name="keda-model", daemon=True)
    thread.start()
    try:
        yield
    finally:
        while not task:
            time.sleep(0.01)
        loop.call_soon_threadsafe(task[0].cancel)
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def remote() -> Iterator[SimProcess]:
    sim = start_sim(["--model", "gpt-4o-mini", "--output-tokens", "3"])
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def gateway(kube_emulator: RunningEmulator, tmp_path: Path) -> Iterator[GatewayProcess]:
    with start_gateway(["--kubeconfig", str(kube_emulator.kubeconfig_path)], tmp_path / "gateway.log") as started:
        yield started


@pytest.fixture
def world(kube_emulator: RunningEmulator, gateway: GatewayProcess, remote: SimProcess) -> Iterator[EmulatedCluster]:
    """KEDA installed, the operator running (told the gateway's URL, no Prometheus), an autoscaled tier and a
    remote tier behind one policy; the operator has rendered the tier's Deployment and ScaledObject."""
    cluster = EmulatedCluster(kube_emulator)
    kube_emulator.load_crds(Path(__file__).resolve().parents[1] / "data" / "crds" / "keda.sh_scaledobjects.yaml")
    config = OperatorConfig(
        resync_seconds=1.0,
        debounce_seconds=0.02,
        retry_initial_seconds=0.1,
        retry_max_seconds=0.5,
        keda_recheck_seconds=0.5,
        prometheus_address=None,
        gateway_demand_url=gateway.base_url.removesuffix("/v1"),
    )
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": TIER},
            "spec": {
                "model": "Qwen/Qwen2.5-7B-Instruct",
                "size": "7B",
                "vllm": {"gpu": {"count": 0}, "autoscaling": {"minReplicas": 0, "maxReplicas": 2}},
            },
        }
    )
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "remote"},
            "spec": {"model": "gpt-4o-mini", "size": "70B", "endpoint": {"url": remote.base_url}},
        }
    )
    kube_emulator.create(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "RoutingPolicy",
            "metadata": {"name": "main"},
            "spec": {
                "modelAlias": "auto",
                "tiers": [{"name": TIER}, {"name": "remote"}],
                "fallback": {"requireLocalLast": False},
            },
        }
    )
    kube_emulator.create(  # the EndpointSlice controller's part: the Service has no ready pod
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{DEPLOYMENT}-abc",
                "labels": {
                    "kubernetes.io/service-name": DEPLOYMENT,
                    "app.kubernetes.io/managed-by": "tiergate-operator",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
            "endpoints": [],
        }
    )
    with running_operator(cluster, config):
        kube_emulator.wait_until(lambda: kube_emulator.get("scaledobjects", DEPLOYMENT), timeout=10)
        yield cluster


def keda_for(cluster: EmulatedCluster, *, keep_gateway: bool = True) -> KedaModel:
    emulator = cluster.emulator
    scaled_object = emulator.get("scaledobjects", DEPLOYMENT)
    assert scaled_object is not None
    spec = ScaledObjectSpec(
        triggers=triggers_of(scaled_object, keep_gateway=keep_gateway),
        min_replicas=scaled_object["spec"]["minReplicaCount"],
        max_replicas=scaled_object["spec"]["maxReplicaCount"],
        polling_interval=POLL_SECONDS,
        cooldown_period=COOLDOWN_SECONDS,
        initial_cooldown_period=0.0,
    )
    return KedaModel(spec, HttpScaleTarget(cluster), created_at=time.time())


def replicas(emulator: RunningEmulator) -> int:
    deployment = emulator.get("deployments", DEPLOYMENT)
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def replica_history(emulator: RunningEmulator) -> list[int]:
    """Every `spec.replicas` the Deployment had, in order, consecutive repeats merged."""
    counts = [int(v["spec"]["replicas"]) for v in emulator.history("deployments", DEPLOYMENT) if v is not None]
    return [count for i, count in enumerate(counts) if i == 0 or counts[i - 1] != count]


def ask(gateway: GatewayProcess) -> httpx.Response:
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    return response


def test_the_gateways_start_is_kept_by_keda_and_left_alone_by_the_operator(
    kube_emulator: RunningEmulator, world: EmulatedCluster, gateway: GatewayProcess
) -> None:
    model = keda_for(world)
    with running_keda(model):
        # Nothing wants the tier: KEDA takes it from the operator's initial 1 to 0.
        kube_emulator.wait_until(lambda: replicas(kube_emulator) == 0 or None, timeout=5)
        kube_emulator.wait_until(
            lambda: ((kube_emulator.get("modeltiers", TIER) or {}).get("status") or {}).get("scaledToZero"), timeout=5
        )

        answer = ask(gateway)
        assert answer.headers["x-tiergate-tier"] == "remote"
        assert "local=ScaledToZero" in answer.headers["x-tiergate-fallback-reason"]
        kube_emulator.wait_until(lambda: replicas(kube_emulator) == 1 or None, timeout=1.0)  # the gateway's start

        time.sleep(4 * COOLDOWN_SECONDS)  # 32 KEDA polls, four cooldowns: KEDA could have undone it many times
        assert replicas(kube_emulator) == 1

    # Created at 1, KEDA to 0, the gateway to 1: nothing more. One exception is a race real KEDA has too:
    # a poll reads the triggers and then the replicas, so a poll that read the demand just before the
    # gateway counted it and the replicas just after its write undoes that start once (on a cluster the
    # window is milliseconds in a 15 s poll; here, on a loaded machine, tens of ms in 0.25 s). The gateway's
    # next start then sticks, because by then its demand is visible to every poll.
    history = replica_history(kube_emulator)
    assert history in ([1, 0, 1], [1, 0, 1, 0, 1]), history
    undone = [(c.before, c.after) for c in model.changes]
    assert undone == [(1, 0)] or (undone == [(1, 0), (1, 0)] and history == [1, 0, 1, 0, 1]), undone
    moves = [(c.at, c.before, c.after) for c in model.changes]
    assert flaps(moves, window=60) == 0
    status = (kube_emulator.get("modeltiers", TIER) or {}).get("status") or {}
    assert status.get("replicas") == 1 and status.get("scaledToZero") is False


def test_without_the_gateways_trigger_keda_undoes_the_start_and_the_gateway_backs_off(
    kube_emulator: RunningEmulator, world: EmulatedCluster, gateway: GatewayProcess
) -> None:
    model = keda_for(world, keep_gateway=False)  # a ScaledObject that cannot see the gateway's demand
    with running_keda(model):
        kube_emulator.wait_until(lambda: replicas(kube_emulator) == 0 or None, timeout=5)
        kube_emulator.wait_until(
            lambda: ((kube_emulator.get("modeltiers", TIER) or {}).get("status") or {}).get("scaledToZero"), timeout=5
        )
        ask(gateway)
        kube_emulator.wait_until(lambda: replicas(kube_emulator) == 1 or None, timeout=1.0)
        kube_emulator.wait_until(lambda: replicas(kube_emulator) == 0 or None, timeout=5)  # KEDA undid it
        deadline = time.monotonic() + 3 * COOLDOWN_SECONDS
        while time.monotonic() < deadline:  # demand keeps coming; the gateway does not start the tier again
            assert ask(gateway).headers["x-tiergate-tier"] == "remote"
            time.sleep(0.2)

    assert replica_history(kube_emulator) == [1, 0, 1, 0]  # one fight, then none
    metrics = httpx.get(f"{gateway.base_url.removesuffix('/v1')}/metrics", timeout=5).text
    assert 'tiergate_tier_wakes_total{result="scaled",tier="local",tier_namespace="default"} 1.0' in metrics
    assert "went back to zero" in gateway.logs()
