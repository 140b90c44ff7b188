"""Fixtures for the simulator's tests: real `python -m tiergate_sim` processes.

One shared simulator serves most tests; `sim` resets its knobs and stats before each test,
so tests may change them freely. Tests that need start-up flags use `start_sim`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

import httpx
import openai
import pytest

from tiergate_sim.process import SimProcess, start_sim

MODEL: Final = "org/sim-model-1b"
SERVED: Final = "sim-small"
OUTPUT_TOKENS: Final = 8
CLIENT_TIMEOUT: Final = 10.0

type StartSim = Callable[..., SimProcess]


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[SimProcess]:
    with start_sim(["--model", MODEL, "--served-model-name", SERVED, "--output-tokens", str(OUTPUT_TOKENS)]) as process:
        yield process


@pytest.fixture
def sim(shared_sim: SimProcess) -> SimProcess:
    """The shared simulator with its start-up knobs and empty stats."""
    with httpx.Client(base_url=shared_sim.url, timeout=CLIENT_TIMEOUT) as admin:
        admin.delete("/sim/config").raise_for_status()
        admin.delete("/sim/stats").raise_for_status()
    return shared_sim


@pytest.fixture
def http(sim: SimProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client on the shared simulator's root URL."""
    with httpx.Client(base_url=sim.url, timeout=CLIENT_TIMEOUT) as client:
        yield client


@pytest.fixture
def client(sim: SimProcess) -> Iterator[openai.OpenAI]:
    """The official OpenAI client on the shared simulator, without retries."""
    with openai.OpenAI(base_url=sim.base_url, api_key="unused", max_retries=0, timeout=CLIENT_TIMEOUT) as openai_client:
        yield openai_client


@pytest.fixture
def spawn() -> Iterator[StartSim]:
    """Start simulators with given flags; all are stopped after the test."""
    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        process = start_sim(list(args))
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def chat_body() -> Callable[..., dict[str, object]]:
    """Builds a minimal valid chat request for the shared simulator, plus extra fields."""

    def build(**extra: object) -> dict[str, object]:
        return {"model": SERVED, "messages": [{"role": "user", "content": "Hello there!"}], **extra}

    return build


@dataclass(frozen=True)
class SimNames:
    """The shared simulator's identity and answer length."""

    model: str = MODEL
    served: str = SERVED
    output_tokens: int = OUTPUT_TOKENS


@pytest.fixture
def names() -> SimNames:
    return SimNames()
