"""Shared fixtures. The Kubernetes API emulator (a test double) lives in `tests/harness/`."""

from __future__ import annotations

import pytest

from harness.fixtures import kube_emulator, kube_emulator_crd_paths
from summary import SUMMARY_KEY

__all__ = ["kube_emulator", "kube_emulator_crd_paths"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the figures tests recorded (see tests/summary.py)."""
    for report in config.stash.get(SUMMARY_KEY, []):
        terminalreporter.write_line(report)
