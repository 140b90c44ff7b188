"""The pydantic models accept every example and reject every invalid case, naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api_cases import INVALID_CASES, InvalidCase, endpoint_tier, example_documents, policy, vllm_tier
from tiergate_api.conditions import ConditionStatus, find_condition, set_condition
from tiergate_api.enums import Locality, Strategy
from tiergate_api.modeltier import ModelTier
from tiergate_api.quantities import billions, parse_size, parse_usd
from tiergate_api.resources import InvalidResourceError, is_tiergate_document, parse_resource
from tiergate_api.routingpolicy import DEFAULT_WEIGHTS, RoutingPolicy


@pytest.mark.parametrize(("ident", "document"), example_documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_is_valid(ident: str, document: dict) -> None:
    if is_tiergate_document(document):
        parse_resource(document)
    else:
        assert document["kind"] == "Secret", f"{ident}: unexpected kind"


def test_examples_cover_every_strategy_and_both_backends() -> None:
    parsed = [parse_resource(d) for _, d in example_documents() if is_tiergate_document(d)]
    strategies = {p.spec.strategy for p in parsed if isinstance(p, RoutingPolicy)}
    assert strategies == set(Strategy)
    tiers = [p for p in parsed if isinstance(p, ModelTier)]
    assert any(t.spec.vllm for t in tiers) and any(t.spec.endpoint for t in tiers)
    assert any(t.spec.locality == Locality.REMOTE for t in tiers)


def test_local_examples_mirror_cluster_tiers_as_endpoints() -> None:
    docs = example_documents()
    cluster = {d["metadata"]["name"]: d for i, d in docs if i.startswith("tiers/") and d["kind"] == "ModelTier"}
    local = {d["metadata"]["name"]: d for i, d in docs if i.startswith("local/") and d["kind"] == "ModelTier"}
    assert set(local) == set(cluster)
    for name, tier in local.items():
        assert "endpoint" in tier["spec"] and "vllm" not in tier["spec"]
        expected = "Local" if "vllm" in cluster[name]["spec"] else "Remote"
        assert tier["spec"]["endpoint"]["locality"] == expected
        assert tier["spec"]["capabilities"] == cluster[name]["spec"]["capabilities"]


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
def test_invalid_resource_is_rejected_naming_the_field(case: InvalidCase) -> None:
    with pytest.raises(InvalidResourceError) as caught:
        parse_resource(case.document)
    paths = [path for path, _ in caught.value.problems]
    assert any(path == case.field or path.startswith(case.field + ".") for path in paths), paths
    assert case.field in str(caught.value)


def test_there_are_at_least_fifteen_invalid_cases_of_each_kind_overall() -> None:
    kinds = [c.document["kind"] for c in INVALID_CASES]
    assert len(kinds) >= 15 and {"ModelTier", "RoutingPolicy"} <= set(kinds)


def test_defaults_match_the_documented_ones() -> None:
    tier = parse_resource(endpoint_tier())
    assert isinstance(tier, ModelTier)
    assert tier.spec.endpoint is not None and tier.spec.endpoint.timeout_seconds == 60
    assert tier.spec.locality == Locality.REMOTE
    assert tier.spec.cost.input_price == Decimal(0)
    p = parse_resource({**policy(), "spec": {"modelAlias": "x", "tiers": [{"name": "a"}]}})
    assert isinstance(p, RoutingPolicy)
    assert p.spec.strategy == Strategy.CAPABILITY
    assert p.spec.fallback.max_attempts == 3 and p.spec.fallback.require_local_last
    assert p.spec.effective_weights == DEFAULT_WEIGHTS
    assert p.spec.classifier.header == "x-tiergate-task"


def test_vllm_tier_is_local_and_prices_are_decimals() -> None:
    tier = parse_resource(vllm_tier())
    assert isinstance(tier, ModelTier)
    assert tier.spec.locality == Locality.LOCAL
    assert tier.spec.cost.output_price == Decimal("0.04")
    assert tier.spec.parameters == 1_500_000_000


def test_wire_form_round_trips() -> None:
    original = parse_resource(policy())
    again = parse_resource(original.to_wire())
    assert again == original
    assert original.to_wire()["spec"]["modelAlias"] == "auto"


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(InvalidResourceError, match="kind"):
        parse_resource({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})


@pytest.mark.parametrize(
    ("size", "parameters"),
    [("1.5B", 1_500_000_000), ("350M", 350_000_000), ("70B", 70_000_000_000), ("1.8T", 1_800_000_000_000)],
)
def test_parse_size(size: str, parameters: int) -> None:
    assert parse_size(size) == parameters


@pytest.mark.parametrize("bad", ["", "B", "1.5", "1,5B", "-1B", "1.5b", "1e3B", "1.5 B"])
def test_parse_size_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


@given(st.decimals(min_value=0, max_value=9999, places=3, allow_nan=False), st.sampled_from("MBT"))
def test_size_round_trips_through_billions(number: Decimal, unit: str) -> None:
    text = f"{number:f}{unit}"
    scale = {"M": Decimal("0.001"), "B": Decimal(1), "T": Decimal(1000)}[unit]
    assert billions(text) == number * scale


@pytest.mark.parametrize("bad", ["-1", "1e3", "0.1.2", "", "abc", " 1"])
def test_parse_usd_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_usd(bad)


def test_condition_transition_time_changes_only_with_status() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = set_condition([], "Ready", False, "Progressing", "starting", observed_generation=1, now=t0)
    same = set_condition(first, "Ready", False, "Unschedulable", "no GPU", observed_generation=2, now=t0 + timedelta(1))
    ready = find_condition(same, "Ready")
    assert ready is not None
    assert ready.last_transition_time == t0 and ready.reason == "Unschedulable" and ready.observed_generation == 2
    flipped = set_condition(same, "Ready", True, "Available", now=t0 + timedelta(2))
    assert find_condition(flipped, "Ready").last_transition_time == t0 + timedelta(2)  # type: ignore[union-attr]
    assert find_condition(flipped, "Ready").status == ConditionStatus.TRUE and len(flipped) == 1  # type: ignore[union-attr]


def test_conditions_are_keyed_by_type_and_ordered_with_ready_first() -> None:
    conditions = set_condition([], "ResolvedRefs", True, "SecretFound")
    conditions = set_condition(conditions, "Ready", ConditionStatus.UNKNOWN, "Pending")
    conditions = set_condition(conditions, "ResolvedRefs", False, "SecretNotFound")
    assert [c.type for c in conditions] == ["Ready", "ResolvedRefs"]
    assert find_condition(conditions, "ResolvedRefs").status == ConditionStatus.FALSE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "http://127.0.0.1:8000/v1",
        "http://[::1]:8000/v1",
        "http://existing-server.default.svc:8000/v1",
        "http://bücher.example/v1",  # sent as xn--bcher-kva.example (see the registry)
        "https://例子.测试:65535/v1",
        "https://api.example.com/b%C3%BCcher/v1",
    ],
)
def test_endpoint_url_accepted(url: str) -> None:
    tier = parse_resource(_with_url(url))
    assert isinstance(tier, ModelTier) and tier.spec.endpoint is not None and tier.spec.endpoint.url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pw@api.example.com/v1", "credentials"),
        ("https://api.example.com/bücher", "percent-encoded"),
        ("https://api.example.com/v1\tx", "control characters"),
        ("https://api.example.com\u2028/v1", "control characters"),
        ("http://bü_cher.example/v1", "IDNA"),
        ("http://\U0001f600.example/v1", "IDNA"),
        ("https://api.example.com:0/v1", "port"),
        ("https://[1:2]/v1", "not valid"),
        ("https://x.example:/v1", "port"),
    ],
)
def test_endpoint_url_refused_with_a_reason_but_never_the_url(url: str, message: str) -> None:
    with pytest.raises(InvalidResourceError) as caught:
        parse_resource(_with_url(url))
    assert caught.value.problems[0][0] == "spec.endpoint.url" and message in str(caught.value)
    assert url not in str(caught.value) and "pw" not in str(caught.value)


def test_status_endpoint_follows_the_same_rules() -> None:
    document = {**vllm_tier(), "status": {"endpoint": "http://small.default.svc.cluster.local:8000/v1"}}
    assert parse_resource(document).status is not None
    document["status"] = {"endpoint": "http://user:pw@small/v1"}
    with pytest.raises(InvalidResourceError, match=r"status\.endpoint"):
        parse_resource(document)


def test_errors_never_echo_values_and_stay_short_whatever_the_document_holds() -> None:
    secret = "sk-live-0123456789abcdefSECRET"
    document = vllm_tier()
    document["spec"]["vllm"]["replicas"] = secret
    document["spec"]["vllm"]["nodePool"] = {"nodeSelector": {f"key-{n}\n": "x" * 100 for n in range(5000)}}
    document["spec"]["vllm"]["resources"] = {"limits": {"memory": "9" * 100_000 + "X"}}
    with pytest.raises(InvalidResourceError) as caught:
        parse_resource(document)
    text = str(caught.value)
    assert "spec.vllm.replicas" in text and "more problems" in text
    assert secret not in text and "\n" not in text and len(text) < 4000


def _with_url(url: str) -> dict:  # type: ignore[type-arg]
    document = endpoint_tier()
    document["spec"]["endpoint"]["url"] = url
    return document
