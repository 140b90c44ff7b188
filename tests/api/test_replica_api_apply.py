"""The API server (the emulator, with our CRDs and their CEL rules) judges `spec.endpoint.urls` and
`spec.replicaPicking` as the models do: same verdicts, same field paths, the CEL rule's own message."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api_cases import endpoint_tier
from harness.runtime import RunningEmulator
from tiergate_api.modeltier import MAX_REPLICA_URLS, ModelTier
from tiergate_api.replicapicking import DEFAULT_REPLICA_PICKING
from tiergate_api.resources import InvalidResourceError, parse_resource

TIERS = "/apis/tiergate.io/v1alpha1/namespaces/default/modeltiers"
POOL = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]


def _tier(name: str, endpoint: dict[str, Any], **spec: Any) -> dict[str, Any]:
    document = endpoint_tier(name)
    document["spec"]["endpoint"] = endpoint
    document["spec"].update(spec)
    return document


def _post(emulator: RunningEmulator, document: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{emulator.url}{TIERS}", json=document, timeout=10)


def _dotted(path: str) -> str:
    return re.sub(r"\[([0-9]+)\]", r".\1", path)


@dataclass(frozen=True)
class Case:
    """A tier the API and the models must both refuse, the field named, and part of the message."""

    id: str
    document: dict[str, Any]
    field: str
    message: str


_MANY = [f"http://10.{i // 256}.{i % 256}.1:8000/v1" for i in range(MAX_REPLICA_URLS + 1)]

CASES = [
    Case(
        "both", _tier("both", {"url": POOL[0], "urls": POOL[1:]}), "spec.endpoint", "set either url or urls, not both"
    ),
    Case(
        "neither",
        _tier("neither", {"locality": "Local"}),
        "spec.endpoint",
        "set url (one server) or urls (one per replica)",
    ),
    Case("empty", _tier("empty", {"urls": []}), "spec.endpoint.urls", "at least 1"),
    Case("duplicate", _tier("duplicate", {"urls": [POOL[0], POOL[1], POOL[0]]}), "spec.endpoint.urls.2", ""),
    Case("bad-scheme", _tier("bad-scheme", {"urls": [POOL[0], "ftp://10.0.0.9/v1"]}), "spec.endpoint.urls.1", ""),
    Case("credentials", _tier("credentials", {"urls": ["http://u:pw@10.0.0.9/v1"]}), "spec.endpoint.urls.0", ""),
    Case("invisible", _tier("invisible", {"urls": ["http://pool\u3000a.example/v1"]}), "spec.endpoint.urls.0", ""),
    Case("too-many", _tier("too-many", {"urls": _MANY}), "spec.endpoint.urls", "1024"),
    Case(
        "weights-zero",
        _tier(
            "weights-zero", {"urls": POOL}, replicaPicking={"weights": {"queue": 0, "kvCache": 0, "prefixAffinity": 0}}
        ),
        "spec.replicaPicking.weights",
        "replica weights must sum to more than zero",
    ),
    Case(
        "weight-over-100",
        _tier("weight-over-100", {"urls": POOL}, replicaPicking={"weights": {"kvCache": 101}}),
        "spec.replicaPicking.weights.kvCache",
        "",
    ),
    Case(
        "block-tokens",
        _tier("block-tokens", {"urls": POOL}, replicaPicking={"prefixBlockTokens": 4}),
        "spec.replicaPicking.prefixBlockTokens",
        "",
    ),
    Case(
        "load-bound",
        _tier("load-bound", {"urls": POOL}, replicaPicking={"affinityLoadBoundPercent": 50}),
        "spec.replicaPicking.affinityLoadBoundPercent",
        "",
    ),
    Case(
        "scrape-float",
        _tier("scrape-float", {"urls": POOL}, replicaPicking={"metricsScrapeIntervalMilliseconds": 1000.5}),
        "spec.replicaPicking.metricsScrapeIntervalMilliseconds",
        "",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_api_refuses_what_the_models_refuse_naming_the_same_field(
    kube_emulator: RunningEmulator, case: Case
) -> None:
    response = _post(kube_emulator, case.document)
    assert response.status_code == 422, response.text
    causes = response.json()["details"]["causes"]
    fields = [_dotted(cause.get("field", "")) for cause in causes]
    assert case.field in fields, (fields, response.json()["message"])
    assert case.message in " ".join(cause["message"] for cause in causes)
    with pytest.raises(InvalidResourceError) as caught:
        parse_resource(case.document)
    assert any(path == case.field for path, _ in caught.value.problems), caught.value.problems
    assert case.message in str(caught.value)


def test_the_cel_rule_speaks_to_the_user_at_spec_endpoint(kube_emulator: RunningEmulator) -> None:
    response = _post(kube_emulator, _tier("both", {"url": POOL[0], "urls": POOL[1:]}))
    assert response.json()["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.endpoint",
            "message": 'Invalid value: "object": set either url or urls, not both',
        }
    ]


def test_a_pool_tier_is_stored_with_the_models_defaults(kube_emulator: RunningEmulator) -> None:
    document = _tier("pool", {"urls": POOL, "locality": "Local"}, replicaPicking={})
    response = _post(kube_emulator, document)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["spec"]["endpoint"]["urls"] == POOL and "url" not in stored["spec"]["endpoint"]
    assert stored["spec"]["replicaPicking"] == DEFAULT_REPLICA_PICKING.to_wire()
    tier = parse_resource(stored)
    assert isinstance(tier, ModelTier) and tier.spec.effective_replica_picking == DEFAULT_REPLICA_PICKING


def test_a_tier_without_replica_picking_is_stored_without_it(kube_emulator: RunningEmulator) -> None:
    stored = _post(kube_emulator, _tier("single", {"url": POOL[0]})).json()
    assert "replicaPicking" not in stored["spec"] and stored["spec"]["endpoint"]["url"] == POOL[0]


def test_api_and_models_agree_on_edge_cases(kube_emulator: RunningEmulator) -> None:
    documents = [
        _tier("max", {"urls": _MANY[:MAX_REPLICA_URLS]}),
        _tier("one", {"urls": POOL[:1]}),
        _tier("slash", {"urls": [POOL[0], POOL[0] + "/"]}),
        _tier("idn", {"urls": ["http://bücher.example/v1", "http://[::1]:8000/v1"]}),
        _tier("zero-queue", {"urls": POOL}, replicaPicking={"weights": {"queue": 0}}),
        _tier(
            "bounds",
            {"urls": POOL},
            replicaPicking={
                "prefixBlockTokens": 8,
                "affinityLoadBoundPercent": 1000,
                "metricsScrapeIntervalMilliseconds": 60_000,
            },
        ),
        *(copy.deepcopy(case.document) for case in CASES),
    ]
    verdicts = []
    for document in documents:
        api_accepts = _post(kube_emulator, document).status_code == 201
        try:
            parse_resource(document)
            model_accepts = True
        except InvalidResourceError:
            model_accepts = False
        verdicts.append((document["metadata"]["name"], api_accepts, model_accepts))
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert [name for name, accepted, _ in verdicts if accepted] == [
        "max",
        "one",
        "slash",
        "idn",
        "zero-queue",
        "bounds",
    ]
