"""The `scale` subresource of Deployments, and KEDA's API appearing when its CRD is installed.

Autoscalers (KEDA's HPA, the gateway waking a cold tier) write a Deployment's replica count
through `/scale`, never the whole object; these tests pin what they rely on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from harness import RunningEmulator

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
SCALE = f"{DEPLOYMENTS}/web/scale"
MERGE = {"Content-Type": "application/merge-patch+json"}
KEDA_CRD = Path(__file__).resolve().parents[1] / "data" / "crds" / "keda.sh_scaledobjects.yaml"


def deployment(replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }


@pytest.fixture
def web(kube_emulator: RunningEmulator) -> dict[str, Any]:
    """A Deployment of two replicas, as its controller last reported it."""
    kube_emulator.create(deployment())
    return kube_emulator.set_status("deployments", "web", {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1})


def test_get_scale_shows_replicas_status_selector_and_the_deployments_version(
    http: httpx.Client, web: dict[str, Any]
) -> None:
    scale = http.get(SCALE).json()
    assert scale == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {key: web["metadata"][key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                             "creationTimestamp")},
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "selector": "app=web"},
    }


def test_put_scale_sets_replicas_and_nothing_else(http: httpx.Client, kube_emulator: RunningEmulator,
                                                  web: dict[str, Any]) -> None:
    current = http.get(SCALE).json()
    answer = http.put(SCALE, json={**current, "spec": {"replicas": 0}})
    assert answer.status_code == 200
    assert answer.json()["spec"] == {"replicas": 0}
    stored = kube_emulator.get("deployments", "web")
    assert stored is not None and stored["spec"]["replicas"] == 0
    assert stored["spec"]["template"] == web["spec"]["template"] and stored["status"] == web["status"]
    assert int(stored["metadata"]["resourceVersion"]) > int(web["metadata"]["resourceVersion"])
    assert stored["metadata"]["generation"] == web["metadata"]["generation"] + 1  # as for any spec change
    assert answer.json()["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_put_scale_with_a_stale_resource_version_is_a_conflict(http: httpx.Client, kube_emulator: RunningEmulator,
                                                               web: dict[str, Any]) -> None:
    stale = http.get(SCALE).json()
    kube_emulator.scale("deployments", "web", 3)  # someone else scaled in between
    answer = http.put(SCALE, json={**stale, "spec": {"replicas": 1}})
    assert answer.status_code == 409
    assert answer.json()["reason"] == "Conflict"
    assert answer.json()["message"] == ('Operation cannot be fulfilled on deployments.apps "web": the object has '
                                        "been modified; please apply your changes to the latest version and try again")
    assert kube_emulator.get("deployments", "web")["spec"]["replicas"] == 3  # type: ignore[index]
    unconditional = http.put(SCALE, json={"spec": {"replicas": 1}})  # no resourceVersion: last write wins
    assert unconditional.status_code == 200 and unconditional.json()["spec"]["replicas"] == 1


def test_merge_and_json_patches_of_scale(http: httpx.Client, kube_emulator: RunningEmulator,
                                         web: dict[str, Any]) -> None:
    merged = http.patch(SCALE, json={"spec": {"replicas": 1}}, headers=MERGE)
    assert merged.status_code == 200 and merged.json()["spec"]["replicas"] == 1
    replaced = http.patch(SCALE, json=[{"op": "replace", "path": "/spec/replicas", "value": 4}],
                          headers={"Content-Type": "application/json-patch+json"})
    assert replaced.status_code == 200 and replaced.json()["spec"]["replicas"] == 4
    strategic = http.patch(SCALE, json={"spec": {"replicas": 5}},
                           headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert strategic.status_code == 200
    assert kube_emulator.get("deployments", "web")["spec"]["replicas"] == 5  # type: ignore[index]
    stale = {"metadata": {"resourceVersion": web["metadata"]["resourceVersion"]}, "spec": {"replicas": 0}}
    assert http.patch(SCALE, json=stale, headers=MERGE).status_code == 409


def test_scale_writes_are_deployment_versions_and_dry_runs_change_nothing(
    http: httpx.Client, kube_emulator: RunningEmulator, web: dict[str, Any]
) -> None:
    dry = http.patch(f"{SCALE}?dryRun=All", json={"spec": {"replicas": 7}}, headers=MERGE)
    assert dry.status_code == 200 and dry.json()["spec"]["replicas"] == 7
    assert kube_emulator.get("deployments", "web")["spec"]["replicas"] == 2  # type: ignore[index]
    http.patch(SCALE, json={"spec": {"replicas": 0}}, headers=MERGE)
    history = kube_emulator.history("deployments", "web")
    assert [version["spec"]["replicas"] for version in history if version] == [2, 2, 0]  # create, status, scale
    [request] = kube_emulator.writes("deployments")[-1:]
    assert (request.verb, request.subresource) == ("patch", "scale")


def test_bad_scales_are_refused_in_the_servers_words(http: httpx.Client, web: dict[str, Any]) -> None:
    negative = http.patch(SCALE, json={"spec": {"replicas": -1}}, headers=MERGE)
    assert negative.status_code == 422
    assert negative.json()["message"] == ('Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
                                          "must be greater than or equal to 0")
    wrong_kind = http.put(SCALE, json={"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}})
    assert wrong_kind.status_code == 400
    assert http.get(f"{DEPLOYMENTS}/missing/scale").status_code == 404
    assert http.get("/api/v1/namespaces/default/configmaps/x/scale").status_code == 404  # no such subresource
    assert http.delete(SCALE).status_code == 405


def test_discovery_lists_the_scale_subresource_as_kubectl_looks_it_up(http: httpx.Client) -> None:
    resources = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    scale = resources["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert set(scale["verbs"]) == {"get", "patch", "update"}
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    groups = http.get("/apis", headers={"Accept": accept}).json()["items"]
    [apps] = [g for g in groups if g["metadata"]["name"] == "apps"]
    [entry] = [r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments"]
    subresources = {s["subresource"]: s["responseKind"] for s in entry["subresources"]}
    assert subresources["scale"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_the_official_client_reads_and_writes_scale(api_client: kubernetes.client.ApiClient,
                                                    web: dict[str, Any]) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    patched = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    assert patched.spec.replicas == 0
    scale.spec.replicas = 1  # read before the patch: its resourceVersion is stale now
    with pytest.raises(kubernetes.client.ApiException) as refused:
        apps.replace_namespaced_deployment_scale("web", "default", scale)
    assert refused.value.status == 409


def test_installing_kedas_crd_makes_discovery_serve_scaled_objects(http: httpx.Client,
                                                                   kube_emulator: RunningEmulator) -> None:
    assert http.get("/apis/keda.sh/v1alpha1").status_code == 404
    kube_emulator.load_crds(KEDA_CRD)
    listing = http.get("/apis/keda.sh/v1alpha1")
    assert listing.status_code == 200
    names = {r["name"] for r in listing.json()["resources"]}
    assert names == {"scaledobjects", "scaledobjects/status"}
