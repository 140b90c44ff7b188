"""Structural defaulting and pruning of custom resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"


def test_applies_schema_defaults_including_nested_ones(http: httpx.Client,
                                                       widget: Callable[..., dict[str, Any]]) -> None:
    spec = http.post(WIDGETS, json=widget("w", tiers=[{"name": "a"}])).json()["spec"]
    assert spec["strategy"] == "Hybrid" and spec["replicas"] == 1
    assert spec["vllm"] == {"image": "vllm/vllm-openai:v0.6.3", "gpu": {"count": 1, "resourceName": "nvidia.com/gpu"}}
    assert spec["tiers"] == [{"name": "a", "weight": 1}]


def test_defaults_never_override_given_values(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    spec = http.post(WIDGETS, json=widget("w", replicas=0, vllm={"gpu": {"count": 0}})).json()["spec"]
    assert spec["replicas"] == 0 and spec["vllm"]["gpu"] == {"count": 0, "resourceName": "nvidia.com/gpu"}


def test_null_in_a_non_nullable_field_with_a_default_gets_the_default(
        http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    assert http.post(WIDGETS, json=widget("w", strategy=None)).json()["spec"]["strategy"] == "Hybrid"


def test_keeps_null_in_nullable_fields(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    assert http.post(WIDGETS, json=widget("w", note=None)).json()["spec"]["note"] is None


def test_prunes_unknown_fields(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    body = {**widget("w", typo=1, vllm={"gpus": 2}), "unknownTop": True}
    created = http.post(WIDGETS, json=body).json()
    assert "typo" not in created["spec"] and "unknownTop" not in created
    assert "gpus" not in created["spec"]["vllm"]


def test_keeps_unknown_fields_under_preserve_unknown_fields(http: httpx.Client,
                                                            widget: Callable[..., dict[str, Any]]) -> None:
    extra = {"anything": {"nested": [1, 2]}, "goes": "here"}
    assert http.post(WIDGETS, json=widget("w", extra=extra)).json()["spec"]["extra"] == extra
    gadget = {"apiVersion": "test.tiergate.io/v1", "kind": "Gadget", "metadata": {"name": "g"}, "free": {"form": 1}}
    assert http.post("/apis/test.tiergate.io/v1/gadgets", json=gadget).json()["free"] == {"form": 1}
