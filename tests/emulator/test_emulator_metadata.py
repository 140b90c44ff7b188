"""ObjectMeta bookkeeping: uid, resourceVersion, generation, timestamps, names."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from harness import RunningEmulator

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}


def test_assigns_uid_creation_timestamp_and_generation_on_create(http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json={"metadata": {"name": "a", "uid": "forged"}, "data": {"k": "v"}}).json()
    meta = created["metadata"]
    assert uuid.UUID(meta["uid"]) and meta["uid"] != "forged"
    assert meta["generation"] == 1
    stamp = datetime.datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(stamp - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)) < datetime.timedelta(minutes=1)
    assert created["apiVersion"] == "v1" and created["kind"] == "ConfigMap"


def test_resource_versions_are_one_global_increasing_counter_rendered_as_strings(http: httpx.Client) -> None:
    first = http.post(CONFIGMAPS, json={"metadata": {"name": "a"}}).json()["metadata"]["resourceVersion"]
    second = http.post("/api/v1/namespaces/kube-system/secrets", json={"metadata": {"name": "b"}}).json()
    third = http.patch(f"{CONFIGMAPS}/a", json={"data": {"x": "y"}}, headers=MERGE).json()
    versions = [first, second["metadata"]["resourceVersion"], third["metadata"]["resourceVersion"]]
    assert all(isinstance(v, str) for v in versions)
    assert [int(v) for v in versions] == sorted(int(v) for v in versions)
    assert len(set(versions)) == 3
    assert int(http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]) >= int(versions[-1])


def test_honours_generate_name(http: httpx.Client) -> None:
    names = {http.post(CONFIGMAPS, json={"metadata": {"generateName": "cfg-"}}).json()["metadata"]["name"]
             for _ in range(3)}
    assert len(names) == 3
    assert all(name.startswith("cfg-") and len(name) == len("cfg-") + 5 for name in names)


def test_requires_a_name_or_generate_name(http: httpx.Client) -> None:
    response = http.post(CONFIGMAPS, json={"metadata": {}})
    assert response.status_code == 422
    assert "metadata.name: Required value" in response.json()["message"]


def test_rejects_names_that_are_not_dns_subdomains(http: httpx.Client) -> None:
    response = http.post(CONFIGMAPS, json={"metadata": {"name": "Bad_Name"}})
    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_rejects_resource_version_on_create(http: httpx.Client) -> None:
    response = http.post(CONFIGMAPS, json={"metadata": {"name": "a", "resourceVersion": "5"}})
    assert response.status_code == 500
    assert response.json()["message"] == "resourceVersion should not be set on objects to be created"


def test_generation_bumps_on_spec_change_only(kube_emulator: RunningEmulator,
                                               widget: Callable[..., dict[str, Any]]) -> None:
    created = kube_emulator.create(widget("w"))
    assert created["metadata"]["generation"] == 1

    labelled = kube_emulator.patch("widgets", "w", {"metadata": {"labels": {"team": "a"}}})
    assert labelled["metadata"]["generation"] == 1
    with_status = kube_emulator.patch("widgets", "w", {"status": {"phase": "Ready"}}, subresource="status")
    assert with_status["metadata"]["generation"] == 1
    respec = kube_emulator.patch("widgets", "w", {"spec": {"replicas": 3}})
    assert respec["metadata"]["generation"] == 2
    assert int(respec["metadata"]["resourceVersion"]) > int(with_status["metadata"]["resourceVersion"])


def test_generation_bumps_on_any_non_metadata_change_without_status_subresource(
        kube_emulator: RunningEmulator) -> None:
    kube_emulator.create({"apiVersion": "test.tiergate.io/v1", "kind": "Gadget",
                          "metadata": {"name": "g"}, "spec": {"a": 1}})
    assert kube_emulator.patch("gadgets", "g", {"status": {"ok": True}})["metadata"]["generation"] == 2
    assert kube_emulator.patch("gadgets", "g", {"metadata": {"annotations": {"x": "y"}}})["metadata"]["generation"] == 2


def test_no_op_write_keeps_the_resource_version_and_history(kube_emulator: RunningEmulator,
                                                             http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"k": "v"}}).json()
    again = http.patch(f"{CONFIGMAPS}/a", json={"data": {"k": "v"}}, headers=MERGE).json()
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert len(kube_emulator.history("configmaps", "a")) == 1


def test_update_cannot_change_system_metadata(http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json={"metadata": {"name": "a"}}).json()
    replaced = http.put(f"{CONFIGMAPS}/a", json={"metadata": {"name": "a", "uid": "x", "generation": 9,
                                                              "creationTimestamp": "2000-01-01T00:00:00Z"}}).json()
    for key in ("uid", "generation", "creationTimestamp"):
        assert replaced["metadata"][key] == created["metadata"][key]


def test_strips_unknown_object_meta_fields(http: httpx.Client) -> None:
    body = {"metadata": {"name": "a", "nonsense": 1}, "data": {}}
    assert "nonsense" not in http.post(CONFIGMAPS, json=body).json()["metadata"]


def test_custom_resources_get_api_version_and_kind_filled(http: httpx.Client) -> None:
    created = http.post(WIDGETS, json={"metadata": {"name": "w"}, "spec": {"model": "m", "size": "1B", "vllm": {}}})
    assert created.status_code == 201
    assert created.json()["apiVersion"] == "test.tiergate.io/v1" and created.json()["kind"] == "Widget"
    mismatched = http.post(WIDGETS, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert mismatched.status_code == 400
