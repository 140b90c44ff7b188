"""x-kubernetes-validations CEL rules, evaluated with cel-python."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness import RunningEmulator

WIDGETS = "/apis/test.tiergate.io/v1/namespaces/default/widgets"
MERGE = {"Content-Type": "application/merge-patch+json"}


def _causes(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {cause["field"]: cause["message"] for cause in response.json()["details"]["causes"]}


def test_cel_rule_rejects_with_its_message(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    response = http.post(WIDGETS, json=widget("w", endpoint={"url": "https://x", "locality": "Remote"}))
    assert _causes(response) == {"spec": 'Invalid value: "object": exactly one of vllm or endpoint must be set'}
    assert response.json()["message"] == ('Widget.test.tiergate.io "w" is invalid: spec: Invalid value: "object": '
                                          "exactly one of vllm or endpoint must be set")


def test_cel_rule_sees_numbers_with_schema_types(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    assert http.post(WIDGETS, json=widget("ok", ratio=1)).status_code == 201  # 1 is a double here
    assert _causes(http.post(WIDGETS, json=widget("w", ratio=2))) == {
        "spec.ratio": 'Invalid value: "number": ratio must stay below 1.5'}


def test_cel_message_expression_builds_the_message(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    assert _causes(http.post(WIDGETS, json=widget("w", price="cheap"))) == {
        "spec.price": 'Invalid value: "string": price must be a decimal string, got cheap'}
    assert http.post(WIDGETS, json=widget("ok", price="0.25")).status_code == 201


def test_cel_rule_field_path_and_reason_place_the_error(http: httpx.Client,
                                                        widget: Callable[..., dict[str, Any]]) -> None:
    response = http.post(WIDGETS, json=widget("w", replicas=3, vllm={"gpu": {"count": 8}}))
    assert _causes(response) == {
        "spec.vllm.gpu.count": "Forbidden: more than 4 GPUs per replica allow at most 2 replicas"}
    assert response.json()["details"]["causes"][0]["reason"] == "FieldValueForbidden"


def test_cel_rules_run_on_list_items(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    response = http.post(WIDGETS, json=widget("w", tiers=[{"name": "ok"}, {"name": "forbidden"}]))
    assert _causes(response) == {"spec.tiers[1]": 'Invalid value: "object": this tier name is reserved'}


def test_transition_rules_run_only_on_updates(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    assert http.post(WIDGETS, json=widget("w", size="7B", tiers=[{"name": "a", "weight": 5}])).status_code == 201
    assert _causes(http.patch(f"{WIDGETS}/w", json={"spec": {"size": "8B"}}, headers=MERGE)) == {
        "spec": 'Invalid value: "object": size is immutable'}
    # list-map items are matched with their old selves by key; a new item has no old self.
    shrink = {"spec": {"tiers": [{"name": "a", "weight": 4}]}}
    assert _causes(http.patch(f"{WIDGETS}/w", json=shrink, headers=MERGE)) == {
        "spec.tiers[0]": 'Invalid value: "object": a tier\'s weight may only grow'}
    grow = {"spec": {"tiers": [{"name": "b", "weight": 1}, {"name": "a", "weight": 6}]}}
    assert http.patch(f"{WIDGETS}/w", json=grow, headers=MERGE).status_code == 200


def test_missing_field_in_a_rule_fails_the_write(http: httpx.Client, widget: Callable[..., dict[str, Any]]) -> None:
    causes = _causes(http.post(WIDGETS, json=widget("w", vllm=..., endpoint={"locality": "Remote"})))
    assert "no such" in causes["spec.endpoint"]


def test_skips_rules_cel_python_cannot_parse_or_evaluate(kube_emulator: RunningEmulator, http: httpx.Client,
                                                         widget: Callable[..., dict[str, Any]],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="harness.cel"):
        body = widget("w", vllm=..., endpoint={"url": "https://api.example.com"})
        assert http.post(WIDGETS, json=body).status_code == 201
    skipped = " ".join(record.getMessage() for record in caplog.records)
    assert "isURL(self.url)" in skipped and "self.url.(" in skipped
