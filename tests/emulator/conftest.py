"""Fixtures for the emulator's own tests: its fixture CRDs and ready-made clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from harness import RunningEmulator

HERE = Path(__file__).parent


@pytest.fixture
def kube_emulator_crd_paths() -> list[Path]:
    return [HERE / "crds"]


@pytest.fixture
def http(kube_emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """Raw HTTP to the emulator, for what clients hide (status codes, bodies, headers)."""
    with httpx.Client(base_url=kube_emulator.url, timeout=10) as client:
        yield client


@pytest.fixture
def api_client(kube_emulator: RunningEmulator) -> Iterator[kubernetes.client.ApiClient]:
    """The official client, configured from the emulator's kubeconfig (no global state)."""
    client = kubernetes.config.new_client_from_config(config_file=str(kube_emulator.kubeconfig_path))
    with client:
        yield client


def widget_body(name: str = "w", **spec: Any) -> dict[str, Any]:
    """A valid Widget, with spec fields overridden by keyword."""
    base: dict[str, Any] = {"model": "qwen", "size": "1.5B", "vllm": {}}
    base.update(spec)
    base = {key: value for key, value in base.items() if value is not ...}
    return {"apiVersion": "test.tiergate.io/v1", "kind": "Widget", "metadata": {"name": name}, "spec": base}


@pytest.fixture
def widget() -> Callable[..., dict[str, Any]]:
    return widget_body
