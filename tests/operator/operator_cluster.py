"""Clusters the operator's integration tests run against, and the operator running on one.

The same test bodies run against two clusters (see `conftest.py`):

- `EmulatedCluster`: the Kubernetes API emulator of `tests/harness`. Nothing there runs
  pods, so tests play the controllers' part through the `simulate_*` helpers.
- `RealCluster`: the cluster of a kubeconfig, in a fresh namespace per test. There the
  `simulate_*` helpers do nothing, because the Deployment controller, the scheduler and
  the kubelet do it for real. Tests that need a pod to become ready need
  `TIERGATE_E2E_VLLM_IMAGE`: an image that takes vLLM's flags and serves `/health` on
  port 8000 (a `tiergate sim` image).

KEDA: the emulator serves KEDA's API only after `install_keda()` (a trimmed copy of its
ScaledObject CRD, tests/data/crds); nothing there acts on ScaledObjects, so tests write what
KEDA would (`scale`, through the Deployment's `/scale` like KEDA's HPA, and
`simulate_keda`). On a real cluster KEDA is there or not (`keda_installed`), and really acts.

`running_operator` runs the operator as `tiergate operator` does, in a thread with its
own event loop (Kopf's `KopfTask` is not in Kopf 1.45, and see its docstring for why the
test's loop cannot be shared).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import kopf

from harness import RunningEmulator
from tiergate_api.constants import LABEL_MANAGED_BY, LABEL_TIER, MANAGED_BY
from tiergate_operator.handlers import registry
from tiergate_operator.names import label_value, workload_name
from tiergate_operator.render import selector_labels
from tiergate_operator.settings import OperatorConfig

T = TypeVar("T")

KEDA_CRD = Path(__file__).resolve().parents[1] / "data" / "crds" / "keda.sh_scaledobjects.yaml"

KINDS = {
    "ModelTier": ("tiergate.io/v1alpha1", "modeltiers"),
    "RoutingPolicy": ("tiergate.io/v1alpha1", "routingpolicies"),
    "Deployment": ("apps/v1", "deployments"),
    "Service": ("v1", "services"),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims"),
    "Pod": ("v1", "pods"),
    "Secret": ("v1", "secrets"),
    "Event": ("v1", "events"),
    "ScaledObject": ("keda.sh/v1alpha1", "scaledobjects"),
}
OWNED = ("deployments", "services", "persistentvolumeclaims", "scaledobjects")


class Cluster(abc.ABC):
    """What a test needs of a cluster; the emulator and a real cluster answer the same way."""

    namespace: str
    kubeconfig: str
    emulated: bool
    timeout: float
    workload_image: str | None = None
    """An image that really serves /health (real clusters only); None keeps the operator's default."""

    @abc.abstractmethod
    async def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def get(self, kind: str, name: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def delete(self, kind: str, name: str) -> None: ...

    @abc.abstractmethod
    async def list(self, kind: str, label_selector: str = "") -> list[dict[str, Any]]: ...

    async def events_about(self, name: str) -> list[dict[str, Any]]:
        """Events whose involved object has this name, oldest first."""
        events = [e for e in await self.list("Event") if e.get("involvedObject", {}).get("name") == name]
        return sorted(events, key=lambda e: e.get("metadata", {}).get("creationTimestamp") or "")

    async def event_reasons(self, name: str) -> list[str]:
        return [e.get("reason", "") for e in await self.events_about(name)]

    async def wait_for(self, check: Callable[[], Awaitable[T | None]], *, timeout: float | None = None) -> T:
        """Poll an async check until it returns something truthy."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{getattr(check, '__name__', 'check')} did not come true in time")
            await asyncio.sleep(0.05 if self.emulated else 1.0)

    async def condition(self, kind: str, name: str, type_: str) -> dict[str, Any] | None:
        obj = await self.get(kind, name)
        for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
            if condition["type"] == type_:
                return condition
        return None

    async def wait_condition(self, kind: str, name: str, type_: str, status: str, reason: str | None = None) -> dict:
        async def matches() -> dict[str, Any] | None:
            found = await self.condition(kind, name, type_)
            ok = found is not None and found["status"] == status and (reason is None or found["reason"] == reason)
            return found if ok else None

        matches.__name__ = f"{kind}/{name} {type_}={status} {reason or ''}"
        return await self.wait_for(matches)

    async def wait_gone(self, kind: str, name: str) -> None:
        async def gone() -> bool:
            return await self.get(kind, name) is None

        gone.__name__ = f"{kind}/{name} deleted"
        await self.wait_for(gone)

    async def wait_event(self, name: str, reason: str) -> dict[str, Any]:
        async def posted() -> dict[str, Any] | None:
            return next((e for e in await self.events_about(name) if e.get("reason") == reason), None)

        posted.__name__ = f"event {reason} on {name}"
        return await self.wait_for(posted)

    # -- playing the controllers' part (the emulator only; a real cluster does it itself) ------

    async def simulate_rollout(self, tier: str, *, ready: int) -> None:  # noqa: B027 -- a no-op on real clusters
        """What the Deployment controller reports once `ready` pods serve."""

    async def simulate_pod(  # noqa: B027 -- a no-op on real clusters
        self, tier: str, *, waiting: str | None = None, unschedulable: str | None = None
    ) -> None:
        """A pod of the tier stuck the way a kubelet or the scheduler would report it."""

    # -- KEDA ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def keda_installed(self) -> bool:
        """Whether the cluster serves KEDA's ScaledObjects."""

    async def install_keda(self) -> None:  # noqa: B027 -- a real cluster has KEDA or not
        """Serve KEDA's ScaledObjects from now on, as `helm install keda` would (the emulator only)."""

    @abc.abstractmethod
    async def scale(self, deployment: str, replicas: int) -> dict[str, Any]:
        """Set a Deployment's replicas through its `/scale` subresource, as KEDA's HPA does; returns the Scale."""

    async def simulate_keda(  # noqa: B027 -- a no-op on real clusters
        self, tier: str, *, ready: bool, reason: str = "ScaledObjectReady", message: str = ""
    ) -> None:
        """What KEDA reports on the tier's ScaledObject once it took it up (or failed to)."""

    # -- what was written (the emulator records requests; a real cluster cannot) ---------------

    def clear_requests(self) -> None:  # noqa: B027 -- a no-op on real clusters
        """Start counting writes afresh."""

    def writes(self, resources: tuple[str, ...] = OWNED) -> list[Any] | None:
        """Writes to these resources since `clear_requests` (None: unknown on a real cluster)."""
        return None


class EmulatedCluster(Cluster):
    """The Kubernetes API emulator (a test double; see tests/harness)."""

    emulated = True
    timeout = 10.0

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self.namespace = "default"
        self.kubeconfig = str(emulator.kubeconfig_path)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.emulator.create(obj, namespace=self.namespace)

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.emulator.get(KINDS[kind][1], name, namespace=self.namespace)

    async def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.emulator.patch(KINDS[kind][1], name, patch, namespace=self.namespace)

    async def delete(self, kind: str, name: str) -> None:
        self.emulator.delete(KINDS[kind][1], name, namespace=self.namespace)

    async def list(self, kind: str, label_selector: str = "") -> list[dict[str, Any]]:
        return self.emulator.list_objects(KINDS[kind][1], namespace=self.namespace, label_selector=label_selector)

    async def keda_installed(self) -> bool:
        return any(r.group == "keda.sh" for r in self.emulator.api.registry)

    async def install_keda(self) -> None:
        self.emulator.load_crds(KEDA_CRD)

    async def scale(self, deployment: str, replicas: int) -> dict[str, Any]:
        path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{deployment}/scale"
        async with httpx.AsyncClient(base_url=self.emulator.url, timeout=10) as http:
            answer = await http.patch(path, json={"spec": {"replicas": replicas}},
                                      headers={"Content-Type": "application/merge-patch+json"})
        answer.raise_for_status()
        return answer.json()

    async def simulate_keda(self, tier: str, *, ready: bool, reason: str = "ScaledObjectReady",
                            message: str = "") -> None:
        status = {"conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "reason": reason,
             "message": message or ("ScaledObject is defined correctly and is ready for scaling" if ready else "")},
            {"type": "Active", "status": "False", "reason": "ScalerNotActive", "message": "no demand"},
        ]}
        self.emulator.set_status("scaledobjects", workload_name(tier), status, namespace=self.namespace)

    async def simulate_rollout(self, tier: str, *, ready: int) -> None:
        name = workload_name(tier)
        deployment = await self.get("Deployment", name)
        assert deployment is not None, f"no Deployment {name} to roll out"
        desired = deployment["spec"]["replicas"]
        available = "True" if ready >= desired else "False"
        status = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": desired,
            "updatedReplicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": available, "reason": "MinimumReplicasAvailable", "message": "sim"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "sim"},
            ],
        }
        self.emulator.set_status("deployments", name, status, namespace=self.namespace)

    async def simulate_pod(self, tier: str, *, waiting: str | None = None, unschedulable: str | None = None) -> None:
        deployment = await self.get("Deployment", workload_name(tier))
        if deployment is not None and not (deployment.get("status") or {}).get("observedGeneration"):
            await self.simulate_rollout(tier, ready=0)  # pods exist only once the controller has acted
        status: dict[str, Any] = {"phase": "Pending", "conditions": []}
        if unschedulable is not None:
            status["conditions"].append(
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
            )
        if waiting is not None:
            status["containerStatuses"] = [
                {"name": "vllm", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": waiting}}}
            ]
        labels = {**selector_labels(tier), LABEL_MANAGED_BY: MANAGED_BY, LABEL_TIER: label_value(tier)}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{workload_name(tier)}-{uuid.uuid4().hex[:5]}", "labels": labels},
            "spec": {"containers": [{"name": "vllm", "image": "vllm"}]},
            "status": status,
        }
        await self.create(pod)

    def clear_requests(self) -> None:
        self.emulator.clear_requests()

    def writes(self, resources: tuple[str, ...] = OWNED) -> list[Any] | None:
        return [r for r in self.emulator.writes() if r.resource in resources]


class RealCluster(Cluster):
    """The cluster of a kubeconfig, in a namespace of its own (the e2e run)."""

    emulated = False
    timeout = 240.0

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        from kubernetes import config, dynamic

        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.client = dynamic.DynamicClient(config.new_client_from_config(config_file=kubeconfig))
        self.workload_image = os.environ.get("TIERGATE_E2E_VLLM_IMAGE") or None

    def _api(self, kind: str) -> Any:
        api_version, _ = KINDS.get(kind, ("v1", ""))
        return self.client.resources.get(api_version=api_version, kind=kind)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        api = self._api(obj["kind"])
        body = {k: v for k, v in obj.items() if k != "status"}
        created = await self._call(api.create, body=body, namespace=self.namespace)
        return created.to_dict()

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            found = await self._call(self._api(kind).get, name=name, namespace=self.namespace)
        except NotFoundError:
            return None
        return found.to_dict()

    async def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        api = self._api(kind)
        patched = await self._call(
            api.patch, name=name, namespace=self.namespace, body=patch, content_type="application/merge-patch+json"
        )
        return patched.to_dict()

    async def delete(self, kind: str, name: str) -> None:
        await self._call(self._api(kind).delete, name=name, namespace=self.namespace)

    async def list(self, kind: str, label_selector: str = "") -> list[dict[str, Any]]:
        found = await self._call(self._api(kind).get, namespace=self.namespace, label_selector=label_selector or None)
        return [item.to_dict() for item in found.items]

    async def keda_installed(self) -> bool:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            await self._call(self.client.resources.get, api_version="keda.sh/v1alpha1", kind="ScaledObject")
        except ResourceNotFoundError:
            return False
        return True

    async def scale(self, deployment: str, replicas: int) -> dict[str, Any]:
        from kubernetes import client

        apps = client.AppsV1Api(self.client.client)
        body = {"spec": {"replicas": replicas}}
        scaled = await self._call(apps.patch_namespaced_deployment_scale, deployment, self.namespace, body)
        return dict(self.client.client.sanitize_for_serialization(scaled))

    def create_namespace(self) -> None:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        self._api("Namespace").create(body=namespace)

    def delete_namespace(self) -> None:
        """Delete the test namespace; tiers and policies left behind first lose the operator's finalizer."""
        for kind in ("ModelTier", "RoutingPolicy"):
            api = self._api(kind)
            with contextlib.suppress(Exception):
                for item in api.get(namespace=self.namespace).items:
                    patch = {"metadata": {"finalizers": None}}
                    api.patch(
                        name=item.metadata.name,
                        namespace=self.namespace,
                        body=patch,
                        content_type="application/merge-patch+json",
                    )
        with contextlib.suppress(Exception):
            self._api("Namespace").delete(name=self.namespace)


def real_kubeconfig() -> str | None:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return path if Path(path).is_file() else None


@contextlib.contextmanager
def running_operator(cluster: Cluster, config: OperatorConfig) -> Iterator[kopf.Memo]:
    """The operator of `tiergate operator`, watching the cluster's test namespace, in a thread of its own.

    The operator gets its own event loop, as in production: Kopf 1.45 cancels every task
    created in its loop after it started (it cannot tell its own from others), which
    would include a test's teardown if they shared one.
    """
    memo = kopf.Memo(config=config, kubeconfig=cluster.kubeconfig)
    stop, ready = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(
                kopf.operator(
                    registry=registry,
                    settings=kopf.OperatorSettings(),
                    memo=memo,
                    standalone=True,
                    namespaces=[cluster.namespace],
                    stop_flag=stop,
                    ready_flag=ready,
                )
            )
        except BaseException as exc:  # handed over to the test
            failures.append(exc)

    thread = threading.Thread(target=serve, name="tiergate-operator", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not ready.wait(0.05):
            if not thread.is_alive() or time.monotonic() > deadline:
                break
        if failures:
            raise failures[0]
        assert ready.is_set(), "the operator did not start within 15 s"
        yield memo
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive(), "the operator did not stop within 20 s"
    if failures:
        raise failures[0]  # a crash of the operator fails the test
