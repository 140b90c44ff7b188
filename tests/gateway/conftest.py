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

import pytest

from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_sim.process import SimProcess, start_sim
from tiers_setup import API_KEY, TIERS, write_config


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
        process.reset()
    return sims


@pytest.fixture
def gateway_factory(tmp_path: Path, upstreams: dict[str, SimProcess]) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways over a config folder for the simulators; all are stopped after the test."""
    started: list[GatewayProcess] = []

    def start(
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        tier_specs: dict[str, dict[str, Any]] | None = None,
        config: Path | None = None,
        **policy_spec: Any,
    ) -> GatewayProcess:
        folder = config or write_config(tmp_path / f"config{len(started)}", upstreams, tier_specs, **policy_spec)
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
