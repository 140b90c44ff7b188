"""Valid and invalid resources shared by the model tests and the API-server (emulator) tests.

Each invalid case is a valid base document with one thing broken, and the field path a
user must see in the error. Both the pydantic models and the CRD schema must reject it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CRDS = ROOT / "crds"

_DELETE = object()


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    """Every document under examples/ with a readable id (file and name)."""
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                ident = f"{path.relative_to(EXAMPLES)}:{document['kind']}/{document['metadata']['name']}"
                found.append((ident, document))
    return found


def vllm_tier(name: str = "small") -> dict[str, Any]:
    """A valid in-cluster tier."""
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": "Qwen/Qwen2.5-1.5B-Instruct",
            "size": "1.5B",
            "capabilities": {"tasks": ["Classification", "Chat"], "maxContextTokens": 8192},
            "cost": {"inputPerMillionTokens": "0.02", "outputPerMillionTokens": "0.04"},
            "vllm": {"gpu": {"count": 2}, "tensorParallelSize": 2, "resources": {"limits": {"memory": "16Gi"}}},
        },
    }


def endpoint_tier(name: str = "remote") -> dict[str, Any]:
    """A valid external tier."""
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": name},
        "spec": {
            "model": "gpt-4o",
            "size": "200B",
            "endpoint": {"url": "https://api.example.com/v1", "apiKeySecretRef": {"name": "k", "key": "api-key"}},
        },
    }


def policy(name: str = "auto") -> dict[str, Any]:
    """A valid Hybrid policy."""
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": name},
        "spec": {
            "modelAlias": "auto",
            "strategy": "Hybrid",
            "weights": {"capability": 50, "cost": 30, "latency": 20},
            "tiers": [{"name": "small"}, {"name": "remote"}],
            "budget": {"maxCostPerRequest": "0.05", "dailyLimit": "100"},
            "fallback": {"chain": [{"name": "remote"}, {"name": "small"}], "maxAttempts": 3},
        },
    }


def _with(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the document with the dotted path set to value (or deleted)."""
    result = copy.deepcopy(document)
    *parents, leaf = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return result


@dataclass(frozen=True)
class InvalidCase:
    """A document that must be rejected, and the field the error must name."""

    id: str
    document: dict[str, Any]
    field: str


INVALID_CASES: list[InvalidCase] = [
    InvalidCase("tier-two-backends", _with(vllm_tier(), "spec.endpoint", {"url": "https://x.example/v1"}), "spec"),
    InvalidCase("tier-no-backend", _with(vllm_tier(), "spec.vllm", _DELETE), "spec"),
    InvalidCase("tier-size-unit", _with(vllm_tier(), "spec.size", "1.5X"), "spec.size"),
    InvalidCase("tier-size-words", _with(vllm_tier(), "spec.size", "small"), "spec.size"),
    InvalidCase("tier-missing-model", _with(vllm_tier(), "spec.model", _DELETE), "spec.model"),
    InvalidCase(
        "tier-negative-cost",
        _with(vllm_tier(), "spec.cost.inputPerMillionTokens", "-0.5"),
        "spec.cost.inputPerMillionTokens",
    ),
    InvalidCase(
        "tier-float-cost",
        _with(vllm_tier(), "spec.cost.outputPerMillionTokens", 0.04),
        "spec.cost.outputPerMillionTokens",
    ),
    InvalidCase(
        "tier-unknown-task", _with(vllm_tier(), "spec.capabilities.tasks", ["Poetry"]), "spec.capabilities.tasks"
    ),
    InvalidCase(
        "tier-duplicate-task",
        _with(vllm_tier(), "spec.capabilities.tasks", ["Chat", "Chat"]),
        "spec.capabilities.tasks",
    ),
    InvalidCase(
        "tier-gpu-memory-percent",
        _with(vllm_tier(), "spec.vllm.gpuMemoryUtilizationPercent", 150),
        "spec.vllm.gpuMemoryUtilizationPercent",
    ),
    InvalidCase("tier-negative-gpus", _with(vllm_tier(), "spec.vllm.gpu.count", -1), "spec.vllm.gpu.count"),
    InvalidCase(
        "tier-tensor-parallel-over-gpus",
        _with(vllm_tier(), "spec.vllm.tensorParallelSize", 4),
        "spec.vllm.tensorParallelSize",
    ),
    InvalidCase("tier-replicas-string", _with(vllm_tier(), "spec.vllm.replicas", "2"), "spec.vllm.replicas"),
    InvalidCase("tier-dtype", _with(vllm_tier(), "spec.vllm.dtype", "int4"), "spec.vllm.dtype"),
    InvalidCase(
        "tier-bad-quantity",
        _with(vllm_tier(), "spec.vllm.resources.limits", {"memory": "lots"}),
        "spec.vllm.resources.limits.memory",
    ),
    InvalidCase("tier-url-scheme", _with(endpoint_tier(), "spec.endpoint.url", "ftp://x.example"), "spec.endpoint.url"),
    *(
        InvalidCase(f"tier-url-{ident}", _with(endpoint_tier(), "spec.endpoint.url", url), "spec.endpoint.url")
        for ident, url in (
            ("credentials", "https://user:sk-secret@api.example.com/v1"),
            ("space", "https://api.example.com/v 1"),
            ("line-break", "https://api.example.com/v1\r\nx-injected: 1"),
            ("non-ascii-path", "https://api.example.com/模型/v1"),
            ("unicode-space-in-host", "https://api\u3000example.com/v1"),
            ("zero-width-in-host", "https://api.exa\u200bmple.com/v1"),
            ("no-host", "https:///v1"),
            ("port-out-of-range", "https://api.example.com:65536/v1"),
        )
    ),
    InvalidCase("tier-locality", _with(endpoint_tier(), "spec.endpoint.locality", "Moon"), "spec.endpoint.locality"),
    InvalidCase(
        "tier-timeout-zero", _with(endpoint_tier(), "spec.endpoint.timeoutSeconds", 0), "spec.endpoint.timeoutSeconds"
    ),
    InvalidCase(
        "tier-context-float",
        _with(vllm_tier(), "spec.capabilities.maxContextTokens", 8192.5),
        "spec.capabilities.maxContextTokens",
    ),
    InvalidCase("policy-unknown-strategy", _with(policy(), "spec.strategy", "Random"), "spec.strategy"),
    InvalidCase("policy-weights-without-hybrid", _with(policy(), "spec.strategy", "Cost"), "spec.weights"),
    InvalidCase(
        "policy-weights-zero",
        _with(policy(), "spec.weights", {"capability": 0, "cost": 0, "latency": 0}),
        "spec.weights",
    ),
    InvalidCase(
        "policy-weight-over-100",
        _with(policy(), "spec.weights", {"capability": 50, "cost": 150}),
        "spec.weights.cost",
    ),
    InvalidCase("policy-empty-chain", _with(policy(), "spec.fallback.chain", []), "spec.fallback.chain"),
    InvalidCase(
        "policy-duplicate-chain",
        _with(policy(), "spec.fallback.chain", [{"name": "small"}, {"name": "small"}]),
        "spec.fallback.chain",
    ),
    InvalidCase("policy-empty-tiers", _with(policy(), "spec.tiers", []), "spec.tiers"),
    InvalidCase(
        "policy-duplicate-tiers", _with(policy(), "spec.tiers", [{"name": "small"}, {"name": "small"}]), "spec.tiers"
    ),
    InvalidCase("policy-missing-tiers", _with(policy(), "spec.tiers", _DELETE), "spec.tiers"),
    InvalidCase("policy-tier-name", _with(policy(), "spec.tiers", [{"name": "Not_A_Name"}]), "spec.tiers"),
    InvalidCase(
        "policy-max-attempts-zero", _with(policy(), "spec.fallback.maxAttempts", 0), "spec.fallback.maxAttempts"
    ),
    InvalidCase(
        "policy-negative-budget",
        _with(policy(), "spec.budget.maxCostPerRequest", "-1"),
        "spec.budget.maxCostPerRequest",
    ),
    InvalidCase("policy-float-budget", _with(policy(), "spec.budget.dailyLimit", 100.0), "spec.budget.dailyLimit"),
    InvalidCase("policy-on-exceeded", _with(policy(), "spec.budget.onExceeded", "Panic"), "spec.budget.onExceeded"),
    InvalidCase(
        "policy-latency-class", _with(policy(), "spec.defaultLatencyClass", "Whenever"), "spec.defaultLatencyClass"
    ),
    InvalidCase("policy-retry-on", _with(policy(), "spec.fallback.retryOn", ["Always"]), "spec.fallback.retryOn"),
    InvalidCase("policy-missing-alias", _with(policy(), "spec.modelAlias", _DELETE), "spec.modelAlias"),
    InvalidCase(
        "policy-require-local-string",
        _with(policy(), "spec.fallback.requireLocalLast", "yes"),
        "spec.fallback.requireLocalLast",
    ),
    InvalidCase("policy-classifier-mode", _with(policy(), "spec.classifier.mode", "Guess"), "spec.classifier.mode"),
    InvalidCase(
        "policy-external-classifier-url",
        _with(policy(), "spec.classifier.external", {"url": "ftp://classifier.example/classify"}),
        "spec.classifier.external.url",
    ),
    InvalidCase(
        "policy-external-classifier-credentials",
        _with(policy(), "spec.classifier.external", {"url": "https://user:pw@classifier.example/classify"}),
        "spec.classifier.external.url",
    ),
    InvalidCase(
        "policy-external-classifier-no-url",
        _with(policy(), "spec.classifier.external", {"timeoutMilliseconds": 100}),
        "spec.classifier.external.url",
    ),
    InvalidCase(
        "policy-external-classifier-timeout",
        _with(policy(), "spec.classifier.external", {"url": "http://c.example/classify", "timeoutMilliseconds": 0}),
        "spec.classifier.external.timeoutMilliseconds",
    ),
    InvalidCase(
        "policy-external-classifier-secret-key",
        _with(
            policy(),
            "spec.classifier.external",
            {"url": "http://c.example/classify", "apiKeySecretRef": {"name": "cls", "key": "a b"}},
        ),
        "spec.classifier.external.apiKeySecretRef.key",
    ),
]
