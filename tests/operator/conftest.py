"""Fixtures of the operator's integration tests: a cluster (emulated, or real with `-m e2e`) and the operator.

`cluster` is parametrized: `emulator` runs in the default suite; `real` is marked `e2e`
and skipped without a kubeconfig. See `operator_cluster.py` for what each one does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from operator_cluster import Cluster, EmulatedCluster, RealCluster, real_kubeconfig, running_operator
from operator_manifests import GATEWAY, PROMETHEUS
from tiergate_operator.settings import OperatorConfig


@pytest.fixture(params=["emulator", pytest.param("real", marks=pytest.mark.e2e)])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The cluster under test: the API emulator, or (with `-m e2e`) the cluster of `$KUBECONFIG`."""
    if request.param == "emulator":
        yield EmulatedCluster(request.getfixturevalue("kube_emulator"))
        return
    kubeconfig = real_kubeconfig()
    if kubeconfig is None:
        pytest.skip("no kubeconfig: set KUBECONFIG to run the e2e tests against a real cluster")
    real = RealCluster(kubeconfig, f"tiergate-e2e-{uuid.uuid4().hex[:8]}")
    real.create_namespace()
    try:
        yield real
    finally:
        real.delete_namespace()


@pytest.fixture
def operator_config(request: pytest.FixtureRequest) -> OperatorConfig:
    """Fast pacing for tests: a one-second resync, sub-second retries and KEDA looked for twice a second.

    A test changes a setting by indirect parametrization: `@pytest.mark.parametrize("operator_config",
    [{"resync_seconds": 60.0}], indirect=True)`.
    """
    settings: dict[str, Any] = {
        "resync_seconds": 1.0,
        "unresolved_recheck_seconds": 1.0,
        "debounce_seconds": 0.02,
        "retry_initial_seconds": 0.1,
        "retry_max_seconds": 0.5,
        "request_timeout_seconds": 5.0,
        "startup_timeout_seconds": 60,
        "keda_recheck_seconds": 0.5,
        "prometheus_address": PROMETHEUS,
        "gateway_demand_url": GATEWAY,
    }
    settings.update(getattr(request, "param", {}))
    return OperatorConfig(**settings)


@pytest.fixture
def operator(cluster: Cluster, operator_config: OperatorConfig) -> Iterator[kopf.Memo]:
    """The operator running against `cluster` for the duration of the test."""
    with running_operator(cluster, operator_config) as memo:
        yield memo
