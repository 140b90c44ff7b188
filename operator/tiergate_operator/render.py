"""Render a ModelTier into the Kubernetes objects that serve it (pure: spec in, manifests out).

A `vllm` tier becomes a Deployment and a Service named `<tier>-vllm`, plus a
PersistentVolumeClaim `<tier>-vllm-cache` when it asks for a model cache, and a KEDA
ScaledObject `<tier>-vllm` when it is autoscaled and KEDA scales it (`scaling.py`). All of
them carry the standard labels and an owner reference to the tier, so deleting the tier
deletes them. An `endpoint` tier renders nothing.

Each manifest carries `tiergate.io/spec-hash`, a digest of everything the operator sets,
so a later reconcile can tell "the spec changed" from "someone edited the object". While
KEDA scales a tier, the Deployment's replica count is not the operator's: it is left out
of the digest, and `Children.unowned` tells the reconciler never to compare or write it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tiergate_api.constants import (
    API_VERSION,
    GROUP,
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_TIER,
    MANAGED_BY,
    MODEL_TIER_KIND,
    VLLM_PORT,
)
from tiergate_api.modeltier import AccessMode, ModelTier, VllmBackend
from tiergate_operator.names import cache_claim_name, label_value, workload_name
from tiergate_operator.scaling import (
    KEDA_GROUP,
    KEDA_VERSION,
    SCALED_OBJECT_KIND,
    Scaling,
    initial_replicas,
    scaled_object_spec,
    scaling_for,
)
from tiergate_operator.settings import OperatorConfig

Manifest = dict[str, Any]
Path = tuple[str, ...]

APP_NAME: Final = "vllm"
COMPONENT: Final = "model-server"
PART_OF: Final = "tiergate"
CONTAINER_NAME: Final = "vllm"
PORT_NAME: Final = "http"
HEALTH_PATH: Final = "/health"
SHM_VOLUME: Final = "dshm"
CACHE_VOLUME: Final = "model-cache"
CACHE_MOUNT: Final = "/root/.cache/huggingface"
ANNOTATION_SPEC_HASH: Final = f"{GROUP}/spec-hash"
# A Deployment whose pods have not become ready in this long reports ProgressDeadlineExceeded;
# it must outlast the startup budget or a large model would look stuck while it loads.
PROGRESS_DEADLINE_MARGIN_SECONDS: Final = 600
REPLICAS: Final[Path] = ("spec", "replicas")


@dataclass(frozen=True)
class Children:
    """The objects a tier should own; `None` where the tier needs no such object."""

    deployment: Manifest | None = None
    service: Manifest | None = None
    cache_claim: Manifest | None = None
    scaled_object: Manifest | None = None
    scaling: Scaling = Scaling.FIXED
    """Who sets the Deployment's replica count."""

    def present(self) -> list[Manifest]:
        """The manifests that exist, in the order they should be created (claim, workload, then its scaler)."""
        return [m for m in (self.cache_claim, self.deployment, self.service, self.scaled_object) if m is not None]

    def unowned(self, kind: str) -> tuple[Path, ...]:
        """Fields of a rendered child that are set on creation only, then left to another controller."""
        if kind == "Deployment" and not self.scaling.operator_writes_replicas:
            return (REPLICAS,)
        return ()


def tier_labels(tier: str) -> dict[str, str]:
    """Labels on every object the operator creates for a tier, and on its pods."""
    value = label_value(tier)
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: value,
        LABEL_COMPONENT: COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_TIER: value,
    }


def selector_labels(tier: str) -> dict[str, str]:
    """The immutable subset of labels that Deployment and Service select pods by."""
    value = label_value(tier)
    return {LABEL_NAME: APP_NAME, LABEL_INSTANCE: value, LABEL_TIER: value}


def pods_selector(tier: str) -> str:
    """A label selector string that lists the tier's pods."""
    labels = {**selector_labels(tier), LABEL_MANAGED_BY: MANAGED_BY}
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def owner_reference(tier: ModelTier) -> dict[str, Any]:
    """The controller reference that ties a child to its tier (and deletes it with the tier)."""
    return {
        "apiVersion": API_VERSION,
        "kind": MODEL_TIER_KIND,
        "name": tier.metadata.name,
        "uid": tier.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def service_url(tier: str, namespace: str) -> str:
    """The in-cluster OpenAI base URL of a vllm tier's Service."""
    return f"http://{workload_name(tier)}.{namespace}.svc.cluster.local:{VLLM_PORT}/v1"


def render(tier: ModelTier, config: OperatorConfig, *, keda_installed: bool = False) -> Children:
    """Everything a tier should own; an endpoint tier owns nothing.

    `keda_installed` says whether the API server serves KEDA's ScaledObjects; it matters
    only to autoscaled tiers.
    """
    vllm = tier.spec.vllm
    if vllm is None:
        return Children()
    scaling = scaling_for(tier, config, keda_installed=keda_installed)
    claim = _cache_claim(tier, vllm) if vllm.model_cache is not None else None
    scaled_object = _scaled_object(tier, config) if scaling is Scaling.KEDA else None
    return Children(
        deployment=_deployment(tier, vllm, config, scaling),
        service=_service(tier),
        cache_claim=claim,
        scaled_object=scaled_object,
        scaling=scaling,
    )


def vllm_args(tier: ModelTier, vllm: VllmBackend, config: OperatorConfig) -> list[str]:
    """vLLM's command-line arguments: the spec's fields in a fixed order, then extraArgs."""
    args = [
        "--model",
        tier.spec.model,
        "--served-model-name",
        tier.spec.model,
        "--host",
        "0.0.0.0",
        "--port",
        str(VLLM_PORT),
        "--tensor-parallel-size",
        str(vllm.tensor_parallel_size),
    ]
    if vllm.max_model_len is not None:
        args += ["--max-model-len", str(vllm.max_model_len)]
    args += ["--gpu-memory-utilization", _fraction(vllm.gpu_memory_utilization_percent)]
    args += ["--dtype", vllm.dtype.value]
    if vllm.quantization is not None:
        args += ["--quantization", vllm.quantization]
    if config.otlp_traces_endpoint:
        args += ["--otlp-traces-endpoint", config.otlp_traces_endpoint]
    return args + list(vllm.extra_args)


def spec_hash(manifest: Manifest, *, unowned: tuple[Path, ...] = (), salt: str = "") -> str:
    """A digest of a manifest without its own hash annotation and `unowned` fields (key order does not matter).

    `salt` enters the digest too: a change of who scales the Deployment is a change of the spec.
    """
    stripped = json.loads(json.dumps(manifest))
    stripped.get("metadata", {}).get("annotations", {}).pop(ANNOTATION_SPEC_HASH, None)
    for path in unowned:
        node = stripped
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":")) + salt
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _fraction(percent: int) -> str:
    # 90 -> "0.9", 85 -> "0.85", 100 -> "1": vLLM takes a float; Decimal keeps it exact.
    value = Decimal(percent) / Decimal(100)
    text = format(value.normalize(), "f")
    return text


def _metadata(tier: ModelTier, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": tier.metadata.namespace,
        "labels": tier_labels(tier.metadata.name),
        "annotations": {},
        "ownerReferences": [owner_reference(tier)],
    }


def _finish(manifest: Manifest, *, unowned: tuple[Path, ...] = (), salt: str = "") -> Manifest:
    manifest["metadata"]["annotations"][ANNOTATION_SPEC_HASH] = spec_hash(manifest, unowned=unowned, salt=salt)
    return manifest


def _deployment(tier: ModelTier, vllm: VllmBackend, config: OperatorConfig, scaling: Scaling) -> Manifest:
    name = tier.metadata.name
    startup_budget = vllm.startup_timeout_seconds or config.startup_timeout_seconds
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": False,  # a Service named like vLLM's own VLLM_* variables would break it
        # vLLM's image runs as root, so runAsNonRoot and a read-only root would break it; the rest of
        # the restricted profile holds.
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(tier, vllm, config, startup_budget)],
        "volumes": _volumes(tier, vllm),
    }
    if vllm.node_pool is not None and vllm.node_pool.node_selector:
        pod_spec["nodeSelector"] = dict(sorted(vllm.node_pool.node_selector.items()))
    tolerations = _tolerations(vllm)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(tier, workload_name(name)),
        "spec": {
            "replicas": initial_replicas(tier),
            "selector": {"matchLabels": selector_labels(name)},
            "strategy": _strategy(vllm),
            "progressDeadlineSeconds": startup_budget + PROGRESS_DEADLINE_MARGIN_SECONDS,
            "template": {"metadata": {"labels": tier_labels(name)}, "spec": pod_spec},
        },
    }
    if scaling is Scaling.FIXED:
        return _finish(manifest)  # the digest of tiers that were never autoscaled stays as it always was
    unowned = () if scaling.operator_writes_replicas else (REPLICAS,)
    return _finish(manifest, unowned=unowned, salt=scaling.value)


def _scaled_object(tier: ModelTier, config: OperatorConfig) -> Manifest:
    autoscaling = tier.spec.vllm.autoscaling if tier.spec.vllm is not None else None
    assert autoscaling is not None  # checked by the caller (Scaling.KEDA)
    return _finish(
        {
            "apiVersion": f"{KEDA_GROUP}/{KEDA_VERSION}",
            "kind": SCALED_OBJECT_KIND,
            "metadata": _metadata(tier, workload_name(tier.metadata.name)),
            "spec": scaled_object_spec(tier, autoscaling, config),
        }
    )


def _strategy(vllm: VllmBackend) -> dict[str, Any]:
    # GPUs are scarce: a surge pod would wait for a GPU the old pod holds. A ReadWriteOnce
    # cache may not attach to a second node. Both replace pods one at a time instead.
    single_attach = vllm.model_cache is not None and vllm.model_cache.access_mode in (
        AccessMode.READ_WRITE_ONCE,
        AccessMode.READ_WRITE_ONCE_POD,
    )
    if vllm.gpu.count > 0 or single_attach:
        rolling = {"maxSurge": 0, "maxUnavailable": 1}
    else:
        rolling = {"maxSurge": 1, "maxUnavailable": 0}
    return {"type": "RollingUpdate", "rollingUpdate": rolling}


def _container(tier: ModelTier, vllm: VllmBackend, config: OperatorConfig, startup_budget: int) -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        return {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME, "scheme": "HTTP"}}

    startup_period = config.startup_probe_period_seconds
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": vllm.image or config.vllm_image,
        "imagePullPolicy": "IfNotPresent",
        "args": vllm_args(tier, vllm, config),
        "ports": [{"name": PORT_NAME, "containerPort": VLLM_PORT, "protocol": "TCP"}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "env": _env(vllm),
        "resources": _resources(vllm),
        "volumeMounts": [
            {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
            {"name": CACHE_VOLUME, "mountPath": CACHE_MOUNT},
        ],
        "startupProbe": {
            **probe(),
            "periodSeconds": startup_period,
            "timeoutSeconds": config.probe_timeout_seconds,
            "failureThreshold": max(1, math.ceil(startup_budget / startup_period)),
            "successThreshold": 1,
        },
        "readinessProbe": {
            **probe(),
            "periodSeconds": config.readiness_probe_period_seconds,
            "timeoutSeconds": config.probe_timeout_seconds,
            "failureThreshold": 3,
            "successThreshold": 1,
        },
        "livenessProbe": {
            **probe(),
            "periodSeconds": config.liveness_probe_period_seconds,
            "timeoutSeconds": config.probe_timeout_seconds,
            "failureThreshold": 4,
            "successThreshold": 1,
        },
    }
    return container


def _env(vllm: VllmBackend) -> list[dict[str, Any]]:
    ours: list[dict[str, Any]] = [{"name": "HF_HOME", "value": CACHE_MOUNT}]
    if vllm.hf_token_secret_ref is not None:
        ref = vllm.hf_token_secret_ref
        ours.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    theirs = [var.to_wire() for var in vllm.env]
    overridden = {var["name"] for var in theirs}
    # The spec's own variables win over the defaults (one entry per name, as kubelet expects).
    return [var for var in ours if var["name"] not in overridden] + theirs


def _resources(vllm: VllmBackend) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    if vllm.resources is not None:
        limits.update({key: _quantity(value) for key, value in vllm.resources.limits.items()})
        requests.update({key: _quantity(value) for key, value in vllm.resources.requests.items()})
    gpu = vllm.gpu
    if gpu.count > 0:
        limits[gpu.resource_name] = str(gpu.count)
        # Extended resources cannot be overcommitted: a request, when given, must equal the limit.
        if gpu.resource_name in requests:
            requests[gpu.resource_name] = str(gpu.count)
    else:
        limits.pop(gpu.resource_name, None)
        requests.pop(gpu.resource_name, None)
    resources: dict[str, Any] = {}
    if limits:
        resources["limits"] = dict(sorted(limits.items()))
    if requests:
        resources["requests"] = dict(sorted(requests.items()))
    return resources


def _quantity(value: int | str) -> str:
    return str(value)


def _tolerations(vllm: VllmBackend) -> list[dict[str, Any]]:
    tolerations = [t.to_wire() for t in vllm.node_pool.tolerations] if vllm.node_pool is not None else []
    if vllm.gpu.count > 0:
        gpu_toleration = {"key": vllm.gpu.resource_name, "operator": "Exists", "effect": "NoSchedule"}
        if gpu_toleration not in tolerations:
            tolerations.append(gpu_toleration)
    return tolerations


def _volumes(tier: ModelTier, vllm: VllmBackend) -> list[dict[str, Any]]:
    shm = {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}}
    if vllm.model_cache is not None:
        cache = {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": cache_claim_name(tier.metadata.name)}}
    else:
        cache = {"name": CACHE_VOLUME, "emptyDir": {}}
    return [shm, cache]


def _service(tier: ModelTier) -> Manifest:
    name = tier.metadata.name
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(tier, workload_name(name)),
            "spec": {
                "type": "ClusterIP",
                "selector": selector_labels(name),
                "ports": [{"name": PORT_NAME, "port": VLLM_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
            },
        }
    )


def _cache_claim(tier: ModelTier, vllm: VllmBackend) -> Manifest:
    cache = vllm.model_cache
    assert cache is not None  # checked by the caller
    spec: dict[str, Any] = {
        "accessModes": [cache.access_mode.value],
        "resources": {"requests": {"storage": cache.size}},
    }
    if cache.storage_class_name is not None:
        spec["storageClassName"] = cache.storage_class_name
    return _finish(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _metadata(tier, cache_claim_name(tier.metadata.name)),
            "spec": spec,
        }
    )
