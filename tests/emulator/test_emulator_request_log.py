"""The request log and per-object history, for "what did the code send" assertions."""

from __future__ import annotations

import httpx

from harness import RunningEmulator

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def test_records_method_path_query_and_body(kube_emulator: RunningEmulator, http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}})
    http.patch(f"{CONFIGMAPS}/a", json={"data": {"k": "v"}}, headers={"Content-Type": "application/merge-patch+json"})
    http.get(CONFIGMAPS, params={"labelSelector": "x=y"})
    post, patch, listing = kube_emulator.requests
    assert (post.method, post.path, post.verb, post.body) == ("POST", CONFIGMAPS, "create", {"metadata": {"name": "a"}})
    assert (patch.verb, patch.name, patch.body, patch.content_type) == (
        "patch", "a", {"data": {"k": "v"}}, "application/merge-patch+json")
    assert (listing.verb, listing.query, listing.resource, listing.namespace) == (
        "list", {"labelSelector": "x=y"}, "configmaps", "default")


def test_helpers_are_not_recorded_and_the_log_can_be_cleared(kube_emulator: RunningEmulator,
                                                             http: httpx.Client) -> None:
    kube_emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seeded"}})
    assert kube_emulator.requests == []
    http.get(CONFIGMAPS)
    http.delete(f"{CONFIGMAPS}/seeded")
    assert [r.verb for r in kube_emulator.writes()] == ["delete"]
    kube_emulator.clear_requests()
    http.get(CONFIGMAPS)
    assert [r.verb for r in kube_emulator.requests] == ["list"]
    assert kube_emulator.writes() == []
    assert kube_emulator.writes("configmaps") == []


def test_keeps_every_version_of_an_object(kube_emulator: RunningEmulator, http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"v": "1"}})
    http.patch(f"{CONFIGMAPS}/a", json={"data": {"v": "2"}}, headers={"Content-Type": "application/merge-patch+json"})
    http.delete(f"{CONFIGMAPS}/a")
    http.post(CONFIGMAPS, json={"metadata": {"name": "a"}, "data": {"v": "3"}})
    history = kube_emulator.history("configmaps", "a")
    assert [None if v is None else v["data"]["v"] for v in history] == ["1", "2", None, "3"]
    # The same history through kmock's own accessor:
    assert kube_emulator.api.objects["v1/configmaps", "default", "a", 1] >= {"data": {"v": "2"}}
