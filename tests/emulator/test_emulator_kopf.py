"""Kopf end to end: an operator starts, reconciles a custom resource, adopts a child, patches status."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import kubernetes
import pytest

from harness import RunningEmulator


@pytest.fixture
def kopf_kubeconfig(kube_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point Kopf's normal kubeconfig login (and any client) at the emulator."""
    monkeypatch.setenv("KUBECONFIG", str(kube_emulator.kubeconfig_path))
    return str(kube_emulator.kubeconfig_path)


def _registry(kubeconfig: str) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.create("test.tiergate.io", "v1", "widgets", registry=registry)
    def create_config(body: kopf.Body, name: str, namespace: str, patch: kopf.Patch, **_: Any) -> None:
        child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config"},
                 "data": {"model": body["spec"]["model"]}}
        kopf.adopt(child)
        with kubernetes.config.new_client_from_config(config_file=kubeconfig) as api:
            kubernetes.client.CoreV1Api(api).create_namespaced_config_map(namespace, child)
        # Only declared status fields survive pruning; a handler's return value would not.
        patch.status["phase"] = "Ready"
        kopf.info(body, reason="Configured", message=f"created {child['metadata']['name']}")

    return registry


async def test_kopf_operator_reconciles_against_the_emulator(kube_emulator: RunningEmulator,
                                                             kopf_kubeconfig: str) -> None:
    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 10
    stop, ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(kopf.operator(
        registry=_registry(kopf_kubeconfig), settings=settings, standalone=True, namespaces=["default"],
        stop_flag=stop, ready_flag=ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=10)
        widget = kube_emulator.create({"apiVersion": "test.tiergate.io/v1", "kind": "Widget",
                                       "metadata": {"name": "w"}, "spec": {"model": "qwen", "size": "1.5B",
                                                                           "vllm": {}}})

        def reconciled() -> dict[str, Any] | None:
            current = kube_emulator.get("widgets", "w")
            return current if current and current.get("status", {}).get("phase") == "Ready" else None

        await kube_emulator.wait_for(reconciled, timeout=15)
        child = kube_emulator.get("configmaps", "w-config")
        assert child is not None and child["data"] == {"model": "qwen"}
        [owner] = child["metadata"]["ownerReferences"]
        assert owner["uid"] == widget["metadata"]["uid"] and owner["kind"] == "Widget"

        watches = [r for r in kube_emulator.requests if r.verb == "watch"]
        assert any(r.resource == "widgets" for r in watches)
        assert any(r.verb == "patch" and r.subresource == "status" for r in kube_emulator.writes("widgets"))
        events = await kube_emulator.wait_for(lambda: kube_emulator.list_objects("events"), timeout=5)
        assert [(event["reason"], event["message"]) for event in events] == [("Configured", "created w-config")]
    finally:
        stop.set()
        await asyncio.wait_for(operator, timeout=10)

    kube_emulator.delete("widgets", "w")  # no deletion handlers, so Kopf set no finalizer
    assert kube_emulator.get("configmaps", "w-config") is None  # the adopted child is collected
