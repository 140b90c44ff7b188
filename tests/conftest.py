"""Shared fixtures. The Kubernetes API emulator (a test double) lives in `tests/harness/`."""

from harness.fixtures import kube_emulator, kube_emulator_crd_paths

__all__ = ["kube_emulator", "kube_emulator_crd_paths"]
