"""The image and kind targets name the tool they lack, and run the commands docs/install.md describes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from chart_harness import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

FIRST_MISSING = {
    "image": "docker",
    "kind-up": "docker",
    "kind-load": "docker",  # it builds the image first
    "kind-install": "kubectl",
    "kind-autoscaling": "kubectl",
    "kind-e2e": "docker",
    "kind-down": "kind",
}


def _make(target: str, path: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    env = {"PATH": str(path), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([MAKE, "--no-print-directory", target, *variables], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _fake_tools(folder: Path, log: Path, **behaviour: str) -> Path:
    """Scripts named like the tools that log their arguments; `behaviour` overrides a tool's script body."""
    folder.mkdir()
    for tool in ("docker", "kind", "kubectl", "helm"):
        body = behaviour.get(tool, "exit 0")
        script = folder / tool
        script.write_text(f'#!/bin/bash\necho "{tool} $*" >> {log}\n{body}\n')
        script.chmod(0o755)
    for name in ("bash", "grep"):  # what the recipes themselves call
        found = shutil.which(name)
        assert found is not None
        (folder / name).symlink_to(found)
    return folder


@pytest.mark.parametrize(("target", "tool"), sorted(FIRST_MISSING.items()))
def test_target_names_the_missing_tool(tmp_path: Path, target: str, tool: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _make(target, empty)
    assert result.returncode != 0
    assert f"'{tool}' is required but not found on PATH" in result.stderr
    assert result.stdout.count("docker build") == 0


def test_image_fails_clearly_when_the_docker_engine_is_down(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    tools = _fake_tools(tmp_path / "bin", log, docker='[ "$1" = info ] && exit 1; exit 0')
    result = _make("image", tools)
    assert result.returncode != 0
    assert "'docker' is installed but its engine does not answer" in result.stderr
    assert log.read_text().splitlines() == ["docker info"]


def test_image_builds_both_targets(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    result = _make("image", _fake_tools(tmp_path / "bin", log), "TAG=t1")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "docker info",
        "docker build --target runtime --build-arg VERSION=t1 -t tiergate:t1 .",
        "docker build --target sim --build-arg VERSION=t1 -t tiergate-sim:t1 .",
    ]


def test_kind_up_load_install_down_run_the_documented_commands(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    tools = _fake_tools(tmp_path / "bin", log)
    for target in ("kind-up", "kind-load", "kind-install", "kind-down"):
        result = _make(target, tools)
        assert result.returncode == 0, (target, result.stderr)
        assert f"==> {target}:" in result.stdout
    calls = log.read_text().splitlines()
    assert "kind create cluster --name tiergate --config kind-config.yaml --wait 180s" in calls
    assert "kind load docker-image --name tiergate tiergate:dev tiergate-sim:dev" in calls
    helm = next(c for c in calls if c.startswith("helm "))
    assert helm.split() == [
        "helm", "upgrade", "--install", "tiergate", "charts/tiergate", "--kube-context", "kind-tiergate",
        "--namespace", "tiergate", "--create-namespace", "--values", "charts/tiergate/ci/kind-values.yaml",
        "--set", "image.tag=dev", "--wait", "--timeout", "5m",
    ]
    assert calls[-1] == "kind delete cluster --name tiergate"


def test_kind_autoscaling_installs_keda_and_prometheus_with_their_charts_then_points_the_chart_at_them(
    tmp_path: Path,
) -> None:
    log = tmp_path / "calls.log"
    result = _make("kind-autoscaling", _fake_tools(tmp_path / "bin", log), "KEDA_VERSION=2.17.2")
    assert result.returncode == 0, result.stderr
    assert "==> kind-autoscaling:" in result.stdout
    helm = [call.split() for call in log.read_text().splitlines() if call.startswith("helm ")]
    assert [call[1:4] for call in helm] == [
        ["repo", "add", "kedacore"],
        ["repo", "add", "prometheus-community"],
        ["upgrade", "--install", "keda"],
        ["upgrade", "--install", "kube-prometheus-stack"],
        ["upgrade", "--install", "tiergate"],
    ]
    keda, stack, ours = helm[2:]
    assert keda[4] == "kedacore/keda" and "--version" in keda and keda[keda.index("--version") + 1] == "2.17.2"
    assert (keda[keda.index("--namespace") + 1], keda[keda.index("--kube-context") + 1]) == ("keda", "kind-tiergate")
    assert stack[4] == "prometheus-community/kube-prometheus-stack" and "--version" not in stack
    assert stack[stack.index("--namespace") + 1] == "monitoring"
    assert "grafana.enabled=false" in stack
    values = [ours[i + 1] for i, arg in enumerate(ours) if arg == "--values"]
    assert values == ["charts/tiergate/ci/kind-values.yaml", "charts/tiergate/ci/kind-autoscaling-values.yaml"]
    # The chart itself installs nothing of KEDA or Prometheus: only these two other releases do.
    assert not any("keda" in arg for arg in ours if not arg.endswith("-values.yaml"))


def test_kind_install_takes_extra_values_files(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    result = _make("kind-install", _fake_tools(tmp_path / "bin", log), "KIND_EXTRA_VALUES=a.yaml b.yaml")
    assert result.returncode == 0, result.stderr
    helm = next(call.split() for call in log.read_text().splitlines() if call.startswith("helm "))
    assert [helm[i + 1] for i, arg in enumerate(helm) if arg == "--values"] == [
        "charts/tiergate/ci/kind-values.yaml", "a.yaml", "b.yaml"]


def test_help_lists_the_new_targets() -> None:
    assert MAKE is not None
    result = subprocess.run([MAKE, "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True)
    for target in ("docs", "image", "kind-up", "kind-load", "kind-install", "kind-autoscaling", "kind-e2e",
                   "kind-down"):
        assert f"make {target} " in result.stdout
