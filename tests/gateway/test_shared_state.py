"""Several gateway replicas share budgets, rate windows and circuits through a real Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tiergate_demo.process import GatewayProcess, free_port
from tiergate_sim.process import SimProcess
from tiers_setup import set_knobs

CHAT = {"x-tiergate-task": "Chat"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


class Redis:
    """A throw-away redis-server on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    server = Redis()
    server.start()
    yield server
    server.stop()


def post(gateway: GatewayProcess) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=30)


def _pair(
    start: Callable[..., GatewayProcess], redis: Redis, **kwargs: object
) -> tuple[GatewayProcess, GatewayProcess]:
    env = {"TIERGATE_REDIS_URL": redis.url}
    first = start(env=env, **kwargs)
    second = start(env=env, **kwargs)
    return first, second


def test_daily_budget_is_shared_across_replicas(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], redis: Redis
) -> None:
    prices = {"inputPerMillionTokens": "1000", "outputPerMillionTokens": "1000"}
    a, b = _pair(
        gateway_factory,
        redis,
        tier_specs={name: {"cost": prices} for name in upstreams},
        budget={"dailyLimit": "0.05", "onExceeded": "Reject"},
    )
    while post(a).status_code == 200:  # spend the day's budget through replica A only
        pass
    time.sleep(1.5)  # replicas sync shared state every second
    refused = post(b)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"


def test_tier_rate_window_is_shared_across_replicas(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], redis: Redis
) -> None:
    a, b = _pair(gateway_factory, redis, tier_specs={"remote-a": {"limits": {"requestsPerMinute": 3}}})
    tiers = [post(gateway).headers["x-tiergate-tier"] for gateway in (a, b, a, b, a)]
    assert tiers == ["remote-a", "remote-a", "remote-a", "remote-b", "remote-b"]


def test_a_circuit_opened_by_one_replica_is_skipped_by_the_other(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], redis: Redis
) -> None:
    a, b = _pair(gateway_factory, redis)
    set_knobs(upstreams["remote-a"], error_rate=1.0)
    for _ in range(5):  # five consecutive failures open remote-a's circuit on replica A
        assert post(a).headers["x-tiergate-tier"] == "remote-b"
    time.sleep(1.5)
    before = httpx.get(f"{upstreams['remote-a'].url}/sim/stats").json()["requests"]
    response = post(b)
    assert response.headers["x-tiergate-tier"] == "remote-b"
    assert "remote-a=CircuitOpen" in response.headers["x-tiergate-fallback-reason"]
    assert httpx.get(f"{upstreams['remote-a'].url}/sim/stats").json()["requests"] == before


def test_losing_redis_falls_back_to_local_state_and_keeps_serving(
    gateway_factory: Callable[..., GatewayProcess], upstreams: dict[str, SimProcess], redis: Redis
) -> None:
    prices = {"inputPerMillionTokens": "1", "outputPerMillionTokens": "1"}
    gateway = gateway_factory(
        env={"TIERGATE_REDIS_URL": redis.url},
        tier_specs={"remote-a": {"cost": prices, "limits": {"requestsPerMinute": 1000}}},
        budget={"dailyLimit": "100"},
    )
    assert post(gateway).status_code == 200
    redis.stop()
    started = time.monotonic()
    codes = [post(gateway).status_code for _ in range(20)]
    assert codes == [200] * 20
    assert time.monotonic() - started < 10  # no request waits on a dead Redis
    time.sleep(1.5)
    logs = gateway.logs()
    assert logs.count("Redis is unreachable") == 1
    redis.start()
    time.sleep(2.5)
    assert post(gateway).status_code == 200
    assert "Redis answers again" in gateway.logs()
