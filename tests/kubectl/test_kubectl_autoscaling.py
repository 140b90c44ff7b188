"""Autoscaled tiers as a kubectl user meets them: the columns of `kubectl get`, refusals that name the field,
and `kubectl scale` through the Deployment's scale subresource (what KEDA and the gateway use).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubectl_tools import KUBECTL, Kubectl, parse_table

from harness import RunningEmulator

if KUBECTL is None:
    pytest.skip("kubectl is not on PATH", allow_module_level=True)

AUTOSCALING = {"minReplicas": 0, "maxReplicas": 4}


def _tier(name: str, backend: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier", "metadata": {"name": name},
            "spec": {"model": "Qwen/Qwen2.5-1.5B-Instruct", "size": "1.5B", **backend}}


def _apply(kubectl: Kubectl, tmp_path: Path, *documents: dict[str, Any], check: bool = True) -> Any:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return kubectl("apply", "-f", str(path), check=check)


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> str:
    return kubectl("apply", "-f", "crds/").stdout


def test_get_shows_desired_replicas_and_whether_a_tier_is_at_zero(installed: str, kubectl: Kubectl,
                                                                  cluster: RunningEmulator, tmp_path: Path) -> None:
    _apply(kubectl, tmp_path, _tier("cold", {"vllm": {"autoscaling": AUTOSCALING}}),
           _tier("warm", {"vllm": {"autoscaling": AUTOSCALING}}), _tier("fixed", {"vllm": {"replicas": 2}}))
    condition = {"type": "Ready", "status": "False", "reason": "ScaledToZero", "message": "",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"}
    cluster.set_status("modeltiers", "cold", {"replicas": 0, "readyReplicas": 0, "scaledToZero": True,
                                              "conditions": [condition]})
    cluster.set_status("modeltiers", "warm", {"replicas": 3, "readyReplicas": 2, "scaledToZero": False})
    cluster.set_status("modeltiers", "fixed", {"replicas": 2, "readyReplicas": 2})

    rows = {row["NAME"]: row for row in parse_table(kubectl("get", "mt", "cold", "warm", "fixed").stdout)}
    assert [(rows[n]["REPLICAS"], rows[n]["DESIRED"], rows[n]["ZERO"]) for n in ("cold", "warm", "fixed")] == [
        ("0", "0", "true"), ("2", "3", "false"), ("2", "2", "")]
    assert rows["cold"]["READY"] == "False"
    kubectl("delete", "mt", "cold", "warm", "fixed")


@pytest.mark.parametrize(("backend", "message"), [
    ({"vllm": {"autoscaling": {"minReplicas": 3, "maxReplicas": 2}}},
     'The ModelTier "bad" is invalid: spec.vllm.autoscaling.minReplicas: Invalid value: "object": '
     "minReplicas must not exceed maxReplicas"),
    ({"vllm": {"autoscaling": {"maxReplicas": 2, "targetWaitingRequests": -1}}},
     'The ModelTier "bad" is invalid: spec.vllm.autoscaling.targetWaitingRequests: Invalid value: -1: '
     "spec.vllm.autoscaling.targetWaitingRequests in body should be greater than or equal to 1"),
    ({"vllm": {"autoscaling": {"maxReplicas": 0}}},
     'The ModelTier "bad" is invalid: spec.vllm.autoscaling.maxReplicas: Invalid value: 0: '
     "spec.vllm.autoscaling.maxReplicas in body should be greater than or equal to 1"),
    ({"endpoint": {"url": "https://api.example.com/v1", "autoscaling": {"maxReplicas": 2}}},
     'strict decoding error: unknown field "spec.endpoint.autoscaling"'),
], ids=["min-above-max", "negative-target", "max-zero", "on-an-endpoint-tier"])
def test_bad_autoscaling_is_refused_with_a_message_naming_the_field(installed: str, kubectl: Kubectl,
                                                                    cluster: RunningEmulator, tmp_path: Path,
                                                                    backend: dict[str, Any], message: str) -> None:
    result = _apply(kubectl, tmp_path, _tier("bad", backend), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert cluster.get("modeltiers", "bad") is None


def test_kubectl_scale_writes_the_replicas_through_the_scale_subresource(installed: str, kubectl: Kubectl,
                                                                         cluster: RunningEmulator,
                                                                         tmp_path: Path) -> None:
    labels = {"app": "web"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    _apply(kubectl, tmp_path, deployment)
    cluster.clear_requests()

    assert kubectl("scale", "deployment/web", "--replicas=0").stdout.strip() == "deployment.apps/web scaled"
    assert cluster.get("deployments", "web")["spec"]["replicas"] == 0  # type: ignore[index]
    assert [(w.verb, w.subresource) for w in cluster.writes("deployments")] == [("patch", "scale")]

    refused = kubectl("scale", "deployment/web", "--current-replicas=3", "--replicas=1", check=False)
    assert refused.returncode != 0 and "Expected replicas to be 3, was 0" in refused.stderr
    assert cluster.get("deployments", "web")["spec"]["replicas"] == 0  # type: ignore[index]
    kubectl("delete", "deployment", "web")
