"""Names shared by the operator, the gateway and the chart: API group, labels, ports."""

from __future__ import annotations

from typing import Final

GROUP: Final = "tiergate.io"
VERSION: Final = "v1alpha1"
# GROUP/VERSION spelt out, so that the models can use it as the default of a Literal field.
API_VERSION: Final = "tiergate.io/v1alpha1"
CATEGORY: Final = "tiergate"

MODEL_TIER_KIND: Final = "ModelTier"
MODEL_TIER_PLURAL: Final = "modeltiers"
MODEL_TIER_SHORT_NAME: Final = "mt"
ROUTING_POLICY_KIND: Final = "RoutingPolicy"
ROUTING_POLICY_PLURAL: Final = "routingpolicies"
ROUTING_POLICY_SHORT_NAME: Final = "rp"

# Labels put on everything the operator creates.
LABEL_TIER: Final = f"{GROUP}/tier"
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "tiergate-operator"
# The node-pool label used by kind-config.yaml and the examples.

VLLM_PORT: Final = 8000
DEFAULT_GPU_RESOURCE: Final = "nvidia.com/gpu"

# Request and response headers of the gateway (docs/routing.md, section 7).
HEADER_TASK: Final = "x-tiergate-task"
HEADER_LATENCY_CLASS: Final = "x-tiergate-latency-class"
HEADER_POLICY: Final = "x-tiergate-policy"
HEADER_TIER: Final = "x-tiergate-tier"
HEADER_REPLICA: Final = "x-tiergate-replica"
HEADER_ATTEMPTS: Final = "x-tiergate-attempts"
HEADER_FALLBACK_REASON: Final = "x-tiergate-fallback-reason"
