"""Rendering a ModelTier: every spec field lands where it should, and the result is valid Kubernetes."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_cases import endpoint_tier, example_documents
from tiergate_api.modeltier import ModelTier
from tiergate_operator.names import cache_claim_name, label_value, workload_name
from tiergate_operator.render import ANNOTATION_SPEC_HASH, render, service_url, spec_hash
from tiergate_operator.settings import OperatorConfig

K8S_VERSION = "1.34.0"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG = OperatorConfig()


def full_tier(**vllm_overrides: Any) -> ModelTier:
    """A tier that sets every vllm field, so each can be found in the output."""
    vllm: dict[str, Any] = {
        "image": "registry.example/vllm:v9",
        "replicas": 3,
        "nodePool": {
            "nodeSelector": {"tiergate.io/pool": "gpu-large", "zone": "a"},
            "tolerations": [
                {"key": "tiergate.io/pool", "operator": "Equal", "value": "gpu-large", "effect": "NoSchedule"}
            ],
        },
        "gpu": {"count": 4, "resourceName": "amd.com/gpu"},
        "tensorParallelSize": 4,
        "maxModelLen": 65536,
        "gpuMemoryUtilizationPercent": 85,
        "dtype": "bfloat16",
        "quantization": "awq",
        "extraArgs": ["--enable-prefix-caching", "--max-num-seqs=64"],
        "env": [
            {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"},
            {"name": "FROM_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}},
        ],
        "resources": {"requests": {"cpu": "8", "memory": "64Gi"}, "limits": {"memory": "128Gi"}},
        "modelCache": {"size": "200Gi", "storageClassName": "fast", "accessMode": "ReadWriteMany"},
        "hfTokenSecretRef": {"name": "hf", "key": "token"},
        "startupTimeoutSeconds": 3600,
    }
    vllm.update(vllm_overrides)
    return ModelTier.model_validate(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "llama-70b", "namespace": "models", "uid": "uid-1", "generation": 1},
            "spec": {"model": "meta-llama/Llama-3.3-70B-Instruct", "size": "70B", "vllm": vllm},
        }
    )


def cpu_tier(name: str = "tiny", **vllm: Any) -> ModelTier:
    return ModelTier.model_validate(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": name, "namespace": "default", "uid": "uid-2"},
            "spec": {"model": "Qwen/Qwen2.5-0.5B-Instruct", "size": "0.5B", "vllm": {"gpu": {"count": 0}, **vllm}},
        }
    )


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_every_vllm_field_lands_in_the_container_and_pod() -> None:
    children = render(full_tier(), CONFIG)
    deployment = children.deployment
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    container = container_of(deployment)

    assert deployment["metadata"]["name"] == "llama-70b-vllm"
    assert deployment["metadata"]["namespace"] == "models"
    assert deployment["spec"]["replicas"] == 3
    assert container["image"] == "registry.example/vllm:v9"
    assert container["args"] == [
        "--model", "meta-llama/Llama-3.3-70B-Instruct",
        "--served-model-name", "meta-llama/Llama-3.3-70B-Instruct",
        "--host", "0.0.0.0",
        "--port", "8000",
        "--tensor-parallel-size", "4",
        "--max-model-len", "65536",
        "--gpu-memory-utilization", "0.85",
        "--dtype", "bfloat16",
        "--quantization", "awq",
        "--enable-prefix-caching", "--max-num-seqs=64",
    ]  # fmt: skip
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["resources"] == {
        "limits": {"amd.com/gpu": "4", "memory": "128Gi"},
        "requests": {"cpu": "8", "memory": "64Gi"},
    }
    assert pod["nodeSelector"] == {"tiergate.io/pool": "gpu-large", "zone": "a"}
    assert pod["tolerations"] == [
        {"key": "tiergate.io/pool", "operator": "Equal", "value": "gpu-large", "effect": "NoSchedule"},
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
    env = {var["name"]: var for var in container["env"]}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}
    assert env["VLLM_LOGGING_LEVEL"]["value"] == "DEBUG"
    assert env["FROM_CONFIG"]["valueFrom"] == {"configMapKeyRef": {"name": "cfg", "key": "k"}}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "llama-70b-vllm-cache"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"dshm": "/dev/shm", "model-cache": "/root/.cache/huggingface"}


def test_model_cache_renders_an_owned_claim() -> None:
    claim = render(full_tier(), CONFIG).cache_claim
    assert claim is not None
    assert claim["metadata"]["name"] == "llama-70b-vllm-cache"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "200Gi"}},
        "storageClassName": "fast",
    }
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_without_model_cache_the_cache_is_an_empty_dir_and_no_claim() -> None:
    children = render(cpu_tier(), CONFIG)
    assert children.cache_claim is None
    volumes = {v["name"]: v for v in children.deployment["spec"]["template"]["spec"]["volumes"]}  # type: ignore[index]
    assert volumes["model-cache"] == {"name": "model-cache", "emptyDir": {}}


def test_probes_hit_health_and_the_startup_budget_covers_slow_model_loads() -> None:
    container = container_of(render(full_tier(), CONFIG).deployment)  # type: ignore[arg-type]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http", "scheme": "HTTP"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 3600  # the tier's startupTimeoutSeconds

    default = container_of(render(cpu_tier(), CONFIG).deployment)["startupProbe"]  # type: ignore[arg-type]
    assert default["periodSeconds"] * default["failureThreshold"] >= 1800  # the operator's 30-minute default
    short = container_of(render(cpu_tier(), OperatorConfig(startup_timeout_seconds=60)).deployment)  # type: ignore[arg-type]
    assert short["startupProbe"]["periodSeconds"] * short["startupProbe"]["failureThreshold"] == 60


def test_progress_deadline_outlasts_the_startup_budget() -> None:
    deployment = render(full_tier(), CONFIG).deployment
    assert deployment["spec"]["progressDeadlineSeconds"] > 3600  # type: ignore[index]


def test_otlp_endpoint_is_passed_only_when_configured() -> None:
    assert "--otlp-traces-endpoint" not in container_of(render(cpu_tier(), CONFIG).deployment)["args"]  # type: ignore[arg-type]
    traced = OperatorConfig(otlp_traces_endpoint="http://jaeger.observability:4317")
    args = container_of(render(cpu_tier(), traced).deployment)["args"]  # type: ignore[arg-type]
    assert args[args.index("--otlp-traces-endpoint") + 1] == "http://jaeger.observability:4317"


def test_extra_args_come_last_so_they_can_override() -> None:
    args = container_of(render(cpu_tier(extraArgs=["--dtype", "half"]), CONFIG).deployment)["args"]  # type: ignore[arg-type]
    assert args[-2:] == ["--dtype", "half"]


def test_default_image_is_the_pinned_setting() -> None:
    assert container_of(render(cpu_tier(), CONFIG).deployment)["image"] == "vllm/vllm-openai:v0.21.0"  # type: ignore[arg-type]
    pinned = OperatorConfig(vllm_image="mirror.example/vllm-openai:v0.21.0")
    assert container_of(render(cpu_tier(), pinned).deployment)["image"] == "mirror.example/vllm-openai:v0.21.0"  # type: ignore[arg-type]


def test_gpu_count_zero_renders_a_cpu_pod_without_gpu_limit_or_toleration() -> None:
    deployment = render(cpu_tier(resources={"limits": {"cpu": "2", "memory": "4Gi"}}), CONFIG).deployment
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    container = container_of(deployment)
    assert container["resources"] == {"limits": {"cpu": "2", "memory": "4Gi"}}
    assert "nvidia.com/gpu" not in str(container["resources"])
    assert "tolerations" not in pod
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_gpu_tiers_get_the_standard_toleration_and_replace_pods_one_at_a_time() -> None:
    deployment = render(cpu_tier(gpu={"count": 1}), CONFIG).deployment
    assert deployment is not None
    assert container_of(deployment)["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert deployment["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_spec_env_overrides_the_operator_defaults_without_duplicates() -> None:
    env = container_of(render(cpu_tier(env=[{"name": "HF_HOME", "value": "/models"}]), CONFIG).deployment)["env"]  # type: ignore[arg-type]
    assert [var["name"] for var in env] == ["HF_HOME"]
    assert env[0]["value"] == "/models"


def test_labels_selectors_and_owner_references() -> None:
    children = render(full_tier(), CONFIG)
    expected = {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": "llama-70b",
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "tiergate-operator",
        "tiergate.io/tier": "llama-70b",
    }
    for manifest in children.present():
        assert expected.items() <= manifest["metadata"]["labels"].items()
        [owner] = manifest["metadata"]["ownerReferences"]
        assert owner == {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "name": "llama-70b",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    deployment, service = children.deployment, children.service
    assert deployment is not None and service is not None
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert expected.items() <= pod_labels.items()
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    assert service["metadata"]["name"] == "llama-70b-vllm"


def test_endpoint_tiers_render_nothing() -> None:
    tier = ModelTier.model_validate({**endpoint_tier(), "metadata": {"name": "remote", "uid": "u"}})
    assert render(tier, CONFIG).present() == []


def test_service_url_is_the_in_cluster_openai_base() -> None:
    assert service_url("qwen-1-5b", "models") == "http://qwen-1-5b-vllm.models.svc.cluster.local:8000/v1"


def test_spec_hash_tracks_the_spec_and_ignores_key_order() -> None:
    one = render(cpu_tier(replicas=1), CONFIG).deployment
    two = render(cpu_tier(replicas=2), CONFIG).deployment
    assert one is not None and two is not None
    assert one["metadata"]["annotations"][ANNOTATION_SPEC_HASH] != two["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
    reordered = dict(reversed(list(one.items())))
    assert spec_hash(reordered) == one["metadata"]["annotations"][ANNOTATION_SPEC_HASH]


def test_rendering_is_deterministic() -> None:
    assert render(full_tier(), CONFIG) == render(full_tier(), CONFIG)


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("tier", "expected"),
    [("qwen-1-5b", "qwen-1-5b-vllm"), ("a" * 58, "a" * 58 + "-vllm")],
)
def test_short_names_are_kept_as_they_are(tier: str, expected: str) -> None:
    assert workload_name(tier) == expected


DNS_SUBDOMAIN_NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True).filter(
    lambda n: ".." not in n and ".-" not in n and "-." not in n
)


@settings(max_examples=300)
@given(DNS_SUBDOMAIN_NAMES)
def test_every_tier_name_gives_valid_child_names_and_labels(tier: str) -> None:
    for name in (workload_name(tier), cache_claim_name(tier)):
        assert len(name) <= 63
        assert DNS_1035.match(name), name
    value = label_value(tier)
    assert len(value) <= 63 and LABEL_VALUE.match(value), value


@settings(max_examples=200)
@given(DNS_SUBDOMAIN_NAMES, DNS_SUBDOMAIN_NAMES)
def test_different_tiers_never_share_a_child_name(first: str, second: str) -> None:
    if first != second:
        assert workload_name(first) != workload_name(second)


def test_long_and_dotted_names_are_shortened_with_a_hash() -> None:
    long_name = "very-" * 20 + "long"
    assert workload_name(long_name).endswith("-vllm") and len(workload_name(long_name)) == 63
    assert workload_name("gpt.4o") != workload_name("gpt-4o")
    assert DNS_1035.match(workload_name("4o-mini"))  # a Service name must start with a letter


# ---------------------------------------------------------------- Kubernetes schemas


def _validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def example_vllm_tiers() -> list[tuple[str, dict[str, Any]]]:
    return [(i, d) for i, d in example_documents() if d["kind"] == "ModelTier" and "vllm" in d["spec"]]


@pytest.mark.parametrize(("ident", "document"), example_vllm_tiers(), ids=lambda v: v if isinstance(v, str) else "")
def test_examples_render_manifests_that_validate_against_kubernetes(ident: str, document: dict[str, Any]) -> None:
    document = {**document, "metadata": {**document["metadata"], "namespace": "models", "uid": "1234"}}
    children = render(ModelTier.model_validate(document), OperatorConfig(otlp_traces_endpoint="http://otel:4317"))
    assert children.deployment is not None and children.service is not None
    for manifest in children.present():
        _validate(manifest)


def test_the_full_and_the_cpu_tier_validate_against_kubernetes() -> None:
    for tier in (full_tier(), cpu_tier(), cpu_tier(name="x" * 200, replicas=0)):
        for manifest in render(tier, CONFIG).present():
            _validate(manifest)


def test_vllm_pods_follow_the_restricted_profile_where_the_image_allows() -> None:
    deployment = render(full_tier(), CONFIG).deployment
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
