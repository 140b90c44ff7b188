"""Discovery: the resources Kopf and the clients look up before they do anything."""

from __future__ import annotations

from pathlib import Path

import httpx
import kubernetes
import pytest

from harness import DEFAULT_CRD_FOLDER, RunningEmulator, load_crd_documents

CORE_RESOURCES = {"namespaces", "pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "events"}
GROUP_RESOURCES = {
    "apps/v1": {"deployments"},
    "events.k8s.io/v1": {"events"},
    "coordination.k8s.io/v1": {"leases"},
    "apiextensions.k8s.io/v1": {"customresourcedefinitions"},
    "kopf.dev/v1": {"kopfpeerings", "clusterkopfpeerings"},
    "test.tiergate.io/v1": {"widgets", "gadgets"},
}


def test_serves_core_group_discovery_with_builtin_resources(http: httpx.Client) -> None:
    assert http.get("/api").json()["versions"] == ["v1"]
    listing = http.get("/api/v1").json()
    assert listing["groupVersion"] == "v1"
    names = {resource["name"] for resource in listing["resources"]}
    assert names >= CORE_RESOURCES
    namespaces = next(r for r in listing["resources"] if r["name"] == "namespaces")
    assert namespaces["namespaced"] is False and namespaces["kind"] == "Namespace"
    assert {"list", "watch", "patch"} <= set(namespaces["verbs"])


def test_serves_group_discovery_for_builtin_and_custom_groups(http: httpx.Client) -> None:
    groups = {group["name"] for group in http.get("/apis").json()["groups"]}
    assert {gv.split("/")[0] for gv in GROUP_RESOURCES} <= groups
    for group_version, expected in GROUP_RESOURCES.items():
        listing = http.get(f"/apis/{group_version}").json()
        assert expected <= {resource["name"] for resource in listing["resources"]}, group_version


def test_advertises_custom_resources_with_status_subresource_and_names(http: httpx.Client) -> None:
    resources = {r["name"]: r for r in http.get("/apis/test.tiergate.io/v1").json()["resources"]}
    assert "widgets/status" in resources and "gadgets/status" not in resources
    assert resources["widgets"]["kind"] == "Widget"
    assert resources["widgets"]["shortNames"] == ["wd"]
    assert resources["widgets"]["categories"] == ["tiergate"]
    assert resources["widgets"]["namespaced"] is True
    assert resources["gadgets"]["namespaced"] is False


def test_unknown_group_answers_404(http: httpx.Client) -> None:
    assert http.get("/apis/nothing.example.com/v1").status_code == 404
    assert http.get("/apis/nothing.example.com/v1/things").status_code == 404


def test_crds_are_stored_objects_marked_established(kube_emulator: RunningEmulator) -> None:
    crd = kube_emulator.get("customresourcedefinitions", "widgets.test.tiergate.io")
    assert crd is not None
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"


def test_creating_a_crd_through_the_api_serves_its_resource(kube_emulator: RunningEmulator,
                                                            http: httpx.Client) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "sprockets.extra.example.com"},
        "spec": {"group": "extra.example.com", "scope": "Namespaced",
                 "names": {"plural": "sprockets", "singular": "sprocket", "kind": "Sprocket"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]},
    }
    assert http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd).status_code == 201
    assert "extra.example.com" in {g["name"] for g in http.get("/apis").json()["groups"]}
    sprocket = {"apiVersion": "extra.example.com/v1", "kind": "Sprocket", "metadata": {"name": "s"}}
    assert http.post("/apis/extra.example.com/v1/namespaces/default/sprockets", json=sprocket).status_code == 201

    deleted = http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sprockets.extra.example.com")
    assert deleted.status_code == 200
    assert "extra.example.com" not in {g["name"] for g in http.get("/apis").json()["groups"]}
    assert http.get("/apis/extra.example.com/v1/namespaces/default/sprockets/s").status_code == 404


def test_namespaces_paths_work_despite_kmock_path_parsing(http: httpx.Client) -> None:
    created = http.post("/api/v1/namespaces", json={"metadata": {"name": "team-a"}})
    assert created.status_code == 201
    assert {"default", "kube-system", "team-a"} <= {
        ns["metadata"]["name"] for ns in http.get("/api/v1/namespaces").json()["items"]}
    assert http.get("/api/v1/namespaces/team-a").json()["metadata"]["name"] == "team-a"
    assert http.patch("/api/v1/namespaces/team-a", json={"metadata": {"labels": {"a": "b"}}},
                      headers={"Content-Type": "application/merge-patch+json"}).status_code == 200
    assert http.put("/api/v1/namespaces/team-a/status",
                    json={"metadata": {"name": "team-a"}, "status": {"phase": "Active"}}).status_code == 200
    assert http.get("/api/v1/namespaces/team-a").json()["status"] == {"phase": "Active"}
    assert http.delete("/api/v1/namespaces/team-a").status_code == 200
    assert http.get("/api/v1/namespaces/team-a").status_code == 404


def test_official_client_reads_cluster_scoped_namespaces(api_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    assert "default" in {ns.metadata.name for ns in core.list_namespace().items}
    assert core.read_namespace("kube-system").metadata.uid


def test_loads_every_crd_in_a_folder(tmp_path: Path) -> None:
    folder = Path(__file__).parent / "crds"
    documents = load_crd_documents(folder)
    assert [doc["metadata"]["name"] for doc in documents] == ["widgets.test.tiergate.io", "gadgets.test.tiergate.io"]
    assert load_crd_documents(tmp_path / "missing") == []


@pytest.mark.skipif(not load_crd_documents(DEFAULT_CRD_FOLDER), reason="crds/ holds no CRDs yet")
def test_serves_every_crd_of_the_repository() -> None:
    documents = load_crd_documents(DEFAULT_CRD_FOLDER)
    with RunningEmulator(crds=documents) as emulator, httpx.Client(base_url=emulator.url) as http:
        for crd in documents:
            for version in crd["spec"]["versions"]:
                listing = http.get(f"/apis/{crd['spec']['group']}/{version['name']}").json()
                assert crd["spec"]["names"]["plural"] in {r["name"] for r in listing["resources"]}
