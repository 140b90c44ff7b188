"""Where the e2e suite finds the cluster, the release and the host ports (see conftest.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class E2ESettings:
    """The e2e suite's settings, from TIERGATE_E2E_* variables."""

    context: str
    release: str
    release_namespace: str
    gateway_url: str
    jaeger_url: str

    @property
    def fullname(self) -> str:
        """The chart's name prefix for this release (its `tiergate.fullname`)."""
        return self.release if "tiergate" in self.release else f"{self.release}-tiergate"


def settings_from_env() -> E2ESettings:
    return E2ESettings(
        context=os.environ.get("TIERGATE_E2E_CONTEXT", "kind-tiergate"),
        release=os.environ.get("TIERGATE_E2E_RELEASE", "tiergate"),
        release_namespace=os.environ.get("TIERGATE_E2E_RELEASE_NAMESPACE", "tiergate"),
        gateway_url=os.environ.get("TIERGATE_E2E_GATEWAY_URL", "http://127.0.0.1:30080").rstrip("/"),
        jaeger_url=os.environ.get("TIERGATE_E2E_JAEGER_URL", "http://127.0.0.1:16686").rstrip("/"),
    )
