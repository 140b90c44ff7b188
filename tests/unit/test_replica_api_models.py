"""The replica API: `spec.endpoint.urls` beside `url`, and `spec.replicaPicking`, as the models judge them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from api_cases import endpoint_tier, vllm_tier
from tiergate_api.crd import MODEL_TIER, build_crd
from tiergate_api.modeltier import MAX_REPLICA_URLS, ModelTier
from tiergate_api.replicapicking import (
    DEFAULT_AFFINITY_LOAD_BOUND_PERCENT,
    DEFAULT_KV_CACHE_WEIGHT,
    DEFAULT_METRICS_SCRAPE_INTERVAL_MILLISECONDS,
    DEFAULT_PREFIX_AFFINITY_WEIGHT,
    DEFAULT_PREFIX_BLOCK_TOKENS,
    DEFAULT_QUEUE_WEIGHT,
    DEFAULT_REPLICA_PICKING,
    ReplicaPicking,
)
from tiergate_api.resources import InvalidResourceError, parse_resource

POOL = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1", "http://10.0.0.3:8000/v1"]


def _pool_tier(endpoint: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    document = endpoint_tier("pool")
    document["spec"]["endpoint"] = {"urls": list(POOL), "locality": "Local"} if endpoint is None else endpoint
    document["spec"].update(spec)
    return document


def _tier(document: dict[str, Any]) -> ModelTier:
    tier = parse_resource(document)
    assert isinstance(tier, ModelTier)
    return tier


def _problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidResourceError) as caught:
        parse_resource(document)
    return caught.value.problems


def _endpoint_schema() -> dict[str, Any]:
    spec = build_crd(MODEL_TIER)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["endpoint"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- url or urls


def test_a_single_url_is_a_pool_of_one() -> None:
    endpoint = _tier(endpoint_tier()).spec.endpoint
    assert endpoint is not None and endpoint.urls is None
    assert endpoint.replica_urls() == ["https://api.example.com/v1"]


def test_urls_are_the_replicas_in_their_order() -> None:
    endpoint = _tier(_pool_tier()).spec.endpoint
    assert endpoint is not None and endpoint.url is None
    assert endpoint.replica_urls() == POOL
    assert _tier(_pool_tier({"urls": POOL[:1]})).spec.endpoint.replica_urls() == POOL[:1]  # type: ignore[union-attr]


def test_url_and_urls_together_are_refused_at_the_endpoint() -> None:
    both = _pool_tier({"url": POOL[0], "urls": POOL[1:]})
    assert _problems(both) == [("spec.endpoint", "set either url or urls, not both")]


def test_an_endpoint_without_url_or_urls_is_refused_at_the_endpoint() -> None:
    assert _problems(_pool_tier({"locality": "Local"})) == [
        ("spec.endpoint", "set url (one server) or urls (one per replica)")
    ]


def test_an_empty_list_of_urls_is_refused() -> None:
    [(path, message)] = _problems(_pool_tier({"urls": []}))
    assert path == "spec.endpoint.urls" and "at least 1" in message


def test_a_repeated_url_is_refused_by_index_without_quoting_it() -> None:
    secret_url = "https://pool.example/v1?key=sk-live-SECRET"
    problems = _problems(_pool_tier({"urls": [secret_url, POOL[0], secret_url]}))
    assert problems == [("spec.endpoint.urls.2", "duplicate URL: the same as item 0")]
    assert "SECRET" not in str(problems)


def test_urls_differing_only_in_a_trailing_slash_are_different_entries() -> None:
    # The API server's list-type set compares strings; the models must not be stricter than it is.
    assert _tier(_pool_tier({"urls": [POOL[0], POOL[0] + "/"]})).spec.endpoint.replica_urls() == [  # type: ignore[union-attr]
        POOL[0],
        POOL[0] + "/",
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://10.0.0.9/v1", "http:// or https://"),
        ("https://user:pw@10.0.0.9/v1", "credentials"),
        ("https://10.0.0.9:65536/v1", "port"),
        ("https://10.0.0.9/v 1", "spaces"),
    ],
)
def test_every_url_of_the_list_is_checked_like_url(url: str, reason: str) -> None:
    [(path, message)] = _problems(_pool_tier({"urls": [POOL[0], url]}))
    assert path == "spec.endpoint.urls.1" and reason in message
    assert "pw" not in message


def test_urls_must_be_a_list_of_strings() -> None:
    assert _problems(_pool_tier({"urls": POOL[0]}))[0][0] == "spec.endpoint.urls"
    assert _problems(_pool_tier({"urls": [8000]}))[0][0] == "spec.endpoint.urls.0"


def test_up_to_1024_urls_are_accepted_and_no_more() -> None:
    many = [f"http://10.{i // 256}.{i % 256}.1:8000/v1" for i in range(MAX_REPLICA_URLS + 1)]
    assert MAX_REPLICA_URLS == 1024
    assert len(_tier(_pool_tier({"urls": many[:-1]})).spec.endpoint.replica_urls()) == 1024  # type: ignore[union-attr]
    [(path, message)] = _problems(_pool_tier({"urls": many}))
    assert path == "spec.endpoint.urls" and "at most 1024" in message


def test_the_crd_says_what_the_models_say_about_urls() -> None:
    endpoint = _endpoint_schema()
    urls = endpoint["properties"]["urls"]
    assert (urls["minItems"], urls["maxItems"], urls["x-kubernetes-list-type"]) == (1, MAX_REPLICA_URLS, "set")
    assert urls["items"] == {k: v for k, v in endpoint["properties"]["url"].items() if k != "description"}
    assert str(MAX_REPLICA_URLS) in urls["description"]
    assert "url" not in endpoint.get("required", [])
    assert [(r["rule"], r["message"]) for r in endpoint["x-kubernetes-validations"]] == [
        ("!has(self.url) || !has(self.urls)", "set either url or urls, not both"),
        ("has(self.url) || has(self.urls)", "set url (one server) or urls (one per replica)"),
    ]


# ---------------------------------------------------------------- replicaPicking


def test_a_tier_without_replica_picking_uses_the_documented_defaults() -> None:
    picking = _tier(_pool_tier()).spec.effective_replica_picking
    assert picking is DEFAULT_REPLICA_PICKING
    weights = picking.weights
    assert (weights.queue, weights.kv_cache, weights.prefix_affinity) == (50, 20, 30)
    assert (picking.prefix_block_tokens, picking.affinity_load_bound_percent) == (64, 125)
    assert picking.metrics_scrape_interval_milliseconds == 1000


def test_a_partial_replica_picking_keeps_the_defaults_of_what_it_leaves_out() -> None:
    picking = _tier(_pool_tier(replicaPicking={"weights": {"prefixAffinity": 60}})).spec.effective_replica_picking
    assert (picking.weights.queue, picking.weights.kv_cache, picking.weights.prefix_affinity) == (50, 20, 60)
    assert picking.prefix_block_tokens == DEFAULT_PREFIX_BLOCK_TOKENS
    assert _tier(_pool_tier(replicaPicking={})).spec.effective_replica_picking == DEFAULT_REPLICA_PICKING


def test_vllm_tiers_take_replica_picking_too() -> None:
    document = vllm_tier()
    document["spec"]["replicaPicking"] = {"affinityLoadBoundPercent": 150, "metricsScrapeIntervalMilliseconds": 500}
    picking = _tier(document).spec.effective_replica_picking
    assert (picking.affinity_load_bound_percent, picking.metrics_scrape_interval_milliseconds) == (150, 500)


def test_weights_that_sum_to_zero_are_refused() -> None:
    zero = {"weights": {"queue": 0, "kvCache": 0, "prefixAffinity": 0}}
    assert _problems(_pool_tier(replicaPicking=zero)) == [
        ("spec.replicaPicking.weights", "replica weights must sum to more than zero")
    ]
    only_affinity = {"weights": {"queue": 0, "kvCache": 0, "prefixAffinity": 1}}
    assert _tier(_pool_tier(replicaPicking=only_affinity)).spec.effective_replica_picking.weights.prefix_affinity == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weights.queue", 101),
        ("weights.kvCache", -1),
        ("weights.prefixAffinity", "30"),
        ("weights.queue", 50.0),
        ("prefixBlockTokens", 7),
        ("prefixBlockTokens", 4097),
        ("affinityLoadBoundPercent", 99),
        ("affinityLoadBoundPercent", 1001),
        ("affinityLoadBoundPercent", 1.25),
        ("metricsScrapeIntervalMilliseconds", 99),
        ("metricsScrapeIntervalMilliseconds", 60_001),
        ("affinityLoadBound", 125),  # the unit is part of the name
    ],
)
def test_replica_picking_values_out_of_bounds_are_refused_naming_the_field(field: str, value: Any) -> None:
    picking: dict[str, Any] = {}
    *parents, leaf = field.split(".")
    node = picking
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    paths = [path for path, _ in _problems(_pool_tier(replicaPicking=picking))]
    assert f"spec.replicaPicking.{field}" in paths


def test_the_crd_defaults_are_the_constants_the_gateway_reads() -> None:
    spec = build_crd(MODEL_TIER)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schema = spec["properties"]["replicaPicking"]
    fields = schema["properties"]
    weights = fields["weights"]["properties"]
    assert "default" not in schema  # an unset block is not written into every stored tier
    assert fields["weights"]["default"] == {}
    assert {name: node["default"] for name, node in weights.items()} == {
        "queue": DEFAULT_QUEUE_WEIGHT,
        "kvCache": DEFAULT_KV_CACHE_WEIGHT,
        "prefixAffinity": DEFAULT_PREFIX_AFFINITY_WEIGHT,
    }
    assert fields["prefixBlockTokens"]["default"] == DEFAULT_PREFIX_BLOCK_TOKENS
    assert fields["affinityLoadBoundPercent"]["default"] == DEFAULT_AFFINITY_LOAD_BOUND_PERCENT
    assert fields["metricsScrapeIntervalMilliseconds"]["default"] == DEFAULT_METRICS_SCRAPE_INTERVAL_MILLISECONDS
    assert ReplicaPicking() == DEFAULT_REPLICA_PICKING


def test_pool_tier_round_trips_through_the_wire_form() -> None:
    document = _pool_tier(replicaPicking={"weights": {"queue": 10}, "prefixBlockTokens": 16})
    tier = _tier(document)
    again = _tier({**copy.deepcopy(document), "spec": tier.spec.to_wire()})
    assert again == tier
    assert tier.spec.to_wire()["endpoint"]["urls"] == POOL and "url" not in tier.spec.to_wire()["endpoint"]
