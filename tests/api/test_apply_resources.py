"""Every example applies to the API server (the emulator, with our CRDs) and every invalid
resource is rejected with a 422 that names the field, exactly as the pydantic models judge them."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from api_cases import INVALID_CASES, InvalidCase, example_documents
from harness.runtime import RunningEmulator
from tiergate_api.resources import InvalidResourceError, is_tiergate_document, parse_resource


def _dotted(path: str) -> str:
    """`limits[memory]` (the API server's map-key form) as `limits.memory`, like the models say it."""
    return re.sub(r"\[([A-Za-z][^\]]*)\]", r".\1", path)


def _post(emulator: RunningEmulator, document: dict[str, Any]) -> httpx.Response:
    kind = document["kind"]
    if kind == "Secret":
        path = "/api/v1/namespaces/default/secrets"
    else:
        plural = {"ModelTier": "modeltiers", "RoutingPolicy": "routingpolicies"}[kind]
        path = f"/apis/tiergate.io/v1alpha1/namespaces/default/{plural}"
    return httpx.post(f"{emulator.url}{path}", json=document, timeout=10)


def test_every_example_is_accepted(kube_emulator: RunningEmulator) -> None:
    for ident, document in example_documents():
        if ident.startswith("local/"):
            continue  # the same names as the cluster examples; checked below on their own
        response = _post(kube_emulator, document)
        assert response.status_code == 201, f"{ident}: {response.text}"
        stored = response.json()
        assert stored["metadata"]["uid"] and stored["metadata"]["generation"] == 1


def test_local_examples_are_accepted_too(kube_emulator: RunningEmulator) -> None:
    for ident, document in example_documents():
        if ident.startswith("local/"):
            response = _post(kube_emulator, document)
            assert response.status_code == 201, f"{ident}: {response.text}"


def test_defaults_are_applied_as_the_models_apply_them(kube_emulator: RunningEmulator) -> None:
    document = {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": "minimal"},
        "spec": {"modelAlias": "m", "tiers": [{"name": "a"}]},
    }
    stored = _post(kube_emulator, document).json()
    model = parse_resource(document)
    assert stored["spec"]["strategy"] == model.spec.strategy.value  # type: ignore[union-attr]
    assert stored["spec"]["fallback"]["maxAttempts"] == model.spec.fallback.max_attempts  # type: ignore[union-attr]
    assert stored["spec"]["fallback"]["retryOn"] == [r.value for r in model.spec.fallback.retry_on]  # type: ignore[union-attr]
    assert parse_resource(stored) == parse_resource({**stored})


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
def test_invalid_resource_is_rejected_by_the_api_naming_the_field(
    kube_emulator: RunningEmulator, case: InvalidCase
) -> None:
    response = _post(kube_emulator, case.document)
    assert response.status_code == 422, response.text
    status = response.json()
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    fields = [_dotted(cause.get("field", "")) for cause in status["details"]["causes"]]
    assert any(f == case.field or f.startswith(case.field + ".") or f.startswith(case.field + "[") for f in fields), (
        fields,
        status["message"],
    )
    assert case.field in _dotted(status["message"])
    with pytest.raises(InvalidResourceError):  # and the models agree
        parse_resource(case.document)


def test_api_and_models_agree_on_every_example_and_case(kube_emulator: RunningEmulator) -> None:
    verdicts = []
    for ident, document in [*example_documents(), *((c.id, c.document) for c in INVALID_CASES)]:
        if not is_tiergate_document(document) or ident.startswith("local/"):
            continue
        named = {**document, "metadata": {"name": f"v{len(verdicts)}"}}
        api_accepts = _post(kube_emulator, named).status_code == 201
        try:
            parse_resource(named)
            model_accepts = True
        except InvalidResourceError:
            model_accepts = False
        verdicts.append((ident, api_accepts, model_accepts))
    assert [v for v in verdicts if v[1] != v[2]] == []
