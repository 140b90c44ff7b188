"""`helm lint` is clean with the default values and every overlay; the values schema and comments hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from chart_harness import CHART, INFO, HelmError, HelmWorker, default_values, install, lint, new_cluster, overlay

OVERLAYS = ["kind", "everything-on", "ha-gateway", "kind-autoscaling"]
# Helm's only INFO on this chart: "icon is recommended" (there is no project icon yet).
ACCEPTED = {(INFO, "Chart.yaml")}


def _findings(helm: HelmWorker, values: dict[str, Any] | None, tmp_path: Path) -> set[tuple[int, str]]:
    return {(m.severity, m.path) for m in lint(helm, values, tmp_path)}


def test_lint_is_clean_with_default_values(helm: HelmWorker, tmp_path: Path) -> None:
    assert _findings(helm, None, tmp_path) <= ACCEPTED


@pytest.mark.parametrize("name", OVERLAYS)
def test_lint_is_clean_with_overlay(helm: HelmWorker, tmp_path: Path, name: str) -> None:
    assert _findings(helm, overlay(name), tmp_path) <= ACCEPTED


WRONG_VALUES = [
    pytest.param({"gateway": {"replicas": "three"}}, id="gateway.replicas-string"),
    pytest.param({"gateway": {"service": {"type": "Ingress"}}}, id="gateway.service.type-enum"),
    pytest.param({"crds": {"enabled": "yes"}}, id="crds.enabled-string"),
    pytest.param({"operator": {"startupTimeoutSeconds": 5}}, id="operator.startupTimeoutSeconds-too-small"),
    pytest.param({"watchNamespaces": "team-a"}, id="watchNamespaces-not-a-list"),
    pytest.param({"gateway": {"replica": 3}}, id="misspelt-key"),
    pytest.param({"jaeger": {"service": {"uiNodePort": 80}}}, id="nodePort-out-of-range"),
    pytest.param({"tierAutoscaling": {"prometheusAddress": "prometheus:9090"}}, id="prometheusAddress-no-scheme"),
]


@pytest.mark.parametrize("values", WRONG_VALUES)
def test_values_schema_rejects_wrong_values_in_lint(helm: HelmWorker, tmp_path: Path, values: dict[str, Any]) -> None:
    errors = {path for severity, path in _findings(helm, values, tmp_path) if severity > INFO}
    assert errors, "helm lint accepted values the schema should reject"


def test_values_schema_rejects_a_wrong_type_at_install(helm: HelmWorker, tmp_path: Path) -> None:
    cluster = new_cluster(tmp_path)
    try:
        with pytest.raises(HelmError, match=r"(?s)schema.*replicas"):
            install(helm, cluster, {"gateway": {"replicas": "three"}})
    finally:
        cluster.close()


def _leaf_paths(values: Any, prefix: str = "") -> set[str]:
    if isinstance(values, dict) and values:
        return {path for key, sub in values.items() for path in _leaf_paths(sub, f"{prefix}.{key}" if prefix else key)}
    return {prefix}


def _mismatches(values: Any, schema: dict[str, Any], root: dict[str, Any], prefix: str) -> list[str]:
    """Keys in values without a schema, and schema properties without a value, under `prefix`."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("additionalProperties") is not False:
        return []  # a free-form map (labels, resources): any keys
    properties = schema.get("properties", {})
    found = [f"{prefix}{key}: no value" for key in properties.keys() - values.keys()]
    found += [f"{prefix}{key}: no schema" for key in values.keys() - properties.keys()]
    for key in values.keys() & properties.keys():
        if isinstance(values[key], dict):
            found += _mismatches(values[key], properties[key], root, f"{prefix}{key}.")
    return found


def test_schema_describes_every_value_and_no_other() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert _mismatches(default_values(), schema, schema, "") == []


def test_every_value_is_commented() -> None:
    """Each key has a comment line right above it; inside a default (resources: requests/limits) its parent's counts."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    documented: list[tuple[int, bool]] = []  # (indentation, documented) of the enclosing keys
    uncommented = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while documented and documented[-1][0] >= indent:
            documented.pop()
        previous = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
        inside_default = bool(documented) and documented[-1][1] and match.group(2) in {"requests", "limits"}
        ok = previous.lstrip().startswith("#") or inside_default
        if not ok:
            uncommented.append(f"line {number + 1}: {match.group(2)}")
        documented.append((indent, ok))
    assert uncommented == []


def test_value_keys_are_camel_case() -> None:
    keys = [key for path in _leaf_paths(default_values()) for key in path.split(".")]
    free_form = {"requests", "limits", "cpu", "memory"}
    assert [k for k in keys if k not in free_form and not re.fullmatch(r"[a-z][a-zA-Z0-9]*", k)] == []
