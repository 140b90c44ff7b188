"""Kubernetes mode: the gateway watches the API (the emulator here) and routes with what it sees."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from harness.runtime import RunningEmulator
from tiergate_demo.process import GatewayProcess, start_gateway
from tiergate_sim.process import SimProcess
from tiers_setup import API_KEY, policy_document, stats, tier_document

CHAT = {"x-tiergate-task": "Chat"}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def _tier_of(gateway: GatewayProcess) -> str | int:
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=BODY, headers=CHAT, timeout=20)
    return response.headers["x-tiergate-tier"] if response.status_code == 200 else response.status_code


def _eventually(gateway: GatewayProcess, expected: str | int, within: float = 1.0) -> float:
    """Seconds until routing shows `expected`; fails after `within` seconds."""
    started = time.monotonic()
    while (seen := _tier_of(gateway)) != expected:
        assert time.monotonic() - started < within, f"routing still says {seen!r}, expected {expected!r}"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def cluster(kube_emulator: RunningEmulator, upstreams: dict[str, SimProcess]) -> RunningEmulator:
    """The emulator holding the three tiers, the provider key Secret and the policy."""
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "provider"},
            "data": {"api-key": base64.b64encode(API_KEY.encode()).decode()},
        }
    )
    for name, process in upstreams.items():
        kube_emulator.create(tier_document(name, process.base_url))
    kube_emulator.create(policy_document())
    return kube_emulator


@pytest.fixture
def kube_gateway(cluster: RunningEmulator, tmp_path: Path) -> Iterator[GatewayProcess]:
    with start_gateway(["--kubeconfig", str(cluster.kubeconfig_path)], tmp_path / "gateway.log") as gateway:
        yield gateway


def test_routes_with_tiers_policies_and_keys_from_the_cluster(
    kube_gateway: GatewayProcess, upstreams: dict[str, SimProcess]
) -> None:
    assert _tier_of(kube_gateway) == "remote-a"
    assert stats(upstreams["remote-a"])["last_request"]["headers"]["authorization"] == f"Bearer {API_KEY}"
    ready = httpx.get(f"{kube_gateway.url}/readyz").json()
    assert ready["tiers"] == 3 and ready["policies"] == 1


def test_policy_and_tier_changes_apply_within_a_second(cluster: RunningEmulator, kube_gateway: GatewayProcess) -> None:
    cluster.patch("routingpolicies", "main", {"spec": {"tiers": [{"name": "remote-b"}, {"name": "local"}]}})
    _eventually(kube_gateway, "remote-b")
    cluster.delete("modeltiers", "remote-b")
    _eventually(kube_gateway, "local")
    cluster.delete("routingpolicies", "main")
    _eventually(kube_gateway, 404)


def test_secret_rotation_and_removal_follow_the_cluster(cluster: RunningEmulator, kube_gateway: GatewayProcess) -> None:
    cluster.delete("secrets", "provider")
    _eventually(kube_gateway, "remote-b")  # remote-a has no key now: skipped as Unavailable
    explain = httpx.post(f"{kube_gateway.url}/v1/route/explain", json=BODY, headers=CHAT).json()
    assert any(s["tier"] == "remote-a" and "SecretNotFound" in s["detail"] for s in explain["skipped"])


def test_keeps_serving_while_the_api_server_is_away_and_catches_up_after(
    cluster: RunningEmulator, kube_gateway: GatewayProcess
) -> None:
    cluster.stop()
    try:
        for _ in range(5):
            assert _tier_of(kube_gateway) == "remote-a"
            time.sleep(0.2)
        assert httpx.get(f"{kube_gateway.url}/readyz").status_code == 200
    finally:
        cluster.start()
    cluster.patch("routingpolicies", "main", {"spec": {"tiers": [{"name": "local"}]}})
    _eventually(kube_gateway, "local", within=15.0)  # reconnect back-off, then the change


def test_relists_after_history_is_compacted(cluster: RunningEmulator, kube_gateway: GatewayProcess) -> None:
    cluster.stop()
    cluster.patch("routingpolicies", "main", {"spec": {"tiers": [{"name": "remote-b"}]}})
    cluster.compact()  # the gateway's resourceVersion is now too old: 410 Gone
    cluster.start()
    _eventually(kube_gateway, "remote-b", within=15.0)


def test_spend_is_published_in_the_policy_status(
    kube_emulator: RunningEmulator, upstreams: dict[str, SimProcess], tmp_path: Path
) -> None:
    prices = {"inputPerMillionTokens": "1000", "outputPerMillionTokens": "1000"}
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "provider"},
            "data": {"api-key": base64.b64encode(API_KEY.encode()).decode()},
        }
    )
    for name, process in upstreams.items():
        kube_emulator.create(tier_document(name, process.base_url, cost=prices))
    kube_emulator.create(policy_document(budget={"dailyLimit": "10"}))
    env = {"TIERGATE_BUDGET_STATUS_INTERVAL_SECONDS": "0.2"}
    with start_gateway(["--kubeconfig", str(kube_emulator.kubeconfig_path)], tmp_path / "gw.log", env=env) as gateway:
        assert _tier_of(gateway) == "remote-a"
        def spent_budget() -> dict[str, str] | None:
            budget = (kube_emulator.get("routingpolicies", "main") or {}).get("status", {}).get("budget")
            return budget if budget and Decimal(budget["spent"]) > 0 else None

        budget = kube_emulator.wait_until(spent_budget)
    spent = Decimal(budget["spent"])
    assert spent > 0 and Decimal(budget["remaining"]) == Decimal(10) - spent
    assert budget["day"] == time.strftime("%Y-%m-%d", time.gmtime())
