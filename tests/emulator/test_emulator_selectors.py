"""Label and field selectors, parsed and applied by LIST (and WATCH)."""

from __future__ import annotations

import httpx
import pytest

from harness.selectors import FieldSelector, LabelSelector, SelectorError

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
LABELS = {"a": {"tier": "small", "gpu": "yes"}, "b": {"tier": "large"}, "c": {}}


@pytest.mark.parametrize(("selector", "expected"), [
    ("tier=small", {"a"}),
    ("tier==small", {"a"}),
    ("tier!=small", {"b", "c"}),
    ("tier in (small, large)", {"a", "b"}),
    ("tier notin (small)", {"b", "c"}),
    ("gpu", {"a"}),
    ("!gpu", {"b", "c"}),
    ("tier,!gpu", {"b"}),
    ("tier in (small,large),gpu!=yes", {"b"}),
    ("", {"a", "b", "c"}),
])
def test_label_selector_grammar(selector: str, expected: set[str]) -> None:
    parsed = LabelSelector.parse(selector)
    assert {name for name, labels in LABELS.items() if parsed.matches({"metadata": {"labels": labels}})} == expected


def test_malformed_selectors_are_rejected() -> None:
    with pytest.raises(SelectorError):
        LabelSelector.parse("tier in small")
    with pytest.raises(SelectorError):
        FieldSelector.parse("spec.replicas=1")


@pytest.fixture
def labelled(http: httpx.Client) -> httpx.Client:
    for name, labels in LABELS.items():
        http.post(CONFIGMAPS, json={"metadata": {"name": name, "labels": labels}})
    http.post("/api/v1/namespaces/kube-system/configmaps", json={"metadata": {"name": "a"}})
    return http


@pytest.mark.parametrize(("selector", "expected"), [
    ("tier=small", ["a"]), ("tier!=small", ["b", "c"]), ("tier in (small,large)", ["a", "b"]),
    ("tier notin (large)", ["a", "c"]), ("gpu", ["a"]), ("!gpu", ["b", "c"]),
])
def test_list_filters_by_label_selector(labelled: httpx.Client, selector: str, expected: list[str]) -> None:
    items = labelled.get(CONFIGMAPS, params={"labelSelector": selector}).json()["items"]
    assert [item["metadata"]["name"] for item in items] == expected


def test_list_filters_by_field_selector_on_name_and_namespace(labelled: httpx.Client) -> None:
    by_name = labelled.get("/api/v1/configmaps", params={"fieldSelector": "metadata.name=a"}).json()["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in by_name] == [("default", "a"),
                                                                                      ("kube-system", "a")]
    by_namespace = labelled.get("/api/v1/configmaps",
                                params={"fieldSelector": "metadata.namespace!=default"}).json()["items"]
    assert [i["metadata"]["namespace"] for i in by_namespace] == ["kube-system"]


def test_bad_selectors_answer_400(labelled: httpx.Client) -> None:
    response = labelled.get(CONFIGMAPS, params={"fieldSelector": "spec.replicas=1"})
    assert response.status_code == 400
    assert response.json()["message"] == "field label not supported: spec.replicas"
    assert labelled.get(CONFIGMAPS, params={"labelSelector": "a in b"}).status_code == 400
