"""Fixtures for running the real `kubectl` against the API emulator, as a user at a terminal would.

One emulator per test module (starting one costs little, but kubectl's
discovery and OpenAPI caches are per server, so sharing keeps each call near
0.1 s). kubectl gets its own kubeconfig, cache folder and HOME under the
module's tmp path, so nothing on the machine (a real ~/.kube/config, an
exported KUBECONFIG) leaks in or is written to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubectl_tools import KUBECTL, Kubectl

from harness import RunningEmulator


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An emulator with no CRDs installed: the tests install them with kubectl, as a user would."""
    emulator = RunningEmulator(workdir=tmp_path_factory.mktemp("kube-emulator"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture(scope="module")
def kubectl(cluster: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")
    return Kubectl(KUBECTL, cluster.kubeconfig_path, tmp_path_factory.mktemp("kubectl-home"))
