"""Pytest fixtures for the Kubernetes API emulator; `tests/conftest.py` re-exports them.

`kube_emulator` serves the CRDs listed by `kube_emulator_crd_paths`, the
repository's `crds/` by default; a test folder overrides that fixture to serve
others (the emulator's own tests use a small fixture CRD).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.resources import DEFAULT_CRD_FOLDER, load_crd_documents
from harness.runtime import RunningEmulator


@pytest.fixture
def kube_emulator_crd_paths() -> list[Path]:
    """YAML files or folders whose CRDs `kube_emulator` serves."""
    return [DEFAULT_CRD_FOLDER]


@pytest.fixture
def kube_emulator(kube_emulator_crd_paths: list[Path], tmp_path: Path) -> Iterator[RunningEmulator]:
    """A running Kubernetes API emulator on a free loopback port, with a kubeconfig for it."""
    emulator = RunningEmulator(crds=load_crd_documents(*kube_emulator_crd_paths),
                               workdir=tmp_path / "kube-emulator")
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.close()
