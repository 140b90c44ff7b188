"""The emulator on its own (`python -m harness`), as docs/emulator.md tells people to run it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubectl_tools import KUBECTL, ROOT, Kubectl, parse_table

if KUBECTL is None:
    pytest.skip("kubectl is not on PATH", allow_module_level=True)


@pytest.fixture
def standalone() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m harness --port 0 --crds crds/` from the repository root; yields it and its URL."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    process = subprocess.Popen([sys.executable, "-m", "harness", "--port", "0", "--crds", "crds/"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        match = re.match(r"kube-api-emulator ready on (http://127\.0\.0\.1:\d+) ", ready)
        assert match, f"no ready line, got {ready!r}"
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serves_the_crds_to_kubectl_until_interrupted(standalone: tuple[subprocess.Popen[str], str],
                                                     tmp_path: Path) -> None:
    process, url = standalone
    assert KUBECTL is not None
    kubectl = Kubectl(KUBECTL, tmp_path / "no-kubeconfig", tmp_path)  # only --server says where
    rows = parse_table(kubectl("--server", url, "get", "crds").stdout)
    assert [row["NAME"] for row in rows] == ["modeltiers.tiergate.io", "routingpolicies.tiergate.io"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["CREATED AT"]) for row in rows)

    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(timeout=10) == 0
