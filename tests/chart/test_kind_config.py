"""kind-config.yaml has the node pools the examples and the kind values expect."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from chart_harness import ROOT, overlay

POOLS = ("system", "gpu-small", "gpu-large")


def _config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "kind-config.yaml").read_text())


def _taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    taints = []
    for patch in node.get("kubeadmConfigPatches", []):
        document = yaml.safe_load(patch)
        assert document["kind"] == "JoinConfiguration"
        taints += document["nodeRegistration"]["taints"]
    return taints


def _workers() -> dict[str, dict[str, Any]]:
    return {n["labels"]["tiergate.io/pool"]: n for n in _config()["nodes"] if n["role"] == "worker"}


def test_one_control_plane_and_one_worker_per_pool() -> None:
    config = _config()
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in config["nodes"]].count("control-plane") == 1
    assert sorted(_workers()) == sorted(POOLS)


def test_gpu_pools_are_tainted_and_the_system_pool_is_not() -> None:
    workers = _workers()
    assert _taints(workers["system"]) == []
    for pool in ("gpu-small", "gpu-large"):
        assert _taints(workers[pool]) == [{"key": "tiergate.io/pool", "value": pool, "effect": "NoSchedule"}]


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "tiers").glob("*.yaml")), ids=lambda p: p.name)
def test_example_vllm_tiers_schedule_on_a_pool(path: Any) -> None:
    workers = _workers()
    for document in yaml.safe_load_all(path.read_text()):
        vllm = (document.get("spec") or {}).get("vllm") if document else None
        if not vllm:
            continue
        pool = vllm["nodePool"]["nodeSelector"]["tiergate.io/pool"]
        assert pool in workers
        for taint in _taints(workers[pool]):
            assert any(t.get("key") == taint["key"] and t.get("value") == taint["value"]
                       and t.get("effect") == taint["effect"] for t in vllm["nodePool"]["tolerations"])


def test_kind_values_use_the_mapped_host_ports_and_the_system_pool() -> None:
    mapped = {m["containerPort"]: m["hostPort"] for n in _config()["nodes"] for m in n.get("extraPortMappings", [])}
    values = overlay("kind")
    assert mapped[values["gateway"]["service"]["nodePort"]] == 30080
    assert mapped[values["jaeger"]["service"]["uiNodePort"]] == 16686
    for component in ("operator", "gateway", "jaeger"):
        assert values[component]["nodeSelector"] == {"tiergate.io/pool": "system"}
    assert values["image"] == {"repository": "tiergate", "tag": "dev", "pullPolicy": "Never"}
