"""Build the CustomResourceDefinitions from the pydantic models (pure; no file I/O).

One source of truth: the models decide what a resource may hold, and this module turns
their JSON schema into a structural `openAPIV3Schema` (refs inlined, nullable unions
collapsed, titles dropped, `x-kubernetes-*` extensions kept). `scripts/generate_crds.py`
writes the result to `crds/`, and a test checks the committed files are current.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from tiergate_api.constants import (
    CATEGORY,
    GROUP,
    MODEL_TIER_KIND,
    MODEL_TIER_PLURAL,
    MODEL_TIER_SHORT_NAME,
    ROUTING_POLICY_KIND,
    ROUTING_POLICY_PLURAL,
    ROUTING_POLICY_SHORT_NAME,
    VERSION,
)
from tiergate_api.modeltier import ModelTierSpec, ModelTierStatus
from tiergate_api.routingpolicy import RoutingPolicySpec, RoutingPolicyStatus

_READY_COLUMN: Final = {
    "name": "Ready",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    "description": "Whether the resource is ready (the Ready condition)",
}
_AGE_COLUMN: Final = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "Time since creation",
}


@dataclass(frozen=True)
class KindInfo:
    """Everything about one kind that is not in its spec and status models."""

    kind: str
    plural: str
    short_name: str
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[dict[str, str], ...]


MODEL_TIER: Final = KindInfo(
    kind=MODEL_TIER_KIND,
    plural=MODEL_TIER_PLURAL,
    short_name=MODEL_TIER_SHORT_NAME,
    description=(
        "ModelTier is one model that requests can be routed to: its size, capabilities, "
        "prices and latency, and how it is served (an in-cluster vLLM server or a URL)."
    ),
    spec=ModelTierSpec,
    status=ModelTierStatus,
    columns=(
        {"name": "Model", "type": "string", "jsonPath": ".spec.model", "description": "Model id served"},
        {"name": "Size", "type": "string", "jsonPath": ".spec.size", "description": "Parameter count"},
        {
            "name": "Locality",
            "type": "string",
            "jsonPath": ".status.locality",
            "description": "Local (in-cluster) or Remote",
        },
        {"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas", "description": "Ready vLLM pods"},
        {
            "name": "Desired",
            "type": "integer",
            "jsonPath": ".status.replicas",
            "description": "vLLM pods desired (by spec or by the autoscaler)",
        },
        {
            "name": "Zero",
            "type": "boolean",
            "jsonPath": ".status.scaledToZero",
            "description": "Scaled to zero: requests fall back until the tier starts again",
        },
        _READY_COLUMN,
        _AGE_COLUMN,
    ),
)

ROUTING_POLICY: Final = KindInfo(
    kind=ROUTING_POLICY_KIND,
    plural=ROUTING_POLICY_PLURAL,
    short_name=ROUTING_POLICY_SHORT_NAME,
    description=(
        "RoutingPolicy decides which ModelTier serves the requests for one model alias: "
        "the candidate tiers, the ranking strategy, the budget and the fallback chain."
    ),
    spec=RoutingPolicySpec,
    status=RoutingPolicyStatus,
    columns=(
        {"name": "Alias", "type": "string", "jsonPath": ".spec.modelAlias", "description": "Model alias clients send"},
        {"name": "Strategy", "type": "string", "jsonPath": ".spec.strategy", "description": "Ranking strategy"},
        {"name": "Tiers", "type": "string", "jsonPath": ".spec.tiers[*].name", "description": "Candidate tiers"},
        _READY_COLUMN,
        _AGE_COLUMN,
    ),
)

KINDS: Final = (MODEL_TIER, ROUTING_POLICY)


def build_crd(info: KindInfo) -> dict[str, Any]:
    """The full apiextensions.k8s.io/v1 CustomResourceDefinition for one kind."""
    schema = {
        "type": "object",
        "description": info.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of the object: tiergate.io/v1alpha1."},
            "kind": {"type": "string", "description": f"Kind of the object: {info.kind}."},
            "metadata": {"type": "object"},
            "spec": model_schema(info.spec),
            "status": model_schema(info.status),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "tiergate", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.kind.lower(),
                "shortNames": [info.short_name],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(info.columns),
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema as a structural Kubernetes schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(raw, defs)


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = _inline_ref(node, defs)
    node = _collapse_nullable(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "additionalProperties") and value is False:
            continue
        if key == "title":
            continue
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "anyOf"):
            out[key] = _structural(value, defs)
        else:
            out[key] = copy.deepcopy(value)
    _drop_empty_collection_default(out)
    return _ordered(out)


_FIRST_KEYS: Final = ("type", "description", "required")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Type and description first, so the YAML reads like hand-written CRDs."""
    head = {k: node[k] for k in _FIRST_KEYS if k in node}
    return head | {k: v for k, v in node.items() if k not in head}


def _inline_ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Replace a $ref by its target; the referring node's own keys win (its description)."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
    target = _inline_ref(target, defs)
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    rules = target.get("x-kubernetes-validations", []) + node.get("x-kubernetes-validations", [])
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def _collapse_nullable(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` becomes X: absence is how Kubernetes says "not set"."""
    variants = node.get("anyOf")
    if not variants:
        return node
    concrete = [v for v in variants if v.get("type") != "null"]
    if len(concrete) == len(variants) or len(concrete) != 1:
        return node
    inner = _inline_ref(concrete[0], defs)
    merged = {**inner, **{k: v for k, v in node.items() if k != "anyOf"}}
    if merged.get("default", 0) is None:
        del merged["default"]
    rules = inner.get("x-kubernetes-validations", []) + node.get("x-kubernetes-validations", [])
    if rules:
        merged["x-kubernetes-validations"] = rules
    return _collapse_nullable(merged, defs)


def _drop_empty_collection_default(node: dict[str, Any]) -> None:
    """Empty lists and maps are the same as absent; storing them would only add noise."""
    default = node.get("default")
    if default == [] or (default == {} and "properties" not in node):
        del node["default"]
