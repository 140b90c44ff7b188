"""The CRDs in crds/ are generated from the models, structural, and documented field by field."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api_cases import CRDS, ROOT, example_documents
from tiergate_api.crd import KINDS, build_crd

KUBERNETES_VERSION = "1.34.0"


def _crd_files() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(CRDS.glob("*.yaml"))}


def _walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


def _root_schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crds_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_crds.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_there_is_one_crd_per_kind() -> None:
    names = {crd["metadata"]["name"] for crd in _crd_files().values()}
    assert names == {"modeltiers.tiergate.io", "routingpolicies.tiergate.io"}


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_every_field_has_a_description(info: Any) -> None:
    schema = _root_schema(build_crd(info))
    missing = [
        path
        for path, node in _walk(schema, info.kind)
        if not path.endswith(".metadata")
        and not path.endswith("{}")
        and not path.endswith("[]")
        and not node.get("description")
    ]
    assert missing == []


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_schema_is_structural(info: Any) -> None:
    for path, node in _walk(_root_schema(build_crd(info)), info.kind):
        assert "$ref" not in node and "title" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "uniqueItems" not in node, path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
        else:
            assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path}: unbounded lists make CEL cost estimates fail"
        if "default" in node and node.get("type") == "object":
            assert node["default"] == {}, path


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_crd_meets_the_api_conventions(info: Any) -> None:
    crd = build_crd(info)
    version = crd["spec"]["versions"][0]
    assert version["served"] and version["storage"] and version["subresources"] == {"status": {}}
    names = crd["spec"]["names"]
    assert names["categories"] == ["tiergate"] and names["shortNames"] == [info.short_name]
    status = _root_schema(crd)["properties"]["status"]["properties"]
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map" and conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert status["observedGeneration"]["type"] == "integer"
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[-2:] == ["Ready", "Age"]


def test_cel_rules_named_by_the_design_are_present() -> None:
    rules = [
        rule["rule"]
        for info in KINDS
        for _, node in _walk(_root_schema(build_crd(info)), info.kind)
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert "has(self.vllm) != has(self.endpoint)" in rules
    assert any("weights" in r and "Hybrid" in r for r in rules)
    assert any("self.capability + self.cost + self.latency > 0" in r for r in rules)
    assert any("self.tiers.all" in r for r in rules)


@pytest.mark.parametrize("name", sorted(_crd_files()))
def test_crd_validates_against_kubernetes_schema(name: str) -> None:
    kubernetes_validate.validate(_crd_files()[name], KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("ident", "document"),
    [(i, d) for i, d in example_documents() if not d["apiVersion"].startswith("tiergate.io/")],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_builtin_example_objects_validate(ident: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
