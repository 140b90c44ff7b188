"""Owner-reference garbage collection and namespace deletion."""

from __future__ import annotations

from typing import Any

import httpx

from harness import RunningEmulator


def _owned(kind: str, api_version: str, name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    refs = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True} for o in owners]
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "ownerReferences": refs}}


def _widget(name: str) -> dict[str, Any]:
    return {"apiVersion": "test.tiergate.io/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"model": "m", "size": "1B", "vllm": {}}}


def test_deleting_an_owner_deletes_its_dependents_cascading(kube_emulator: RunningEmulator) -> None:
    owner = kube_emulator.create(_widget("w"))
    deployment = kube_emulator.create(_owned("Deployment", "apps/v1", "w-vllm", owner))
    kube_emulator.create(_owned("Service", "v1", "w-svc", owner))
    kube_emulator.create(_owned("ConfigMap", "v1", "grandchild", deployment))
    kube_emulator.create(_owned("ConfigMap", "v1", "unrelated"))
    kube_emulator.delete("widgets", "w")
    assert kube_emulator.get("deployments", "w-vllm") is None
    assert kube_emulator.get("services", "w-svc") is None
    assert kube_emulator.get("configmaps", "grandchild") is None
    assert kube_emulator.get("configmaps", "unrelated") is not None


def test_dependents_wait_for_the_owners_finalizers(kube_emulator: RunningEmulator) -> None:
    owner_body = _widget("w")
    owner_body["metadata"]["finalizers"] = ["x.example.com/hold"]
    owner = kube_emulator.create(owner_body)
    kube_emulator.create(_owned("ConfigMap", "v1", "child", owner))
    kube_emulator.delete("widgets", "w")
    assert kube_emulator.get("configmaps", "child") is not None
    kube_emulator.patch("widgets", "w", {"metadata": {"finalizers": None}})
    assert kube_emulator.get("configmaps", "child") is None


def test_orphan_propagation_keeps_dependents_without_the_reference(kube_emulator: RunningEmulator,
                                                                   http: httpx.Client) -> None:
    owner = kube_emulator.create(_widget("w"))
    kube_emulator.create(_owned("ConfigMap", "v1", "child", owner))
    http.request("DELETE", "/apis/test.tiergate.io/v1/namespaces/default/widgets/w",
                 json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    child = kube_emulator.get("configmaps", "child")
    assert child is not None and "ownerReferences" not in child["metadata"]


def test_a_dependent_with_another_live_owner_survives(kube_emulator: RunningEmulator) -> None:
    first, second = kube_emulator.create(_widget("a")), kube_emulator.create(_widget("b"))
    kube_emulator.create(_owned("ConfigMap", "v1", "shared", first, second))
    kube_emulator.delete("widgets", "a")
    shared = kube_emulator.get("configmaps", "shared")
    assert shared is not None
    assert [ref["name"] for ref in shared["metadata"]["ownerReferences"]] == ["b"]
    kube_emulator.delete("widgets", "b")
    assert kube_emulator.get("configmaps", "shared") is None


def test_deleting_a_namespace_deletes_what_is_in_it(kube_emulator: RunningEmulator) -> None:
    kube_emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team"}})
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    kube_emulator.delete("namespaces", "team")
    assert kube_emulator.get("configmaps", "c", namespace="team") is None
    assert kube_emulator.get("configmaps", "c") is not None
