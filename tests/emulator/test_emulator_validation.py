"""Validation of custom resources against the CRD's openAPIV3Schema: 422 with field paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import kubernetes
import pytest

from harness import RunningEmulator

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"
MERGE = {"Content-Type": "application/merge-patch+json"}

# spec overrides -> (field, the message the apiserver would give for it)
INVALID_SPECS = [
    ({"model": ...}, "spec.model", "spec.model: Required value"),
    ({"replicas": "two"}, "spec.replicas",
     'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'),
    ({"strategy": "Cheapest"}, "spec.strategy",
     'spec.strategy: Unsupported value: "Cheapest": supported values: "Capability", "Cost", "Latency", "Hybrid"'),
    ({"replicas": 11}, "spec.replicas",
     "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"),
    ({"replicas": -1}, "spec.replicas",
     "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"),
    ({"weight": 0}, "spec.weight", "spec.weight: Invalid value: 0: spec.weight in body should be greater than 0"),
    ({"weight": 100}, "spec.weight", "spec.weight: Invalid value: 100: spec.weight in body should be less than 100"),
    ({"model": ""}, "spec.model", 'spec.model: Invalid value: "": spec.model in body should be at least 1 chars long'),
    ({"model": "m" * 41}, "spec.model", "spec.model: Too long: may not be more than 40 bytes"),
    ({"size": "abc"}, "spec.size",
     """spec.size: Invalid value: "abc": spec.size in body should match '^[0-9]+(\\.[0-9]+)?[MBT]$'"""),
    ({"tasks": []}, "spec.tasks", "spec.tasks: Invalid value: 0: spec.tasks in body should have at least 1 items"),
    ({"tasks": ["a", "b", "c", "d"]}, "spec.tasks", "spec.tasks: Too many: 4: must have at most 3 items"),
    ({"tasks": ["Chat", "Chat"]}, "spec.tasks[1]", 'spec.tasks[1]: Duplicate value: "Chat"'),
    ({"tiers": [{"name": "a"}, {"name": "a"}]}, "spec.tiers[1]",
     'spec.tiers[1]: Duplicate value: map[string]interface {}{"name":"a"}'),
    ({"tiers": [{"weight": 2}]}, "spec.tiers[0].name", "spec.tiers[0].name: Required value"),
    ({"nodeSelector": {"pool": "much-too-long"}}, "spec.nodeSelector[pool]",
     "spec.nodeSelector[pool]: Too long: may not be more than 10 bytes"),
    ({"port": True}, "spec.port", "spec.port in body must be of type int-or-string"),
    ({"model": None}, "spec.model", 'spec.model in body must be of type string: "null"'),
    ({"createdAt": "yesterday"}, "spec.createdAt", "spec.createdAt in body must be of type date-time"),
    ({"vllm": {"gpu": {"count": 9}}}, "spec.vllm.gpu.count",
     "spec.vllm.gpu.count: Invalid value: 9: spec.vllm.gpu.count in body should be less than or equal to 8"),
]


@pytest.mark.parametrize(("spec", "field", "message"), INVALID_SPECS, ids=[case[1] + ":" + case[2][-30:]
                                                                         for case in INVALID_SPECS])
def test_rejects_schema_violations_naming_the_field(http: httpx.Client, widget: Callable[..., dict[str, Any]],
                                                    spec: dict[str, Any], field: str, message: str) -> None:
    response = http.post(WIDGETS, json=widget("w", **spec))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["reason"] == "Invalid"
    assert field in [cause["field"] for cause in body["details"]["causes"]]
    assert message in body["message"]


def test_invalid_answer_is_a_status_in_the_apiservers_words(http: httpx.Client,
                                                            widget: Callable[..., dict[str, Any]]) -> None:
    body = http.post(WIDGETS, json=widget("x", size="abc")).json()
    assert body["message"] == ('Widget.test.tiergate.io "x" is invalid: spec.size: Invalid value: "abc": '
                               "spec.size in body should match '^[0-9]+(\\.[0-9]+)?[MBT]$'")
    assert body["code"] == 422
    assert body["details"] == {
        "name": "x", "group": "test.tiergate.io", "kind": "Widget",
        "causes": [{"reason": "FieldValueInvalid", "field": "spec.size",
                    "message": "Invalid value: \"abc\": spec.size in body should match '^[0-9]+(\\.[0-9]+)?[MBT]$'"}],
    }


def test_reports_every_invalid_field_at_once(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    body = http.post(WIDGETS, json=widget("x", size="abc", replicas=99)).json()
    assert {cause["field"] for cause in body["details"]["causes"]} == {"spec.size", "spec.replicas"}
    assert body["message"].startswith('Widget.test.tiergate.io "x" is invalid: [')


def test_accepts_valid_values_of_every_kind(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    body = widget("ok", port=8080, tasks=["Chat", "Extraction"], weight=50, ratio=1,
                  tiers=[{"name": "a"}, {"name": "b"}], nodeSelector={"pool": "gpu"},
                  createdAt="2024-05-01T10:00:00Z", note=None)
    assert http.post(WIDGETS, json=body).status_code == 201
    assert http.post(WIDGETS, json=widget("ok2", port="http")).status_code == 201


def test_validates_updates_and_status_writes(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    http.post(WIDGETS, json=widget("w"))
    assert http.patch(f"{WIDGETS}/w", json={"spec": {"replicas": 50}}, headers=MERGE).status_code == 422
    bad_status = {"status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}}
    response = http.patch(f"{WIDGETS}/w/status", json=bad_status, headers=MERGE)
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "status.conditions[0].status"
    assert http.get(f"{WIDGETS}/w").json()["spec"]["replicas"] == 1


def test_official_client_surfaces_the_422(kube_emulator: RunningEmulator, api_client: kubernetes.client.ApiClient,
                                          widget: Callable[..., dict[str, Any]]) -> None:
    custom = kubernetes.client.CustomObjectsApi(api_client)
    with pytest.raises(kubernetes.client.ApiException) as error:
        custom.create_namespaced_custom_object("test.tiergate.io", "v1", "default", "widgets",
                                               widget("w", vllm={"gpu": {"count": "many"}}))
    assert error.value.status == 422
    assert "spec.vllm.gpu.count" in error.value.body
