"""The verbs: GET/LIST, POST, PUT, PATCH (four content types), DELETE."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import kubernetes
import pytest

from harness import RunningEmulator

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"


def _patch(http: httpx.Client, path: str, body: Any, content_type: str) -> httpx.Response:
    payload = body if isinstance(body, str) else json.dumps(body)
    return http.patch(path, content=payload, headers={"Content-Type": content_type})


def test_post_answers_201_then_409_already_exists(http: httpx.Client) -> None:
    assert http.post(CONFIGMAPS, json={"metadata": {"name": "a"}}).status_code == 201
    again = http.post(CONFIGMAPS, json={"metadata": {"name": "a"}})
    assert again.status_code == 409
    assert again.json()["reason"] == "AlreadyExists"
    assert again.json()["message"] == 'configmaps "a" already exists'


def test_get_of_a_missing_object_answers_404_not_found(http: httpx.Client) -> None:
    response = http.get(f"{WIDGETS}/nope")
    assert response.status_code == 404
    assert response.json()["message"] == 'widgets.test.tiergate.io "nope" not found'


def test_put_replaces_and_answers_409_on_a_stale_resource_version(http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}}).json()
    replaced = http.put(f"{CONFIGMAPS}/a", json={**created, "data": {"x": "3"}})
    assert replaced.status_code == 200 and replaced.json()["data"] == {"x": "3"}
    stale = http.put(f"{CONFIGMAPS}/a", json={**created, "data": {"x": "4"}})
    assert stale.status_code == 409
    assert stale.json()["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]
    assert http.put(f"{CONFIGMAPS}/missing", json={"metadata": {"name": "missing"}}).status_code == 404


def test_merge_patch_merges_maps_replaces_lists_and_deletes_nulls(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a", "labels": {"x": "1", "y": "2"},
                                             "finalizers": ["a/b"]}, "data": {"k": "v"}})
    patched = _patch(http, f"{CONFIGMAPS}/a", {"metadata": {"labels": {"y": None, "z": "3"}, "finalizers": []},
                                               "data": {"n": "m"}}, "application/merge-patch+json").json()
    assert patched["metadata"]["labels"] == {"x": "1", "z": "3"}
    assert patched["metadata"]["finalizers"] == []
    assert patched["data"] == {"k": "v", "n": "m"}


def test_json_patch_applies_operations(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"k": "v"}})
    ops = [{"op": "add", "path": "/data/n", "value": "m"}, {"op": "remove", "path": "/data/k"}]
    assert _patch(http, f"{CONFIGMAPS}/a", ops, "application/json-patch+json").json()["data"] == {"n": "m"}
    failing = [{"op": "test", "path": "/data/n", "value": "other"}]
    assert _patch(http, f"{CONFIGMAPS}/a", failing, "application/json-patch+json").status_code == 422


def test_patch_carrying_a_stale_resource_version_answers_409(http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json={"metadata": {"name": "a"}}).json()
    http.patch(f"{CONFIGMAPS}/a", json={"data": {"x": "1"}}, headers={"Content-Type": "application/merge-patch+json"})
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"x": "2"}}
    assert _patch(http, f"{CONFIGMAPS}/a", stale, "application/merge-patch+json").status_code == 409


def test_strategic_merge_patch_is_applied_as_a_merge(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"k": "v"}})
    patch = {"data": {"n": "m"}, "$retainKeys": ["data"]}
    patched = _patch(http, f"{CONFIGMAPS}/a", patch, "application/strategic-merge-patch+json").json()
    assert patched["data"] == {"k": "v", "n": "m"} and "$retainKeys" not in patched


def test_server_side_apply_creates_then_merges(http: httpx.Client) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v\n"
    created = http.patch(f"{CONFIGMAPS}/applied?fieldManager=tests", content=manifest,
                         headers={"Content-Type": "application/apply-patch+yaml"})
    assert created.status_code == 201 and created.json()["data"] == {"k": "v"}
    updated = http.patch(f"{CONFIGMAPS}/applied?fieldManager=tests&force=true", content=manifest.replace("v\n", "w\n"),
                         headers={"Content-Type": "application/apply-patch+yaml"})
    assert updated.status_code == 200 and updated.json()["data"] == {"k": "w"}


def test_unknown_patch_type_answers_415(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}})
    assert _patch(http, f"{CONFIGMAPS}/a", {}, "text/plain").status_code == 415


def test_patch_of_a_missing_object_answers_404(http: httpx.Client) -> None:
    assert _patch(http, f"{CONFIGMAPS}/nope", {}, "application/merge-patch+json").status_code == 404


def test_delete_answers_404_when_missing(http: httpx.Client) -> None:
    response = http.delete(f"{CONFIGMAPS}/nope")
    assert response.status_code == 404 and response.json()["reason"] == "NotFound"


def test_delete_returns_a_success_status_for_builtins_and_the_object_for_custom_resources(
        http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}})
    status = http.delete(f"{CONFIGMAPS}/a").json()
    assert status["kind"] == "Status" and status["status"] == "Success" and status["details"]["name"] == "a"
    http.post(WIDGETS, json=widget("w"))
    assert http.delete(f"{WIDGETS}/w").json()["kind"] == "Widget"
    assert http.get(f"{WIDGETS}/w").status_code == 404


def test_delete_collection_deletes_the_selected_objects(kube_emulator: RunningEmulator, http: httpx.Client) -> None:
    for name, tier in [("a", "x"), ("b", "x"), ("c", "y")]:
        http.post(CONFIGMAPS, json={"metadata": {"name": name, "labels": {"tier": tier}}})
    assert http.delete(CONFIGMAPS, params={"labelSelector": "tier=x"}).status_code == 200
    assert [cm["metadata"]["name"] for cm in kube_emulator.list_objects("configmaps")] == ["c"]


def test_lists_across_namespaces_on_the_cluster_wide_path(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}})
    http.post("/api/v1/namespaces/kube-system/configmaps", json={"metadata": {"name": "b"}})
    everywhere = http.get("/api/v1/configmaps").json()
    assert everywhere["kind"] == "ConfigMapList"
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]] == [
        ("default", "a"), ("kube-system", "b")]
    assert [i["metadata"]["name"] for i in http.get(CONFIGMAPS).json()["items"]] == ["a"]


def test_lists_in_pages_with_limit_and_continue(http: httpx.Client) -> None:
    for index in range(5):
        http.post(CONFIGMAPS, json={"metadata": {"name": f"cm-{index}"}})
    names, token, pages = [], "", 0
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        page = http.get(CONFIGMAPS, params=params).json()
        names += [item["metadata"]["name"] for item in page["items"]]
        pages += 1
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"cm-{i}" for i in range(5)] and pages == 3


def test_cluster_scoped_resources_reject_namespaced_paths(http: httpx.Client) -> None:
    gadget = {"apiVersion": "test.tiergate.io/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert http.post("/apis/test.tiergate.io/v1/namespaces/default/gadgets", json=gadget).status_code == 404
    created = http.post("/apis/test.tiergate.io/v1/gadgets", json={**gadget, "metadata": {"name": "g",
                                                                                          "namespace": "x"}})
    assert "namespace" not in created.json()["metadata"]


def test_official_client_round_trip(api_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    body = kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name="a"), data={"k": "v"})
    created = core.create_namespaced_config_map("default", body)
    assert created.metadata.uid and created.metadata.creation_timestamp
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "w"}})
    assert core.read_namespaced_config_map("a", "default").data == {"k": "w"}
    core.delete_namespaced_config_map("a", "default")
    with pytest.raises(kubernetes.client.ApiException) as error:
        core.read_namespaced_config_map("a", "default")
    assert error.value.status == 404
