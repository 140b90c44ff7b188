"""Who sets a tier's replica count, and the KEDA ScaledObject that scales it with demand (pure).

A tier without `spec.vllm.autoscaling` runs `spec.vllm.replicas`, written by the operator.
An autoscaled tier is scaled by KEDA when KEDA is installed and at least one signal source
is configured; the operator then creates its Deployment with `max(minReplicas, 1)` replicas
and never writes `spec.replicas` again. Otherwise the operator keeps it at `max(minReplicas, 1)`
itself (never zero: nothing would wake it up) and the tier says why (`Autoscaling=False`).

The ScaledObject's triggers (docs/autoscaling.md):

- `queue` (Prometheus): requests waiting in the tier's vLLM pods, per replica; scales 1 to N.
- `kv-cache` (Prometheus, unless targetKvCachePercent is 0): KV-cache use of the pods, per replica.
- `demand` (Prometheus): requests that wanted the tier on any gateway within the demand window
  (`Autoscaling.demand_window_seconds`: a minute or two polls, so the tier goes idle soon after its last request).
  Its target is so large that it never adds a replica; it only keeps the tier active (awake).
- `gateway-demand` (metrics-api): the same demand, straight from a gateway, with no scrape lag;
  what lets KEDA see at once why the gateway woke a cold tier (0 -> 1), so it keeps it up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from tiergate_api.autoscaling import Autoscaling
from tiergate_api.modeltier import ModelTier
from tiergate_operator.names import workload_name
from tiergate_operator.settings import OperatorConfig

KEDA_GROUP: Final = "keda.sh"
KEDA_VERSION: Final = "v1alpha1"
SCALED_OBJECT_KIND: Final = "ScaledObject"
SCALED_OBJECT_PLURAL: Final = "scaledobjects"
# A per-replica target no real signal reaches: the trigger can wake the tier but never adds a replica.
NEVER_SCALES_OUT: Final = "1000000000"
# Pods of a Deployment are named <deployment>-<pod-template-hash>-<suffix>; anchored, so that the
# pods of a tier named like another tier's Deployment ("a" and "a-vllm-x") are never counted together.
_POD_NAME_TAIL: Final = "-[a-z0-9]+-[a-z0-9]+"


class Scaling(StrEnum):
    """Who sets the replica count of a tier's Deployment."""

    FIXED = "Fixed"
    """No autoscaling: the operator writes spec.vllm.replicas."""
    KEDA = "KEDA"
    """A ScaledObject: KEDA and its HPA (and the gateway's 0 -> 1 wake-up); the operator never writes it."""
    KEDA_NOT_INSTALLED = "KEDANotInstalled"
    """Autoscaling asked for, but KEDA is not installed: the operator writes max(minReplicas, 1)."""
    NO_TRIGGERS = "NoTriggers"
    """KEDA is installed but no signal source is configured: the operator writes max(minReplicas, 1)."""

    @property
    def operator_writes_replicas(self) -> bool:
        """Whether the operator owns the Deployment's spec.replicas (compares and restores it)."""
        return self is not Scaling.KEDA


def scaling_for(tier: ModelTier, config: OperatorConfig, *, keda_installed: bool) -> Scaling:
    """How the tier's replica count is decided, given whether KEDA's API is served."""
    autoscaling = tier.spec.vllm.autoscaling if tier.spec.vllm is not None else None
    if autoscaling is None:
        return Scaling.FIXED
    if not keda_installed:
        return Scaling.KEDA_NOT_INSTALLED
    if not triggers(tier, autoscaling, config):
        return Scaling.NO_TRIGGERS
    return Scaling.KEDA


def initial_replicas(tier: ModelTier) -> int:
    """Replicas the operator writes: spec.vllm.replicas, or max(minReplicas, 1) for an autoscaled tier."""
    vllm = tier.spec.vllm
    if vllm is None:
        return 0
    return vllm.autoscaling.floor_without_scaler if vllm.autoscaling is not None else vllm.replicas


def scaled_object_spec(tier: ModelTier, autoscaling: Autoscaling, config: OperatorConfig) -> dict[str, Any]:
    """The `spec` of the tier's ScaledObject (the caller checked that it has triggers)."""
    idle = autoscaling.idle_seconds_before_zero
    scale_down = autoscaling.scale_down
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload_name(tier.metadata.name)},
        "minReplicaCount": autoscaling.min_replicas,
        "maxReplicaCount": autoscaling.max_replicas,
        "pollingInterval": autoscaling.polling_interval_seconds,
        "cooldownPeriod": idle,
        # A new tier (or one KEDA just took over) is not scaled to zero before anyone could want it.
        "initialCooldownPeriod": idle,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": scale_down.stabilization_seconds,
                        "policies": [{"type": "Pods", "value": scale_down.pods_per_minute, "periodSeconds": 60}],
                    }
                }
            }
        },
        "triggers": triggers(tier, autoscaling, config),
    }


def triggers(tier: ModelTier, autoscaling: Autoscaling, config: OperatorConfig) -> list[dict[str, Any]]:
    """The KEDA triggers whose source is configured, in a fixed order; empty when none is."""
    namespace, name = tier.metadata.namespace, tier.metadata.name
    found: list[dict[str, Any]] = []
    if config.prometheus_address is not None:
        pods = f'namespace="{namespace}",pod=~"{workload_name(name)}{_POD_NAME_TAIL}"'
        found.append(
            _prometheus(
                "queue",
                config.prometheus_address,
                f"sum(vllm:num_requests_waiting{{{pods}}})",
                str(autoscaling.target_waiting_requests),
            )
        )
        if autoscaling.target_kv_cache_percent:
            found.append(
                _prometheus(
                    "kv-cache",
                    config.prometheus_address,
                    f"sum(vllm:kv_cache_usage_perc{{{pods}}}) * 100",
                    str(autoscaling.target_kv_cache_percent),
                )
            )
        demand = f'tiergate_tier_demand_total{{tier_namespace="{namespace}",tier="{name}"}}'
        window = f"[{autoscaling.demand_window_seconds}s]"
        found.append(
            _prometheus(
                "demand",
                config.prometheus_address,
                f"sum(increase({demand}{window}))",
                NEVER_SCALES_OUT,
                activation="0",
            )
        )
    if config.gateway_demand_url is not None:
        found.append(
            {
                "type": "metrics-api",
                "name": "gateway-demand",
                "metricType": "AverageValue",
                "metadata": {
                    "url": f"{config.gateway_demand_url}/scaling/demand/{namespace}/{name}",
                    "valueLocation": "demand",
                    "targetValue": NEVER_SCALES_OUT,
                    "activationTargetValue": "0",
                },
            }
        )
    return found


def _prometheus(name: str, address: str, query: str, threshold: str, *, activation: str | None = None) -> dict:
    metadata = {"serverAddress": address, "query": query, "threshold": threshold}
    if activation is not None:
        metadata["activationThreshold"] = activation
    return {"type": "prometheus", "name": name, "metricType": "AverageValue", "metadata": metadata}
