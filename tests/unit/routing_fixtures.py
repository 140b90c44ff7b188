"""Small builders of tiers, policies and snapshots for routing tests (through the real parser)."""

from __future__ import annotations

from typing import Any

from tiergate_api.enums import LatencyClass, Task
from tiergate_api.resources import parse_resource
from tiergate_gateway.core.registry import Snapshot, build_snapshot
from tiergate_gateway.core.routing import RequestFacts
from tiergate_gateway.core.views import PolicyView
from tiergate_gateway.runtime.health import HealthBook


def tier(
    name: str,
    size: str,
    *,
    tasks: list[str] | None = None,
    local: bool = True,
    price_in: str = "0",
    price_out: str = "0",
    context: int | None = None,
    features: list[str] | None = None,
    ttft: int | None = None,
    tps: int | None = None,
) -> dict[str, Any]:
    """A ModelTier document with an endpoint backend."""
    spec: dict[str, Any] = {
        "model": f"model-{name}",
        "size": size,
        "capabilities": {},
        "cost": {"inputPerMillionTokens": price_in, "outputPerMillionTokens": price_out},
        "endpoint": {"url": f"http://127.0.0.1:1/{name}", "locality": "Local" if local else "Remote"},
    }
    if tasks is not None:
        spec["capabilities"]["tasks"] = tasks
    if context is not None:
        spec["capabilities"]["maxContextTokens"] = context
    if features is not None:
        spec["capabilities"]["features"] = features
    if ttft is not None or tps is not None:
        spec["latency"] = {k: v for k, v in (("ttftMilliseconds", ttft), ("tokensPerSecond", tps)) if v is not None}
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier", "metadata": {"name": name}, "spec": spec}


COLD_TIER = "default/local"
COLD_SERVICE = "default/local-vllm"
COLD_REPLICA = "10.0.0.7:8000"
"""The in-cluster tier of `vllm_tier`, its Service and a replica address discovery may report."""


def vllm_tier(*, autoscaled: bool = True, desired: int = 0, ready: int = 0) -> dict[str, Any]:
    """An in-cluster tier `local` (7B) as the operator reports it; its replicas answer as fake tier `v1`."""
    vllm: dict[str, Any] = (
        {"autoscaling": {"minReplicas": 0, "maxReplicas": 4, "idleSecondsBeforeZero": 600}}
        if autoscaled
        else {"replicas": desired}
    )
    reason = "Ready" if ready else ("ScaledToZero" if desired == 0 else "Starting")
    return {
        "apiVersion": "tiergate.io/v1alpha1",
        "kind": "ModelTier",
        "metadata": {"name": "local"},
        "spec": {"model": "qwen-7b", "size": "7B", "vllm": vllm},
        "status": {
            "endpoint": "http://local-vllm.default.svc.cluster.local:8000/v1",
            "replicas": desired,
            "readyReplicas": ready,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": reason,
                    "message": "as reported",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        },
    }


def policy(
    tiers: list[str],
    *,
    strategy: str = "Capability",
    chain: list[str] | None = None,
    max_attempts: int = 3,
    max_cost: str | None = None,
    daily: str | None = None,
    on_exceeded: str = "Downgrade",
    latency_class: str = "Batch",
    weights: dict[str, int] | None = None,
    require_local_last: bool = True,
    retry_on: list[str] | None = None,
) -> dict[str, Any]:
    """A RoutingPolicy document with alias "auto"."""
    spec: dict[str, Any] = {
        "modelAlias": "auto",
        "strategy": strategy,
        "tiers": [{"name": t} for t in tiers],
        "defaultLatencyClass": latency_class,
        "fallback": {"maxAttempts": max_attempts, "requireLocalLast": require_local_last},
    }
    if chain:
        spec["fallback"]["chain"] = [{"name": t} for t in chain]
    if retry_on is not None:
        spec["fallback"]["retryOn"] = retry_on
    if weights is not None:
        spec["weights"] = weights
    if max_cost or daily:
        spec["budget"] = {"onExceeded": on_exceeded}
        if max_cost:
            spec["budget"]["maxCostPerRequest"] = max_cost
        if daily:
            spec["budget"]["dailyLimit"] = daily
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "RoutingPolicy", "metadata": {"name": "p"}, "spec": spec}


def snapshot(tiers: list[dict[str, Any]], policy_doc: dict[str, Any]) -> Snapshot:
    """A snapshot built from documents, as a config folder would give them."""
    parsed_tiers = [parse_resource(t) for t in tiers]
    return build_snapshot(parsed_tiers, [parse_resource(policy_doc)])  # type: ignore[arg-type]


def policy_view(tiers: list[dict[str, Any]], policy_doc: dict[str, Any]) -> PolicyView:
    """The routing view of the policy."""
    return snapshot(tiers, policy_doc).policies["auto"]


def facts(
    task: Task = Task.CHAT,
    *,
    latency: LatencyClass = LatencyClass.BATCH,
    prompt_tokens: int = 100,
    max_tokens: int | None = 100,
    features: frozenset[Any] = frozenset(),
    stream: bool = False,
) -> RequestFacts:
    """Request facts with sensible defaults."""
    return RequestFacts(task, latency, prompt_tokens, max_tokens, features, stream)


def fresh_health() -> HealthBook:
    """Health with no history."""
    return HealthBook()
