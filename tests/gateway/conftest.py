"""Fixtures for gateway integration tests: real `tiergate sim` upstreams and real gateways.

Three simulated tiers serve the module: `remote-a` (1B, Remote), `remote-b` (3B, Remote)
and `local` (8B, Local). With the Capability strategy and a Chat request the plan is
remote-a, remote-b, local: the primary and the second are external APIs that tests break
through the simulators' admin API, and the last link is the in-cluster model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tiergate_gateway.process import GatewayProcess, start_gateway
from tiergate_gateway.sim.process import SimProcess, start_sim

TIERS = {"remote-a": ("1B", "Remote"), "remote-b": ("3B", "Remote"), "local": ("8B", "Local")}
API_KEY = "sk-test-remote-a-0123456789abcdefghij"


@pytest.fixture(scope="session")
def sims() -> Iterator[dict[str, SimProcess]]:
    """One simulator per tier; remote-a demands an API key, as a real provider does."""
    started = {}
    try:
        for name in TIERS:
            extra = ["--api-key", API_KEY] if name == "remote-a" else []
            started[name] = start_sim(["--model", f"org/{name}", "--output-tokens", "6", *extra])
        yield started
    finally:
        for process in started.values():
            process.stop()


@pytest.fixture
def upstreams(sims: dict[str, SimProcess]) -> dict[str, SimProcess]:
    """The simulators with default knobs and empty stats."""
    for process in sims.values():
        with httpx.Client(base_url=process.url, timeout=5) as admin:
            admin.delete("/sim/config").raise_for_status()
            admin.delete("/sim/stats").raise_for_status()
    return sims


def tier_document(name: str, url: str, **spec: Any) -> dict[str, Any]:
    size, locality = TIERS.get(name, ("1B", "Remote"))
    endpoint: dict[str, Any] = {"url": url, "locality": locality, "timeoutSeconds": 30}
    if name == "remote-a":
        endpoint["apiKeySecretRef"] = {"name": "provider", "key": "api-key"}
    body = {"model": f"org/{name}", "size": size, "capabilities": {"maxContextTokens": 4096}, "endpoint": endpoint}
    body.update(spec)
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier", "metadata": {"name": name}, "spec": body}


def policy_document(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modelAlias": "auto",
        "strategy": "Capability",
        "tiers": [{"name": n} for n in TIERS],
        "defaultLatencyClass": "Batch",
        "fallback": {"maxAttempts": 3, "attemptTimeoutSeconds": 2},
    }
    body.update(spec)
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "RoutingPolicy", "metadata": {"name": "main"}, "spec": body}


def write_config(folder: Path, sims: dict[str, SimProcess], **policy_spec: Any) -> Path:
    """Tiers for the simulators, the policy, and the provider key as a local-mode secret file."""
    folder.mkdir(parents=True, exist_ok=True)
    tiers = [tier_document(name, process.base_url) for name, process in sims.items()]
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy_document(**policy_spec)))
    secret = folder / "secrets" / "provider"
    secret.mkdir(parents=True, exist_ok=True)
    (secret / "api-key").write_text(API_KEY)
    return folder


@pytest.fixture
def gateway_factory(tmp_path: Path, upstreams: dict[str, SimProcess]) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways over a config folder for the simulators; all are stopped after the test."""
    started: list[GatewayProcess] = []

    def start(
        extra_args: list[str] | None = None, env: dict[str, str] | None = None, **policy_spec: Any
    ) -> GatewayProcess:
        folder = write_config(tmp_path / f"config{len(started)}", upstreams, **policy_spec)
        gateway = start_gateway(
            ["--config-dir", str(folder), *(extra_args or [])], tmp_path / f"gateway{len(started)}.log", env=env
        )
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def calm_gateway(sims: dict[str, SimProcess], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway shared by tests that break nothing (bad input, explain, plain routing)."""
    folder = write_config(tmp_path_factory.mktemp("calm"), sims)
    log = folder / "gateway.log"
    with start_gateway(["--config-dir", str(folder)], log) as gateway:
        yield gateway


@pytest.fixture
def shared_gateway(calm_gateway: GatewayProcess, upstreams: dict[str, SimProcess]) -> GatewayProcess:
    """The shared gateway, with the simulators reset to their defaults."""
    return calm_gateway


@pytest.fixture
def gateway(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """A fresh gateway with the default policy (no shared circuit or cool-down state)."""
    return gateway_factory()


def set_knobs(process: SimProcess, **knobs: Any) -> None:
    """Change a simulator's behaviour while it runs."""
    httpx.put(f"{process.url}/sim/config", json=knobs, timeout=5).raise_for_status()


def stats(process: SimProcess) -> dict[str, Any]:
    """What a simulator has seen."""
    return httpx.get(f"{process.url}/sim/stats", timeout=5).json()
