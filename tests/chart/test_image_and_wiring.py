"""The image recipe, its lock, and the chart's container args and env against the real CLIs and settings."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib

from chart_harness import ROOT, Release
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tiergate_api.modeltier import ModelTier
from tiergate_cli.main import build_parser
from tiergate_gateway.server.settings import GatewaySettings
from tiergate_operator import cli as operator_cli
from tiergate_operator.render import vllm_args
from tiergate_operator.settings import OperatorConfig
from tiergate_sim.cli import build_parser as build_sim_parser


def _stages() -> dict[str, list[str]]:
    """Dockerfile instructions by stage name (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = match.group(2) or "default"
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


def test_dockerfile_builds_a_non_root_read_only_friendly_image() -> None:
    stages = _stages()
    assert list(stages) == ["build", "runtime", "sim", "default"]
    runtime = "\n".join(stages["runtime"])
    assert stages["build"][0] == "FROM ${PYTHON_IMAGE} AS build"
    assert 'ARG PYTHON_IMAGE=python:3.12-slim' in (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in runtime
    assert 'ENTRYPOINT ["tiergate"]' in runtime
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime and "HOME=/tmp" in runtime
    # The product image is the environment without the simulator and the demo; the sim image has them.
    assert "COPY --from=build /opt/tiergate-product /opt/tiergate" in runtime
    build_text = "\n".join(stages["build"])
    assert "tiergate_sim" in build_text and "tiergate_demo" in build_text and "rm -rf" in build_text
    assert 'ENTRYPOINT ["tiergate", "sim"]' in stages["sim"]
    assert "COPY --from=build /opt/tiergate /opt/tiergate" in stages["sim"]
    build = "\n".join(stages["build"])
    assert "pip install --requirement constraints.txt" in build
    assert "pip install --no-deps --constraint constraints.txt ." in build


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    copied = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = set(re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.MULTILINE))
    assert {s.rstrip("/") for s in sources} | {"constraints.txt"} <= copied


def test_constraints_pin_every_runtime_dependency_within_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    for text in pyproject["project"]["dependencies"]:
        requirement = Requirement(text)
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not pinned: run python scripts/lock_runtime.py"
        assert requirement.specifier.contains(version), f"{requirement.name}=={version} breaks {requirement}"
    for extra in ("uvloop", "httptools"):  # uvicorn[standard], which the gateway runs with
        assert canonicalize_name(extra) in pins


def test_api_reference_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_api_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- chart args vs. the real CLIs


def _args(release: Release, suffix: str) -> list[str]:
    return release.one("Deployment", suffix)["spec"]["template"]["spec"]["containers"][0]["args"]


def _env_names(release: Release, suffix: str) -> set[str]:
    return {v["name"] for v in release.one("Deployment", suffix)["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_gateway_args_parse_with_the_tiergate_cli(rendered: dict[str, Release]) -> None:
    for name in ("default", "everything-on"):
        args = build_parser().parse_args(_args(rendered[name], "-gateway"))
        assert args.command == "gateway" and args.kube and args.port == 8080 and args.config_dir is None
        assert args.host == "0.0.0.0"  # the CLI's default is loopback; the Service and probes need the pod IP
    namespaces = build_parser().parse_args(_args(rendered["everything-on"], "-gateway")).namespace
    assert namespaces == ["tiergate", "team-a"]


def test_operator_args_parse_with_the_operator_cli(rendered: dict[str, Release]) -> None:
    parser = argparse.ArgumentParser(prog="tiergate")
    operator_cli.register(parser.add_subparsers(dest="command"))
    single = operator_cli.kopf_options(parser.parse_args(_args(rendered["default"], "-operator")))
    assert single == {"clusterwide": True, "namespaces": [], "liveness_endpoint": "http://0.0.0.0:8081/healthz",
                      "standalone": True}
    peered = operator_cli.kopf_options(parser.parse_args(_args(rendered["everything-on"], "-operator")))
    assert peered["clusterwide"] is False and peered["namespaces"] == ["tiergate", "team-a"]
    assert peered["peering_name"] == "tiergate-operator"


def test_operator_env_names_are_operator_settings(rendered: dict[str, Release]) -> None:
    fields = {f"TIERGATE_OPERATOR_{name.upper()}" for name in OperatorConfig.model_fields}
    for name in ("everything-on", "kind"):
        ours = {n for n in _env_names(rendered[name], "-operator") if n.startswith("TIERGATE_OPERATOR_")}
        assert ours and ours <= fields


def test_gateway_env_names_are_gateway_settings(rendered: dict[str, Release]) -> None:
    fields = {f"TIERGATE_{name.upper()}" for name in GatewaySettings.model_fields}
    for name in ("default", "ha-gateway"):
        ours = {n for n in _env_names(rendered[name], "-gateway") if n.startswith("TIERGATE_")}
        assert ours <= fields
    assert {"TIERGATE_REDIS_URL", "TIERGATE_AUTH_KEYS_FILE", "TIERGATE_WORKERS"} <= ours


def test_example_tiers_start_the_simulator_with_the_args_the_operator_renders(rendered: dict[str, Release]) -> None:
    """The sim image's entrypoint is `tiergate sim`; the operator's args for the example must make it serve."""
    for obj in rendered["kind"].of_kind("ModelTier"):
        tier = ModelTier.model_validate(json.loads(json.dumps(obj)))
        assert tier.spec.vllm is not None
        args = vllm_args(tier, tier.spec.vllm, OperatorConfig())
        parsed = build_sim_parser().parse_args(args)
        assert parsed.host == "0.0.0.0" and parsed.port == 8000
        assert parsed.model == tier.spec.model and parsed.served_model_name == [tier.spec.model]
        assert parsed.max_model_len == tier.spec.vllm.max_model_len
