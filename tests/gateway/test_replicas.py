"""Replica picking end to end: a tier of several `tiergate sim` replicas behind a real gateway."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tiergate_demo.process import GatewayProcess, free_port, start_gateway
from tiergate_sim.process import SimProcess, start_sim

SYSTEM = "You answer questions about the quarterly ledger of the accounts team. " * 40  # ~700 tokens
FAST_EJECTION = {"TIERGATE_REPLICA_EJECTION_SECONDS": "1", "TIERGATE_REPLICA_EJECTION_FAILURES": "2"}


def chat(system: str, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "auto",
        "max_tokens": 4,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        **extra,
    }


def write_config(folder: Path, pool: list[str], backup: str, **picking: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    documents = [
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "pool"},
            "spec": {
                "model": "org/pool",
                "size": "1B",
                "endpoint": {"urls": pool, "locality": "Local", "timeoutSeconds": 10},
                "replicaPicking": {"metricsScrapeIntervalMilliseconds": 200, **picking},
            },
        },
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "backup"},
            "spec": {"model": "org/backup", "size": "8B", "endpoint": {"url": backup, "locality": "Local"}},
        },
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "RoutingPolicy",
            "metadata": {"name": "main"},
            "spec": {
                "modelAlias": "auto",
                "strategy": "Capability",
                "tiers": [{"name": "pool"}, {"name": "backup"}],
                "classifier": {"mode": "HeaderOnly"},
            },
        },
    ]
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(documents))
    return folder


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[SimProcess]]:
    started = [start_sim(["--model", "org/pool", "--output-tokens", "4"]) for _ in range(3)]
    try:
        yield started
    finally:
        for sim in started:
            sim.stop()


@pytest.fixture(scope="module")
def backup() -> Iterator[SimProcess]:
    with start_sim(["--model", "org/backup", "--output-tokens", "4"]) as sim:
        yield sim


@pytest.fixture
def pool(replicas: list[SimProcess], backup: SimProcess) -> list[SimProcess]:
    for sim in [*replicas, backup]:
        sim.reset()
    return replicas


def started(
    tmp_path: Path, urls: list[str], backup: SimProcess, env: dict[str, str] | None = None, **picking: Any
) -> GatewayProcess:
    folder = write_config(tmp_path / "config", urls, backup.base_url, **picking)
    return start_gateway(["--config-dir", str(folder)], tmp_path / "gateway.log", env=env)


def port_of(sim: SimProcess) -> str:
    url = httpx.URL(sim.base_url)
    return f"{url.host}:{url.port}"


def test_a_shared_prefix_keeps_going_to_one_replica(tmp_path: Path, pool: list[SimProcess], backup: SimProcess) -> None:
    with started(tmp_path, [s.base_url for s in pool], backup) as gateway:
        answered = []
        for turn in range(8):
            body = chat(SYSTEM, f"turn {turn}")
            response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=10)
            assert response.status_code == 200
            answered.append(response.headers["x-tiergate-replica"])
        assert len(set(answered)) == 1
        assert answered[0] in {port_of(s) for s in pool}
        other = httpx.post(f"{gateway.base_url}/chat/completions", json=chat("A different system prompt. " * 40, "hi"))
        assert other.headers["x-tiergate-replica"] in {port_of(s) for s in pool}


def test_load_spreads_when_the_prefixs_replica_is_busy(
    tmp_path: Path, pool: list[SimProcess], backup: SimProcess
) -> None:
    for sim in pool:
        sim.configure(ttft_ms=600)
    with started(tmp_path, [s.base_url for s in pool], backup) as gateway:
        with concurrent.futures.ThreadPoolExecutor(12) as workers:
            responses = list(
                workers.map(
                    lambda turn: httpx.post(
                        f"{gateway.base_url}/chat/completions", json=chat(SYSTEM, f"q{turn}"), timeout=20
                    ),
                    range(12),
                )
            )
        assert all(r.status_code == 200 for r in responses)
        spread = Counter(r.headers["x-tiergate-replica"] for r in responses)
        assert len(spread) == 3, spread  # twelve at once: one hot prefix does not pile onto one replica


def test_a_dead_replica_is_retried_around_then_ejected_then_readmitted(
    tmp_path: Path, pool: list[SimProcess], backup: SimProcess
) -> None:
    dead_port = free_port()
    dead = f"http://127.0.0.1:{dead_port}/v1"
    # Without the kv-cache scorer, a replica with no metrics is not avoided: the two take turns.
    no_kv = {"weights": {"kvCache": 0}}
    with started(tmp_path, [dead, pool[0].base_url], backup, env=FAST_EJECTION, **no_kv) as gateway:
        seen = Counter()
        for turn in range(10):
            response = httpx.post(f"{gateway.base_url}/chat/completions", json=chat(f"prompt {turn} " * 80, "x"))
            assert response.status_code == 200  # never the client's problem
            assert response.headers["x-tiergate-tier"] == "pool"  # another replica, not the next tier
            seen[response.headers.get("x-tiergate-fallback-reason", "")] += 1
        retried = [reason for reason in seen if "ConnectionError" in reason]
        assert retried and all(f"127.0.0.1:{dead_port}" in reason for reason in retried)
        assert sum(seen[r] for r in retried) <= 2  # ejected after two failures: no more retries
        with start_sim(["--model", "org/pool", "--output-tokens", "4", "--port", str(dead_port)]) as revived:
            time.sleep(1.2)  # the ejection has run out: the next request it gets is its probe
            replicas_used = set()
            for turn in range(10):
                answer = httpx.post(f"{gateway.base_url}/chat/completions", json=chat(f"fresh {turn} " * 80, "x"))
                replicas_used.add(answer.headers["x-tiergate-replica"])
            assert f"127.0.0.1:{dead_port}" in replicas_used
            assert revived.stats()["requests"] >= 1


def test_the_tier_fails_over_between_replicas_before_the_chain_moves_on(
    tmp_path: Path, pool: list[SimProcess], backup: SimProcess
) -> None:
    pool[0].configure(error_rate=1.0)
    no_kv = {"weights": {"kvCache": 0}}
    with started(tmp_path, [pool[0].base_url, pool[1].base_url], backup, **no_kv) as gateway:
        for turn in range(6):
            response = httpx.post(f"{gateway.base_url}/chat/completions", json=chat(f"other {turn} " * 80, "x"))
            assert response.status_code == 200
            assert response.headers["x-tiergate-tier"] == "pool"
            assert response.headers["x-tiergate-replica"] == port_of(pool[1])
        assert backup.stats()["requests"] == 0


def test_every_replica_failing_moves_the_chain_on(tmp_path: Path, pool: list[SimProcess], backup: SimProcess) -> None:
    for sim in pool[:2]:
        sim.configure(error_rate=1.0)
    with started(tmp_path, [pool[0].base_url, pool[1].base_url], backup) as gateway:
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=chat(SYSTEM, "x"))
        assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "backup"
        assert "pool" in response.headers["x-tiergate-fallback-reason"]


def test_explain_shows_the_replica_scores(tmp_path: Path, pool: list[SimProcess], backup: SimProcess) -> None:
    with started(tmp_path, [s.base_url for s in pool], backup) as gateway:
        warm = httpx.post(f"{gateway.base_url}/chat/completions", json=chat(SYSTEM, "warm"))
        explained = httpx.post(f"{gateway.base_url}/route/explain", json=chat(SYSTEM, "which replica?")).json()
        replicas = explained["replicas"]["pool"]
        assert {r["replica"] for r in replicas} == {s.base_url for s in pool}
        best = max(replicas, key=lambda r: r["score"])
        assert best["replica"].endswith(f"{warm.headers['x-tiergate-replica']}/v1")  # where the prefix went
        assert best["prefix"] > 0.8 and all(r["prefix"] == 0 for r in replicas if r is not best)


def test_replica_attempts_are_counted_per_replica(tmp_path: Path, pool: list[SimProcess], backup: SimProcess) -> None:
    with started(tmp_path, [s.base_url for s in pool], backup) as gateway:
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=chat(SYSTEM, "x"))
        assert response.status_code == 200
        replica = response.headers["x-tiergate-replica"]
        metrics = httpx.get(f"{gateway.url}/metrics").text
        assert f'tiergate_replica_attempts_total{{replica="{replica}",result="ok",tier="pool"}} 1.0' in metrics


def test_a_replica_that_accepts_but_never_answers_costs_one_timeout_then_is_ejected(
    tmp_path: Path, pool: list[SimProcess], backup: SimProcess
) -> None:
    pool[0].configure(hang_rate=1.0)  # takes the connection, says it is idle, never answers
    urls = [pool[0].base_url, pool[1].base_url]
    folder = write_config(tmp_path / "config", urls, backup.base_url, weights={"kvCache": 0})
    documents = list(yaml.safe_load_all((folder / "tiers.yaml").read_text()))
    documents[2]["spec"]["fallback"] = {"attemptTimeoutSeconds": 1}
    (folder / "tiers.yaml").write_text(yaml.safe_dump_all(documents))
    with start_gateway(["--config-dir", str(folder)], tmp_path / "gateway.log", env=FAST_EJECTION) as gateway:
        answered = []
        for turn in range(8):
            started_at = time.monotonic()
            body = chat(f"hung {turn} " * 80, "x")
            response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=10)
            answered.append((response.headers.get("x-tiergate-replica"), time.monotonic() - started_at))
            assert response.status_code == 200 and response.headers["x-tiergate-tier"] == "pool"
        assert all(replica == port_of(pool[1]) for replica, _ in answered)
        slow = [seconds for _, seconds in answered if seconds > 0.9]
        assert 1 <= len(slow) <= 2  # a timeout each time the hung replica was tried, until it was ejected
