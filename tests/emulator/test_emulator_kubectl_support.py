"""What kubectl needs beyond CRUD, checked at the HTTP level: tests/kubectl runs the real binary on top.

Aggregated discovery, OpenAPI v3, Table responses (with kubectl's JSONPath dialect),
`?fieldValidation=`, server-side apply's field ownership, and the event field
selectors `kubectl describe` uses.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.jsonpath import JsonPathError, find
from harness.tables import human_duration

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def _widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "test.tiergate.io/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"model": "qwen", "size": "1.5B", "vllm": {}, **spec}}


def _apply(http: httpx.Client, body: dict[str, Any], manager: str | None, *, force: bool = False) -> httpx.Response:
    query = "&".join([f"fieldManager={manager}"] * (manager is not None) + ["force=true"] * force)
    return http.patch(f"{WIDGETS}/{body['metadata']['name']}?{query}", json=body, headers=APPLY)


# -- kubectl's JSONPath --------------------------------------------------------------------------

OBJ = {"spec": {"tiers": [{"name": "a", "w": 1}, {"name": "b", "w": 2}], "flag": False},
       "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}}


@pytest.mark.parametrize(("path", "expected"), [
    (".spec.tiers[*].name", ["a", "b"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    ("{.spec.tiers[1].name}", ["b"]),
    (".spec.tiers[-1].w", [2]),
    (".spec.tiers[0:1].name", ["a"]),
    (".spec.tiers[?(@.w > 1)].name", ["b"]),
    (".spec['flag']", [False]),
    ("..name", ["a", "b"]),
    (".spec.missing.deeper", []),
    (".status.conditions[?(@.reason)].type", []),
])
def test_jsonpath_dialect_of_printer_columns(path: str, expected: list[Any]) -> None:
    assert find(OBJ, path) == expected


def test_jsonpath_outside_the_dialect_is_an_error() -> None:
    with pytest.raises(JsonPathError):
        find(OBJ, ".spec.tiers[?(@.w ~ 1)]")


@pytest.mark.parametrize(("seconds", "shown"), [
    (5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"),
    (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"), (-5, "<invalid>"),
])
def test_ages_read_as_kubectl_shows_them(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


# -- discovery and OpenAPI -----------------------------------------------------------------------

def test_aggregated_discovery_when_asked_legacy_otherwise(http: httpx.Client) -> None:
    aggregated = http.get("/apis", headers={"Accept": AGGREGATED})
    kind, *params = (part.strip() for part in aggregated.headers["Content-Type"].split(";"))
    assert kind == "application/json"
    assert {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= set(params)
    groups = {item["metadata"]["name"]: item for item in aggregated.json()["items"]}
    widgets = next(r for r in groups["test.tiergate.io"]["versions"][0]["resources"] if r["resource"] == "widgets")
    assert widgets["scope"] == "Namespaced" and widgets["shortNames"] == ["wd"]
    assert widgets["subresources"] == [{"subresource": "status", "verbs": ["get", "patch", "update"],
                                        "responseKind": {"group": "test.tiergate.io", "version": "v1",
                                                         "kind": "Widget"}}]
    core = http.get("/api", headers={"Accept": AGGREGATED}).json()
    assert [item["metadata"]["name"] for item in core["items"]] == [""]
    assert http.get("/apis").json()["kind"] == "APIGroupList"
    assert http.get("/version").json()["gitVersion"].startswith("v1.")


def test_openapi_v3_publishes_the_crd_schema_and_field_validation(http: httpx.Client) -> None:
    index = http.get("/openapi/v3").json()["paths"]
    url = index["apis/test.tiergate.io/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/test.tiergate.io/v1?hash=") and "api/v1" in index
    doc = http.get(url).json()
    widget = doc["components"]["schemas"]["io.tiergate.test.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [{"group": "test.tiergate.io", "kind": "Widget",
                                                          "version": "v1"}]
    assert widget["properties"]["spec"]["properties"]["vllm"]["properties"]["gpu"]
    patch = doc["paths"]["/apis/test.tiergate.io/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "fieldValidation" in {parameter["name"] for parameter in patch["parameters"]}
    assert http.get("/openapi/v3/apis/nothing.example.com/v1").status_code == 404


# -- tables ---------------------------------------------------------------------------------------

def test_tables_have_name_and_age_without_printer_columns(http: httpx.Client) -> None:
    http.post(WIDGETS, json=_widget())
    table = http.get(WIDGETS, headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table"
    assert [column["name"] for column in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"][0] == "w" and table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    bare = http.get(f"{WIDGETS}/w?includeObject=None", headers={"Accept": TABLE}).json()
    assert len(bare["rows"]) == 1 and "object" not in bare["rows"][0]


# -- field validation -----------------------------------------------------------------------------

def test_field_validation_strict_refuses_warn_warns_ignore_is_silent(http: httpx.Client) -> None:
    body = _widget(typo=1)
    strict = http.post(f"{WIDGETS}?fieldValidation=Strict", json=body)
    assert strict.status_code == 400
    assert strict.json()["message"] == ('Widget in version "v1" cannot be handled as a Widget: '
                                        'strict decoding error: unknown field "spec.typo"')
    warned = http.post(WIDGETS, json=body)  # Warn is the server's default
    assert warned.status_code == 201 and "typo" not in warned.json()["spec"]
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.typo\\""'
    ignored = http.patch(f"{WIDGETS}/w?fieldValidation=Ignore", json={"spec": {"typo": 2}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert ignored.status_code == 200 and "Warning" not in ignored.headers


# -- server-side apply ----------------------------------------------------------------------------

def test_apply_merges_list_items_by_key_and_removes_what_a_manager_drops(http: httpx.Client) -> None:
    first = _widget(tiers=[{"name": "a", "weight": 1}], tasks=["x"])
    assert _apply(http, first, "one").status_code == 201
    assert _apply(http, _widget(tiers=[{"name": "b", "weight": 2}], tasks=["y"]), "two").status_code == 200
    merged = http.get(f"{WIDGETS}/w").json()["spec"]
    assert [tier["name"] for tier in merged["tiers"]] == ["a", "b"] and merged["tasks"] == ["x", "y"]

    response = _apply(http, _widget(), "one")  # "one" no longer applies its tier and task
    assert response.status_code == 200, response.text
    dropped = response.json()
    assert [tier["name"] for tier in dropped["spec"]["tiers"]] == ["b"] and dropped["spec"]["tasks"] == ["y"]
    managers = {entry["manager"]: entry for entry in dropped["metadata"]["managedFields"]}
    assert managers["two"]["operation"] == "Apply"
    assert 'k:{"name":"b"}' in managers["two"]["fieldsV1"]["f:spec"]["f:tiers"]


def test_apply_conflicts_need_force(http: httpx.Client) -> None:
    _apply(http, _widget(model="one"), "one")
    conflict = _apply(http, _widget(model="two"), "two")
    assert conflict.status_code == 409
    assert conflict.json()["message"] == 'Apply failed with 1 conflict: conflict with "one" using ' \
                                         "test.tiergate.io/v1: .spec.model"
    assert conflict.json()["details"]["causes"][0]["field"] == ".spec.model"
    assert _apply(http, _widget(model="one"), "two").status_code == 200  # same value: shared, no conflict
    forced = _apply(http, _widget(model="two"), "two", force=True)
    assert forced.status_code == 200 and forced.json()["spec"]["model"] == "two"


def test_apply_needs_a_field_manager(http: httpx.Client) -> None:
    response = _apply(http, _widget(), None)
    assert response.status_code == 422 and "fieldManager: Required value" in response.json()["message"]


# -- events for kubectl describe ------------------------------------------------------------------

def test_events_select_by_involved_object(http: httpx.Client) -> None:
    events = "/api/v1/namespaces/default/events"
    for name, target in (("e1", "w"), ("e2", "other")):
        http.post(events, json={"metadata": {"name": name}, "reason": "Seen", "source": {"component": "op"},
                                "involvedObject": {"kind": "Widget", "name": target, "namespace": "default"}})
    selected = http.get(events, params={"fieldSelector": "involvedObject.name=w,involvedObject.kind=Widget"})
    assert [event["metadata"]["name"] for event in selected.json()["items"]] == ["e1"]
    assert [e["metadata"]["name"] for e in http.get(events, params={"fieldSelector": "source=op"}).json()["items"]] \
        == ["e1", "e2"]
    assert http.get(WIDGETS, params={"fieldSelector": "involvedObject.name=w"}).status_code == 400


def test_protobuf_bodies_are_refused_with_415(http: httpx.Client) -> None:
    response = http.post("/api/v1/namespaces", content=b"k8s\x00...",
                         headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert response.status_code == 415 and response.json()["reason"] == "UnsupportedMediaType"


def test_strategic_merge_patches_are_for_built_in_kinds_only(http: httpx.Client) -> None:
    http.post(WIDGETS, json=_widget())
    response = http.patch(f"{WIDGETS}/w", json={"spec": {"model": "x"}},
                          headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert response.status_code == 415 and "application/merge-patch+json" in response.json()["message"]
