"""A user's session with the real kubectl against the emulator: install, list, explain, describe, fix, delete.

The CRDs and examples are installed once for the module, with kubectl (`installed`);
each test then looks at what a user would see. Tests that change objects use their
own names or restore what they change, so the order of the tests does not matter.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubectl_tools import KUBECTL, ROOT, Kubectl, parse_table, sections

from harness import RunningEmulator

if KUBECTL is None:
    pytest.skip("kubectl is not on PATH", allow_module_level=True)

EXAMPLES = ROOT / "examples"
PLURALS = {"ModelTier": "modeltier.tiergate.io", "RoutingPolicy": "routingpolicy.tiergate.io", "Secret": "secret"}


def _documents(*paths: Path) -> list[dict[str, Any]]:
    files = [f for path in paths for f in (sorted(path.rglob("*.yaml")) if path.is_dir() else [path])]
    return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]


def _words(text: str) -> str:
    """Text with its line wrapping and indentation undone, to compare descriptions kubectl wraps."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> dict[str, str]:
    """`kubectl apply -f crds/`, then every example (`-R`: examples/ holds folders only)."""
    crds = kubectl("apply", "-f", "crds/").stdout
    examples = kubectl("apply", "-R", "-f", "examples/").stdout
    return {"crds": crds, "examples": examples}


def _status(tier_ready: str) -> dict[str, Any]:
    return {"locality": "Local", "readyReplicas": 1, "replicas": 1, "conditions": [
        {"type": "Ready", "status": tier_ready, "reason": "Available", "message": "",
         "lastTransitionTime": "2025-01-01T00:00:00Z"}]}


def test_apply_installs_the_crds_then_every_example(installed: dict[str, str], cluster: RunningEmulator) -> None:
    assert installed["crds"].splitlines() == [
        "customresourcedefinition.apiextensions.k8s.io/modeltiers.tiergate.io created",
        "customresourcedefinition.apiextensions.k8s.io/routingpolicies.tiergate.io created",
    ]
    lines = installed["examples"].splitlines()
    for doc in _documents(EXAMPLES):
        shown = f"{PLURALS[doc['kind']]}/{doc['metadata']['name']}"
        assert any(line.startswith(f"{shown} ") for line in lines), f"{shown} missing from:\n{lines}"
    # examples/local (endpoint tiers) comes first, then examples/tiers switches them to vllm:
    # kubectl's three-way merge patch removes `endpoint` because the last applied config had it.
    assert "modeltier.tiergate.io/qwen-1-5b configured" in lines
    tier = cluster.get("modeltiers", "qwen-1-5b")
    assert tier is not None and "vllm" in tier["spec"] and "endpoint" not in tier["spec"]
    assert tier["spec"]["vllm"]["gpu"] == {"count": 1, "resourceName": "nvidia.com/gpu"}  # CRD defaults


def test_reapplying_unchanged_examples_writes_nothing(installed: dict[str, str], kubectl: Kubectl,
                                                      cluster: RunningEmulator) -> None:
    cluster.clear_requests()
    result = kubectl("apply", "-f", "examples/tiers", "-f", "examples/policies")
    assert result.stdout.splitlines()
    assert all(line.endswith(" unchanged") for line in result.stdout.splitlines()), result.stdout
    assert cluster.writes() == []


def test_api_resources_lists_the_custom_kinds(installed: dict[str, str], kubectl: Kubectl) -> None:
    rows = parse_table(kubectl("api-resources", "--api-group=tiergate.io").stdout)
    assert [(r["NAME"], r["SHORTNAMES"], r["APIVERSION"], r["NAMESPACED"], r["KIND"]) for r in rows] == [
        ("modeltiers", "mt", "tiergate.io/v1alpha1", "true", "ModelTier"),
        ("routingpolicies", "rp", "tiergate.io/v1alpha1", "true", "RoutingPolicy"),
    ]


def test_get_prints_the_crd_printer_columns(installed: dict[str, str], kubectl: Kubectl,
                                           cluster: RunningEmulator) -> None:
    cluster.set_status("modeltiers", "qwen-1-5b", _status("True"))
    cluster.set_status("routingpolicies", "auto", {"conditions": _status("False")["conditions"]})

    tiers_text, policies_text = sections(kubectl("get", "mt,rp").stdout)
    tiers = {row["NAME"]: row for row in parse_table(tiers_text)}
    assert list(parse_table(tiers_text)[0]) == ["NAME", "MODEL", "SIZE", "LOCALITY", "REPLICAS", "DESIRED", "ZERO",
                                                "READY", "AGE"]
    qwen = tiers["modeltier.tiergate.io/qwen-1-5b"]
    assert (qwen["MODEL"], qwen["SIZE"], qwen["LOCALITY"], qwen["REPLICAS"], qwen["DESIRED"], qwen["ZERO"],
            qwen["READY"]) == ("Qwen/Qwen2.5-1.5B-Instruct", "1.5B", "Local", "1", "1", "", "True")
    assert re.fullmatch(r"\d+s|\dm\d*s?", qwen["AGE"])
    no_status = tiers["modeltier.tiergate.io/llama-70b"]
    assert (no_status["MODEL"], no_status["SIZE"], no_status["LOCALITY"], no_status["READY"]) == \
        ("meta-llama/Llama-3.3-70B-Instruct", "70B", "", "")

    policies = {row["NAME"]: row for row in parse_table(policies_text)}
    assert list(parse_table(policies_text)[0]) == ["NAME", "ALIAS", "STRATEGY", "TIERS", "READY", "AGE"]
    auto = policies["routingpolicy.tiergate.io/auto"]
    # `.spec.tiers[*].name` selects every tier; the apiserver shows the first match only.
    assert (auto["ALIAS"], auto["STRATEGY"], auto["TIERS"], auto["READY"]) == ("auto", "Hybrid", "qwen-1-5b", "False")
    assert policies["routingpolicy.tiergate.io/smallest"]["STRATEGY"] == "Capability"


def test_get_one_object_by_short_name_and_as_yaml(installed: dict[str, str], kubectl: Kubectl) -> None:
    rows = parse_table(kubectl("get", "mt", "llama-8b").stdout)
    assert [(row["NAME"], row["SIZE"]) for row in rows] == [("llama-8b", "8B")]
    obj = yaml.safe_load(kubectl("get", "modeltier", "llama-8b", "-o", "yaml").stdout)
    assert obj["spec"]["vllm"]["replicas"] == 2 and obj["metadata"]["uid"]
    assert kubectl("get", "rp", "fastest", "-o", "jsonpath={.spec.defaultLatencyClass}").stdout == "Realtime"


def test_explain_documents_every_vllm_field(installed: dict[str, str], kubectl: Kubectl) -> None:
    crd = yaml.safe_load((ROOT / "crds" / "modeltiers.tiergate.io.yaml").read_text())
    vllm = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["vllm"]
    output = kubectl("explain", "modeltier.spec.vllm").stdout

    assert output.startswith("GROUP:      tiergate.io\nKIND:       ModelTier\nVERSION:    v1alpha1\n")
    assert "FIELD: vllm <Object>" in output
    assert _words(vllm["description"]) in _words(output)
    for name, field in vllm["properties"].items():
        assert re.search(rf"^  {name}\t<", output, re.MULTILINE), f"{name} is not listed"
        assert _words(field["description"]) in _words(output), f"{name}'s description is missing"
    assert re.search(r"^  replicas\t<integer>$", output, re.MULTILINE)
    assert re.search(r"^  env\t<\[\]Object>$", output, re.MULTILINE)


def test_explain_follows_a_path_into_lists(installed: dict[str, str], kubectl: Kubectl) -> None:
    output = kubectl("explain", "rp.spec.tiers.name").stdout
    assert "FIELD: name <string>" in output and "Name of the ModelTier." in output


def test_describe_shows_the_spec_and_the_events(installed: dict[str, str], kubectl: Kubectl,
                                               cluster: RunningEmulator) -> None:
    tier = cluster.get("modeltiers", "llama-8b")
    assert tier is not None
    cluster.create({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": "llama-8b.deployed", "namespace": "default"},
                    "involvedObject": {"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier", "name": "llama-8b",
                                       "namespace": "default", "uid": tier["metadata"]["uid"]},
                    "reason": "Deployed", "message": "vLLM Deployment llama-8b-vllm created", "type": "Normal",
                    "source": {"component": "tiergate-operator"}, "count": 1,
                    "firstTimestamp": tier["metadata"]["creationTimestamp"],
                    "lastTimestamp": tier["metadata"]["creationTimestamp"]})

    output = kubectl("describe", "modeltier", "llama-8b").stdout
    assert re.search(r"^Name:\s+llama-8b$", output, re.MULTILINE)
    assert re.search(r"^Kind:\s+ModelTier$", output, re.MULTILINE)
    assert re.search(r"^  Model:\s+meta-llama/Llama-3.1-8B-Instruct$", output, re.MULTILINE)
    events = output.split("Events:", 1)[1]
    assert re.search(r"Normal\s+Deployed\s+\S+\s+tiergate-operator\s+vLLM Deployment llama-8b-vllm created", events)

    listed = parse_table(kubectl("get", "events").stdout)
    assert [(e["TYPE"], e["REASON"], e["OBJECT"], e["MESSAGE"]) for e in listed] == [
        ("Normal", "Deployed", "modeltier/llama-8b", "vLLM Deployment llama-8b-vllm created")]


@pytest.mark.parametrize(("manifest", "message"), [
    ({"kind": "ModelTier", "metadata": {"name": "both"},
      "spec": {"model": "m", "size": "1B", "vllm": {}, "endpoint": {"url": "https://api.example.com/v1"}}},
     'The ModelTier "both" is invalid: spec: Invalid value: "object": '
     "exactly one of spec.vllm or spec.endpoint must be set"),
    ({"kind": "RoutingPolicy", "metadata": {"name": "weighted"},
      "spec": {"modelAlias": "w", "strategy": "Cost", "tiers": [{"name": "qwen-1-5b"}],
               "weights": {"capability": 1, "cost": 1, "latency": 1}}},
     'The RoutingPolicy "weighted" is invalid: spec.weights: Invalid value: "object": '
     "weights are allowed only with strategy Hybrid"),
], ids=["vllm-and-endpoint", "weights-without-hybrid"])
def test_apply_of_an_invalid_resource_shows_the_cel_message(installed: dict[str, str], kubectl: Kubectl,
                                                            cluster: RunningEmulator, tmp_path: Path,
                                                            manifest: dict[str, Any], message: str) -> None:
    path = tmp_path / "invalid.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "tiergate.io/v1alpha1", **manifest}))
    result = kubectl("apply", "-f", str(path), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    kind = "modeltiers" if manifest["kind"] == "ModelTier" else "routingpolicies"
    assert cluster.get(kind, manifest["metadata"]["name"]) is None


def test_unknown_fields_are_refused_unless_validation_is_relaxed(installed: dict[str, str], kubectl: Kubectl,
                                                                 cluster: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier",
                                    "metadata": {"name": "typo"},
                                    "spec": {"model": "m", "size": "1B",
                                             "endpoint": {"url": "https://api.example.com/v1", "timeoutSecond": 5}}}))
    refused = kubectl("apply", "-f", str(path), check=False)
    assert refused.returncode == 1
    assert 'strict decoding error: unknown field "spec.endpoint.timeoutSecond"' in refused.stderr
    assert cluster.get("modeltiers", "typo") is None

    warned = kubectl("apply", "-f", str(path), "--validate=warn")
    assert 'Warning: unknown field "spec.endpoint.timeoutSecond"' in warned.stderr
    created = cluster.get("modeltiers", "typo")
    assert created is not None and "timeoutSecond" not in created["spec"]["endpoint"]  # pruned
    kubectl("delete", "-f", str(path))


def test_server_side_apply_owns_fields_and_reports_conflicts(installed: dict[str, str], kubectl: Kubectl,
                                                             cluster: RunningEmulator, tmp_path: Path) -> None:
    def manifest(size: str, backend: dict[str, Any]) -> Path:
        path = tmp_path / f"ssa-{size}-{next(iter(backend))}.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier",
                                        "metadata": {"name": "ssa"}, "spec": {"model": "m", "size": size, **backend}}))
        return path

    vllm = {"vllm": {"replicas": 2}}
    endpoint = {"endpoint": {"url": "http://127.0.0.1:8101/v1", "locality": "Local"}}
    assert kubectl("apply", "--server-side", "-f", str(manifest("1B", vllm))).stdout.strip() == \
        "modeltier.tiergate.io/ssa serverside-applied"
    # Same manager, vllm left out: the server removes it (defaults included), so the CEL rule holds.
    kubectl("apply", "--server-side", "-f", str(manifest("1B", endpoint)))
    spec = cluster.get("modeltiers", "ssa")["spec"]  # type: ignore[index]
    assert "vllm" not in spec and spec["endpoint"]["url"] == "http://127.0.0.1:8101/v1"

    conflict = kubectl("apply", "--server-side", "--field-manager=ops", "-f", str(manifest("2B", endpoint)),
                       check=False)
    assert conflict.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl" using tiergate.io/v1alpha1: .spec.size' \
        in conflict.stderr
    kubectl("apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", str(manifest("2B", endpoint)))
    tier = cluster.get("modeltiers", "ssa")
    assert tier is not None and tier["spec"]["size"] == "2B"
    assert {entry["manager"] for entry in tier["metadata"]["managedFields"]} == {"kubectl", "ops"}
    kubectl("delete", "modeltier", "ssa")


def test_diff_and_server_dry_runs_change_nothing(installed: dict[str, str], kubectl: Kubectl,
                                                 cluster: RunningEmulator, tmp_path: Path) -> None:
    changed = tmp_path / "llama-8b.yaml"
    changed.write_text((EXAMPLES / "tiers" / "llama-8b.yaml").read_text().replace("replicas: 2", "replicas: 3"))
    before = cluster.get("modeltiers", "llama-8b")
    if shutil.which("diff"):
        diff = kubectl("diff", "-f", str(changed), check=False)
        assert diff.returncode == 1, diff.stderr  # 1: there are differences
        assert re.search(r"^-    replicas: 2$", diff.stdout, re.MULTILINE)
        assert re.search(r"^\+    replicas: 3$", diff.stdout, re.MULTILINE)
    applied = kubectl("apply", "--dry-run=server", "-f", str(changed)).stdout
    assert applied.strip() == "modeltier.tiergate.io/llama-8b configured (server dry run)"
    deleted = kubectl("delete", "--dry-run=server", "modeltier", "llama-8b").stdout
    assert deleted.strip() == 'modeltier.tiergate.io "llama-8b" deleted (server dry run)'
    assert cluster.get("modeltiers", "llama-8b") == before


def test_delete_removes_what_the_file_describes(installed: dict[str, str], kubectl: Kubectl,
                                                cluster: RunningEmulator) -> None:
    result = kubectl("delete", "-f", "examples/tiers/gpt-4o.yaml")
    assert result.stdout.splitlines() == ['secret "openai" deleted', 'modeltier.tiergate.io "gpt-4o" deleted']
    gone = kubectl("get", "mt", "gpt-4o", check=False)
    assert gone.returncode == 1
    assert 'Error from server (NotFound): modeltiers.tiergate.io "gpt-4o" not found' in gone.stderr
    assert cluster.get("modeltiers", "gpt-4o") is None and cluster.get("secrets", "openai") is None
    kubectl("apply", "-f", "examples/tiers/gpt-4o.yaml")  # back as it was, for any test after this one
