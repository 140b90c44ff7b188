"""The status subresource, for custom resources and Deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from harness import RunningEmulator

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}


def _deployment(name: str = "d", replicas: int = 1, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            **extra}


def test_status_write_changes_only_status(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    http.post(WIDGETS, json=widget("w"))
    sneaky = {"spec": {"replicas": 7}, "metadata": {"labels": {"x": "y"}}, "status": {"phase": "Ready"}}
    updated = http.patch(f"{WIDGETS}/w/status", json=sneaky, headers=MERGE).json()
    assert updated["status"] == {"phase": "Ready"}
    assert updated["spec"]["replicas"] == 1
    assert "labels" not in updated["metadata"]


def test_put_to_status_replaces_status_and_ignores_the_rest(http: httpx.Client,
                                                            widget: Callable[..., dict[str, Any]]) -> None:
    created = http.post(WIDGETS, json=widget("w")).json()
    body = {**created, "spec": {**created["spec"], "model": "other"}, "status": {"phase": "Pending"}}
    updated = http.put(f"{WIDGETS}/w/status", json=body).json()
    assert updated["status"] == {"phase": "Pending"} and updated["spec"]["model"] == "qwen"


def test_main_resource_write_ignores_status(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    http.post(WIDGETS, json=widget("w"))
    http.patch(f"{WIDGETS}/w/status", json={"status": {"phase": "Ready"}}, headers=MERGE)
    updated = http.patch(f"{WIDGETS}/w", json={"spec": {"replicas": 2}, "status": {"phase": "Hacked"}},
                         headers=MERGE).json()
    assert updated["spec"]["replicas"] == 2 and updated["status"] == {"phase": "Ready"}


def test_create_drops_status_where_there_is_a_status_subresource(http: httpx.Client,
                                                                 widget: Callable[..., dict[str, Any]]) -> None:
    created = http.post(WIDGETS, json={**widget("w"), "status": {"phase": "Ready"}}).json()
    assert "status" not in created
    gadget = {"apiVersion": "test.tiergate.io/v1", "kind": "Gadget", "metadata": {"name": "g"}, "status": {"a": 1}}
    assert http.post("/apis/test.tiergate.io/v1/gadgets", json=gadget).json()["status"] == {"a": 1}


def test_deployments_have_a_status_subresource(http: httpx.Client) -> None:
    created = http.post(DEPLOYMENTS, json={**_deployment(), "status": {"readyReplicas": 1}}).json()
    assert "status" not in created
    ready = http.patch(f"{DEPLOYMENTS}/d/status", json={"status": {"readyReplicas": 1, "replicas": 1}},
                       headers=MERGE).json()
    assert ready["status"]["readyReplicas"] == 1
    scaled = http.patch(f"{DEPLOYMENTS}/d", json={"spec": {"replicas": 3}, "status": {"readyReplicas": 0}},
                        headers=MERGE).json()
    assert scaled["spec"]["replicas"] == 3 and scaled["status"]["readyReplicas"] == 1
    assert scaled["metadata"]["generation"] == 2


def test_status_of_a_resource_without_the_subresource_is_not_found(http: httpx.Client) -> None:
    http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "c"}})
    assert http.get("/api/v1/namespaces/default/configmaps/c/status").status_code == 404
    assert http.patch("/apis/test.tiergate.io/v1/gadgets/g/status", json={}, headers=MERGE).status_code == 404


def test_create_helper_seeds_status_through_the_subresource(kube_emulator: RunningEmulator) -> None:
    created = kube_emulator.create({**_deployment(), "status": {"readyReplicas": 1}})
    assert created["status"] == {"readyReplicas": 1}
    assert kube_emulator.get("deployments", "d")["status"] == {"readyReplicas": 1}
