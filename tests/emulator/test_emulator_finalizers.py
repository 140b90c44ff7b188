"""Finalizers and deletionTimestamp, the protocol Kopf's deletion handlers rely on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from harness import RunningEmulator

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"
MERGE = {"Content-Type": "application/merge-patch+json"}


def test_delete_with_finalizers_only_sets_the_deletion_timestamp(http: httpx.Client,
                                                                 widget: Callable[..., dict[str, Any]]) -> None:
    body = widget("w")
    body["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    created = http.post(WIDGETS, json=body).json()
    deleting = http.delete(f"{WIDGETS}/w")
    assert deleting.status_code == 200
    meta = http.get(f"{WIDGETS}/w").json()["metadata"]
    assert meta["deletionTimestamp"] and meta["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    assert meta["generation"] == created["metadata"]["generation"] + 1
    again = http.delete(f"{WIDGETS}/w").json()
    assert again["metadata"]["resourceVersion"] == meta["resourceVersion"]  # a repeated delete changes nothing


def test_removing_the_last_finalizer_removes_the_object(kube_emulator: RunningEmulator, http: httpx.Client,
                                                        widget: Callable[..., dict[str, Any]]) -> None:
    body = widget("w")
    body["metadata"]["finalizers"] = ["a.example.com/one", "a.example.com/two"]
    http.post(WIDGETS, json=body)
    http.delete(f"{WIDGETS}/w")
    http.patch(f"{WIDGETS}/w", json={"metadata": {"finalizers": ["a.example.com/two"]}}, headers=MERGE)
    assert http.get(f"{WIDGETS}/w").status_code == 200
    released = http.patch(f"{WIDGETS}/w", json={"metadata": {"finalizers": None}}, headers=MERGE)
    assert released.status_code == 200
    assert http.get(f"{WIDGETS}/w").status_code == 404
    history = kube_emulator.history("widgets", "w")
    assert history[-1] is None and "finalizers" not in history[-2]["metadata"]


def test_no_new_finalizers_on_an_object_being_deleted(http: httpx.Client,
                                                      widget: Callable[..., dict[str, Any]]) -> None:
    body = widget("w")
    body["metadata"]["finalizers"] = ["a.example.com/one"]
    http.post(WIDGETS, json=body)
    http.delete(f"{WIDGETS}/w")
    response = http.patch(f"{WIDGETS}/w", json={"metadata": {"finalizers": ["a.example.com/one", "b.example.com/x"]}},
                          headers=MERGE)
    assert response.status_code == 422
    assert "no new finalizers can be added if the object is being deleted" in response.json()["message"]


def test_delete_without_finalizers_removes_at_once(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    http.post(WIDGETS, json=widget("w"))
    http.delete(f"{WIDGETS}/w")
    assert http.get(f"{WIDGETS}/w").status_code == 404
    assert http.post(WIDGETS, json=widget("w")).status_code == 201  # the name is free again
