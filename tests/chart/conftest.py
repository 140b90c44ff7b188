"""Fixtures of the chart tests: one Helm worker process for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chart_harness import HelmWorker, Release, overlay, render


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmWorker]:
    """helm-sdkpy in a helper process (see helm_worker.py for why)."""
    worker = HelmWorker(tmp_path_factory.mktemp("helm-home"))
    try:
        yield worker
    finally:
        worker.close()


@pytest.fixture(scope="session")
def rendered(helm: HelmWorker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Release]:
    """The chart installed into a fresh emulated cluster with each values overlay, by overlay name."""
    overlays = {"default": {}, "kind": overlay("kind"), "everything-on": overlay("everything-on"),
                "ha-gateway": overlay("ha-gateway"), "kind-autoscaling": overlay("kind-autoscaling")}
    root: Path = tmp_path_factory.mktemp("renders")
    return {name: render(helm, values, root / name) for name, values in overlays.items()}
