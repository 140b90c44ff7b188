"""Where a tier's replicas come from: its spec, or the EndpointSlices of its Service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tiergate_gateway.core.registry import service_of
from tiergate_gateway.runtime.replicas import ReplicaBook
from tiergate_gateway.sources.endpointslices import ready_addresses

SERVICE_URL = "http://tiergate-qwen.ml.svc.cluster.local:8000/v1"


def a_slice(service: str, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ml", "name": f"{service}-x", "labels": {"kubernetes.io/service-name": service}},
        "ports": [{"name": "http", "port": 8000}] if ports is None else ports,
        "endpoints": endpoints,
    }


def test_ready_endpoints_become_addresses_and_the_others_do_not() -> None:
    slices = [
        a_slice(
            "tiergate-qwen",
            [
                {"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
                {"addresses": ["10.0.0.1"]},  # readiness unknown: counts as ready
                {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
                {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}},
                {"addresses": ["fd00::5"], "conditions": {"ready": True}},
            ],
        ),
        a_slice("tiergate-qwen", [{"addresses": ["10.0.0.9"]}], ports=[{"name": "metrics", "port": 9000}]),
    ]
    expected = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.9:9000", "[fd00::5]:8000"]
    assert ready_addresses(slices) == {"ml/tiergate-qwen": expected}


def test_malformed_slices_are_skipped() -> None:
    slices: list[Any] = [
        {"metadata": {"namespace": "ml"}},
        a_slice("svc", [{"addresses": [7, ""]}, "junk"]),
        a_slice("noports", [{"addresses": ["10.0.0.1"]}], ports=[]),
        a_slice("badport", [{"addresses": ["10.0.0.1"]}], ports=[{"port": 70000}]),
    ]
    assert ready_addresses(slices) == {"ml/svc": [], "ml/noports": [], "ml/badport": []}


def test_service_of_reads_cluster_dns_names_only() -> None:
    assert service_of(SERVICE_URL) == "ml/tiergate-qwen"
    assert service_of("https://api.openai.com/v1") is None
    assert service_of(None) is None


@dataclass(frozen=True)
class Tier:
    key: str
    replica_urls: tuple[str, ...]
    service: str | None = None
    is_local: bool = True
    scrape_interval_seconds: float = 1.0


def test_discovered_replicas_replace_the_service_url_and_keep_its_scheme_and_path() -> None:
    book = ReplicaBook()
    book.sync([Tier("ml/qwen", (SERVICE_URL,), "ml/tiergate-qwen")])
    assert book.pool("ml/qwen").urls == [SERVICE_URL]  # type: ignore[union-attr]
    book.discovered("ml/tiergate-qwen", ["10.0.0.1:8000", "10.0.0.2:8000"])
    assert book.pool("ml/qwen").urls == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]  # type: ignore[union-attr]
    book.discovered("ml/tiergate-qwen", [])
    assert book.pool("ml/qwen").urls == []  # type: ignore[union-attr]
    book.discovered("ml/tiergate-qwen", None)
    assert book.pool("ml/qwen").urls == [SERVICE_URL]  # type: ignore[union-attr]


def test_a_new_snapshot_keeps_pools_of_remaining_tiers_and_drops_the_rest() -> None:
    book = ReplicaBook()
    book.sync([Tier("a/one", ("http://x/v1", "http://y/v1")), Tier("a/two", ("http://z/v1",), is_local=False)])
    pool = book.pool("a/one")
    assert [p.urls for p in book.scraped()] == [["http://x/v1", "http://y/v1"]]  # never an external API
    book.sync([Tier("a/one", ("http://y/v1",))])
    assert book.pool("a/one") is pool and pool.urls == ["http://y/v1"]  # type: ignore[union-attr]
    assert book.pool("a/two") is None


def test_replica_churn_every_second_keeps_state_bounded() -> None:
    book = ReplicaBook()
    book.sync([Tier("ml/qwen", (SERVICE_URL,), "ml/tiergate-qwen")])
    for second in range(200):
        addresses = [f"10.0.{second % 7}.{i}:8000" for i in range(1000)]
        book.discovered("ml/tiergate-qwen", addresses)
    pool = book.pool("ml/qwen")
    assert pool is not None and len(pool.replicas) == 1000 and len(pool._loads) == 1000
