"""Run charts/tiergate through Helm itself (helm-sdkpy, in `helm_worker.py`), to lint and to render it.

helm-sdkpy binds Helm's Go library. It has `Lint` but no `template`, and its lint takes no
values, so:

- `lint(values)` lints a copy of the chart whose values.yaml is the chart's own values
  deep-merged with `values` (Helm's merge: maps merge, anything else replaces).
- `render(values)` runs a real `helm install` against a fresh Kubernetes API emulator
  (tests/harness, the project's test double) and returns what Helm applied: the manifest,
  the hooks and NOTES.txt. This is closer to a real install than `helm template` would be:
  the release starts on an empty cluster, so the CRDs and the example objects that need them
  must really work in one `helm install`; `lookup` sees the live Secret on an upgrade.

The emulator serves two things a real API server has and the harness does not declare: the
extra built-in kinds the chart renders, and an OpenAPI v3 index that says the server validates
fields itself (as every server since 1.27 does), so Helm skips client-side validation of the
hooks exactly as it would on a real cluster.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.resources import ResourceType
from harness.runtime import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tiergate"
CI_VALUES = CHART / "ci"
KUBERNETES_VERSION = "1.34.0"
RELEASE = "tiergate"
NAMESPACE = "tiergate"

# Helm's lint severities (helm.sh/helm/v4/pkg/chart/v2/lint/support).
INFO, WARNING, ERROR = 1, 2, 3

EXTRA_RESOURCES = (
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, "serviceaccount", ("sa",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True, "role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, "rolebinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, "clusterrole"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
                 "clusterrolebinding"),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
                 "horizontalpodautoscaler", ("hpa",), has_status=True),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "poddisruptionbudget",
                 ("pdb",), has_status=True),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, "networkpolicy",
                 ("netpol",)),
    ResourceType("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", True, "servicemonitor"),
    ResourceType("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor", True, "podmonitor"),
)

# Enough OpenAPI v3 for kubectl's field-validation check: the server accepts ?fieldValidation,
# so the client leaves validation to the server. Custom resources are checked against the
# Namespace paths, as kubectl does.
_OPENAPI_ROOT = {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1"}}}
_OPENAPI_CORE = {
    "openapi": "3.0.0",
    "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_VERSION}"},
    "paths": {
        "/api/v1/namespaces/{name}": {
            "patch": {
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "Namespace"},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }
        }
    },
}
_VERSION = {
    "major": "1",
    "minor": KUBERNETES_VERSION.split(".")[1],
    "gitVersion": f"v{KUBERNETES_VERSION}",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class LintMessage:
    """One finding of `helm lint` (helm-sdkpy does not carry the message text, only where and how bad)."""

    severity: int
    path: str


@dataclass
class Release:
    """What Helm installed: the objects of the manifest, the hook objects and the notes."""

    objects: list[dict[str, Any]]
    hooks: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def all_objects(self) -> list[dict[str, Any]]:
        return self.objects + self.hooks

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.all_objects() if obj["kind"] == kind]

    def one(self, kind: str, name_suffix: str = "") -> dict[str, Any]:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"].endswith(name_suffix)]
        assert len(found) == 1, f"expected one {kind} *{name_suffix}, found {[o['metadata']['name'] for o in found]}"
        return found[0]


def overlay(name: str) -> dict[str, Any]:
    """The values of charts/tiergate/ci/<name>-values.yaml ("kind-autoscaling" is layered over "kind", as
    `make kind-autoscaling` layers it)."""
    values = yaml.safe_load((CI_VALUES / f"{name}-values.yaml").read_text()) or {}
    return merge(overlay("kind"), values) if name == "kind-autoscaling" else values


def default_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of values: nested maps merge, anything else in `top` replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class HelmError(Exception):
    """Helm refused: the text is Helm's own message."""


class HelmWorker:
    """The helper process of helm_worker.py, with Helm's environment fixed before it starts."""

    def __init__(self, home: Path) -> None:
        env = {
            **os.environ,
            "HELM_DRIVER": "memory",
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        env.pop("KUBECONFIG", None)
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("helm_worker.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )

    def call(self, **request: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Helm worker exited with {self._process.wait()}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise HelmError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def lint(helm: HelmWorker, values: Mapping[str, Any] | None, workdir: Path) -> list[LintMessage]:
    """`helm lint` of the chart with `values` over its defaults; every finding, INFO included."""
    chart = workdir / "tiergate"
    shutil.copytree(CHART, chart)
    if values:
        (chart / "values.yaml").write_text(yaml.safe_dump(merge(default_values(), values), sort_keys=False))
    result = helm.call(action="lint", chart=str(chart))
    return [LintMessage(m["Severity"], m["Path"]) for m in result.get("Messages") or []]


def new_cluster(workdir: Path, namespaces: tuple[str, ...] = ()) -> RunningEmulator:
    """An empty emulated cluster (no CRDs) that serves every kind the chart renders."""
    emulator = RunningEmulator(workdir=workdir)
    emulator.api.registry.add(EXTRA_RESOURCES)
    emulator.api["get /version"] << _VERSION
    emulator.api["get /openapi/v3"] << _OPENAPI_ROOT
    emulator.api["get /openapi/v3/api/v1"] << _OPENAPI_CORE
    emulator.start()
    for namespace in namespaces:
        emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return emulator


def install(helm: HelmWorker, emulator: RunningEmulator, values: Mapping[str, Any] | None = None, *,
            upgrade: bool = False) -> Release:
    """`helm install` (or `helm upgrade`) of the chart into the emulator; HelmError when Helm refuses."""
    result = helm.call(
        action="upgrade" if upgrade else "install",
        chart=str(CHART),
        release=RELEASE,
        namespace=NAMESPACE,
        kubeconfig=str(emulator.kubeconfig_path),
        values=dict(values or {}),
    )
    return Release(
        objects=_documents(result.get("manifest", "")),
        hooks=[doc for hook in result.get("hooks") or [] for doc in _documents(hook.get("manifest", ""))],
        notes=(result.get("info") or {}).get("notes", ""),
        values=merge(default_values(), values or {}),
    )


def render(helm: HelmWorker, values: Mapping[str, Any] | None, workdir: Path) -> Release:
    """Install the chart with `values` into a fresh emulated cluster and return what Helm applied."""
    namespaces = tuple(n for n in (values or {}).get("watchNamespaces") or [] if n != NAMESPACE)
    emulator = new_cluster(workdir, namespaces)
    try:
        return install(helm, emulator, values)
    finally:
        emulator.close()


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
