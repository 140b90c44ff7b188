"""The gateway's Grafana dashboard: a sound layout, queries that parse and name only what the gateway exports,
shipped by the chart as a ConfigMap for Grafana's sidecar and copied byte for byte into docs/grafana/.

Queries are read through their PromQL syntax tree (promql_parser.parse, then promql_parser.walk over
VectorSelector, AggregateExpr and BinaryExpr nodes), not with regular expressions: metric names are the
selectors' names, labels the selectors' matchers, `by (...)` and `on/ignoring (...)` lists. Grafana's
variables are substituted first ($__rate_interval -> 5m, $__range -> 1h, $policy and $tier -> .*).

"Exported" means what a real gateway serves on GET /metrics after a few requests (a `tiergate sim`
tier, a dead tier to fall back from, a budget and prices): every family appears there with its type,
labelled families with samples once something touched them. Families no request touched (replicas,
autoscaling) have no samples to show labels, so their label names come from the same metric objects the
gateway registered (tiergate_gateway.telemetry.metrics, read from prometheus_client's REGISTRY).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import promql_parser
import pytest
import yaml
from chart_harness import (
    CHART,
    INFO,
    KUBERNETES_VERSION,
    NAMESPACE,
    ROOT,
    HelmWorker,
    Release,
    install,
    lint,
    new_cluster,
    overlay,
)
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

import tiergate_gateway.telemetry.metrics  # noqa: F401  (registers the gateway's metrics in REGISTRY)
from tiergate_demo.process import free_port, start_gateway
from tiergate_sim.process import start_sim

DASHBOARD = CHART / "dashboards" / "tiergate-gateway.json"
DOCS_COPY = ROOT / "docs" / "grafana" / "tiergate-gateway.json"
ROWS = ["Traffic", "Routing", "Latency", "Money", "Health"]
GRID_COLUMNS = 24
SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${policy}": ".*",
    "$policy": ".*",
    "${tier}": ".*",
    "$tier": ".*",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

type Labels = dict[str, set[str]]  # exported sample name -> its label names


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels of collapsed rows."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels") or [])
    return found


def _graphs(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in _panels(dashboard) if panel["type"] != "row"]


def _queries() -> list[tuple[str, str]]:
    """(panel title / refId, expr) of every target."""
    return [
        (f"{panel['title']} / {target['refId']}", target["expr"])
        for panel in _graphs(_dashboard())
        for target in panel["targets"]
    ]


def _promql(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
    return expr


def _parse(expr: str) -> promql_parser.Expr:
    return promql_parser.parse(_promql(expr))


def _nodes[N](tree: promql_parser.Expr, kind: type[N]) -> list[N]:
    found: list[N] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, kind):
            found.append(node)
        return True

    promql_parser.walk(tree, visit)
    return found


def _selectors(tree: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    return _nodes(tree, promql_parser.VectorSelector)


def _name(selector: promql_parser.VectorSelector) -> str:
    assert selector.name, f"a selector without a metric name: {selector}"
    return selector.name


def _output_labels(node: Any, labels: Labels) -> set[str]:
    """The label names of the series an expression returns (what a legend can show)."""
    if isinstance(node, promql_parser.VectorSelector):
        return set(labels.get(_name(node), set()))
    if isinstance(node, promql_parser.MatrixSelector):
        return _output_labels(node.vector_selector, labels)
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return _output_labels(node.expr, labels)
    if isinstance(node, promql_parser.AggregateExpr):
        if node.modifier is None:
            return set()
        if node.modifier.type == promql_parser.AggModifierType.By:
            return set(node.modifier.labels)
        return _output_labels(node.expr, labels) - set(node.modifier.labels)
    if isinstance(node, promql_parser.Call):
        vectors = [arg for arg in node.args if not isinstance(arg, promql_parser.NumberLiteral)]
        out = _output_labels(vectors[-1], labels) if vectors else set()
        return out - {"le"} if node.func.name == "histogram_quantile" else out
    if isinstance(node, promql_parser.BinaryExpr):
        if isinstance(node.lhs, promql_parser.NumberLiteral):
            return _output_labels(node.rhs, labels)
        many_on_the_right = (
            node.modifier is not None and node.modifier.card == promql_parser.VectorMatchCardinality.OneToMany
        )
        return _output_labels(node.rhs if many_on_the_right else node.lhs, labels)
    return set()


# ---------------------------------------------------------------- (a) the JSON and its layout


def test_dashboard_is_grafana_json_with_a_datasource_and_two_filters() -> None:
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] == "tiergate-gateway" and dashboard["title"] == "TierGate gateway"
    assert dashboard["id"] is None  # importable into any Grafana
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables.keys() == {"datasource", "policy", "tier"}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("policy", "tier"):
        variable = variables[name]
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE
        assert variable["query"].startswith("label_values(") and variable["definition"] == variable["query"]
        assert variable["multi"] is True and variable["includeAll"] is True
        assert variable["allValue"] == ".*"  # "All" must match the empty policy of requests refused early


def test_every_panel_has_a_unique_id_and_a_place_on_the_grid() -> None:
    panels = _panels(_dashboard())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[key], int) for key in ("h", "w", "x", "y")), panel["title"]
        assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] >= 0 and grid["y"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def test_rows_are_in_order_and_no_panel_overlaps_another_in_its_row() -> None:
    panels = _dashboard()["panels"]
    rows = [panel for panel in panels if panel["type"] == "row"]
    assert [row["title"] for row in rows] == ROWS
    assert all(row["gridPos"]["w"] == GRID_COLUMNS and row["gridPos"]["x"] == 0 for row in rows)
    assert all(not row["collapsed"] and row["panels"] == [] for row in rows)  # open rows: panels follow them
    assert panels[0]["type"] == "row"
    members: dict[str, list[dict[str, Any]]] = {}
    for panel in panels:
        if panel["type"] == "row":
            current = panel
            members[current["title"]] = []
        else:
            members[current["title"]].append(panel)
    bounds = [row["gridPos"]["y"] for row in rows] + [sys.maxsize]
    for index, row in enumerate(rows):
        inside = members[row["title"]]
        assert inside, f"row {row['title']} is empty"
        for panel in inside:  # below its row header, above the next one
            assert bounds[index] < panel["gridPos"]["y"], panel["title"]
            assert panel["gridPos"]["y"] + panel["gridPos"]["h"] <= bounds[index + 1], panel["title"]
        for number, panel in enumerate(inside):
            for other in inside[number + 1 :]:
                assert not _overlap(panel["gridPos"], other["gridPos"]), (panel["title"], other["title"])


def test_every_panel_has_a_description_a_unit_and_the_datasource_variable() -> None:
    for panel in _graphs(_dashboard()):
        title = panel["title"]
        assert len(panel.get("description", "")) >= 20, title
        assert panel["fieldConfig"]["defaults"].get("unit"), title
        assert panel["datasource"] == DATASOURCE, title
        assert panel["targets"], title
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), title
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), title


def test_units_say_what_the_panels_measure() -> None:
    units = {panel["title"]: panel["fieldConfig"]["defaults"]["unit"] for panel in _graphs(_dashboard())}
    assert units["Requests/s by policy"] == units["Fallbacks/s by reason"] == "reqps"
    assert units["Error ratio by policy"] == units["Saving percent by policy"] == "percentunit"
    assert units["Request duration by policy (p50, p95, p99)"] == "s"
    assert units["Spend rate by policy (USD/h)"] == units["Saving by policy (USD/h)"] == "currencyUSD"


# ---------------------------------------------------------------- (b) every query is PromQL


@pytest.mark.parametrize(("where", "expr"), _queries(), ids=[where for where, _ in _queries()])
def test_every_query_parses_as_promql(where: str, expr: str) -> None:
    tree = _parse(expr)
    assert _selectors(tree), f"{where}: no metric in {expr}"
    # windows follow what Grafana knows (scrape interval, time range), never a fixed duration
    windows = re.findall(r"\[([^\]]*)\]", expr)
    assert set(windows) <= {"$__rate_interval", "$__range"}, f"{where}: {windows}"


# ---------------------------------------------------------------- (c) only what the gateway exports


def _declared_labels() -> Labels:
    """Label names of every sample name of the gateway's metric objects, as registered."""
    declared: Labels = {}
    # prometheus_client has no public way to read a labelled metric's label names before it has children.
    for collector, names in REGISTRY._collector_to_names.items():
        if isinstance(collector, MetricWrapperBase):
            for name in names:
                declared[name] = set(collector._labelnames) | ({"le"} if name.endswith("_bucket") else set())
    return declared


def _exposition_labels(text: str, declared: Labels) -> Labels:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exported: Labels = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("tiergate_"):
            continue
        for suffix in suffixes.get(family.type, ()):
            name = family.name + suffix
            exported.setdefault(name, set()).update(declared.get(name, set()))
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


def _tier(name: str, url: str, size: str) -> dict[str, Any]:
    spec = {
        "model": f"org/{name}",
        "size": size,
        "capabilities": {"maxContextTokens": 4096, "features": ["Streaming"]},
        "cost": {"inputPerMillionTokens": "1", "outputPerMillionTokens": "4"},
        "endpoint": {"url": url, "locality": "Remote", "timeoutSeconds": 10},
    }
    return {"apiVersion": "tiergate.io/v1alpha1", "kind": "ModelTier", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labels]:
    """The tiergate_ sample names (and their labels) a real gateway serves after a few requests."""
    folder = tmp_path_factory.mktemp("dashboard-gateway")
    with start_sim(["--model", "org/small", "--output-tokens", "4"]) as sim:
        dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: every request falls back from it
        tiers = [_tier("dead", dead, "1B"), _tier("small", sim.base_url, "3B")]
        policy = {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "RoutingPolicy",
            "metadata": {"name": "main"},
            "spec": {
                "modelAlias": "auto",
                "strategy": "Capability",
                "tiers": [{"name": "dead"}, {"name": "small"}],
                "budget": {"dailyLimit": "100"},
                "fallback": {"maxAttempts": 2},
            },
        }
        (folder / "tiers.yaml").write_text(yaml.safe_dump_all(tiers))
        (folder / "policy.yaml").write_text(yaml.safe_dump(policy))
        with start_gateway(["--config-dir", str(folder)], folder / "gateway.log") as gateway:
            body = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}
            assert httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=30).status_code == 200
            with httpx.stream(
                "POST", f"{gateway.base_url}/chat/completions", json={**body, "stream": True}, timeout=30
            ) as stream:
                assert stream.status_code == 200
                stream.read()
            text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    labels = _exposition_labels(text, _declared_labels())
    assert "tiergate_fallbacks_total" in labels and "tiergate_time_to_first_token_seconds_bucket" in labels
    yield labels


def _label_uses(
    tree: promql_parser.Expr,
) -> Iterator[tuple[str, list[promql_parser.VectorSelector], Callable[..., bool]]]:
    """(label, selectors, all or any) for every label a query names.

    A matcher's label must be on its selector's metric, a `by`/`without` label on every metric the
    aggregation reads; an `on`/`ignoring`/`group_left` label on a metric of either side (ignoring a
    label one side lacks is fine).
    """
    for selector in _selectors(tree):
        for matcher in selector.matchers.matchers:
            yield matcher.name, [selector], all
    for aggregate in _nodes(tree, promql_parser.AggregateExpr):
        for label in aggregate.modifier.labels if aggregate.modifier else []:
            yield label, _selectors(aggregate.expr), all
    for binary in _nodes(tree, promql_parser.BinaryExpr):
        modifier = binary.modifier
        if modifier is not None:
            for label in (modifier.matching.labels if modifier.matching else []) + (modifier.group_labels or []):
                yield label, _selectors(binary), any


def test_every_metric_the_dashboard_queries_is_exported_by_the_gateway(exported: Labels) -> None:
    used = {_name(selector): where for where, expr in _queries() for selector in _selectors(_parse(expr))}
    assert {name: where for name, where in used.items() if name not in exported} == {}
    assert len(used) >= 20  # the dashboard covers the gateway, not a corner of it


def test_every_label_the_dashboard_filters_or_groups_by_exists_on_its_metric(exported: Labels) -> None:
    missing = []
    for where, expr in _queries():
        for label, selectors, quantifier in _label_uses(_parse(expr)):
            names = sorted({_name(selector) for selector in selectors})
            if not names or not quantifier(label in exported.get(name, set()) for name in names):
                missing.append(f"{where}: {label} not on {names}")
    assert missing == []


def test_every_legend_names_labels_its_query_returns(exported: Labels) -> None:
    wrong = []
    for panel in _graphs(_dashboard()):
        for target in panel["targets"]:
            shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            returned = _output_labels(_parse(target["expr"]), exported)
            if shown - returned:
                wrong.append(f"{panel['title']} / {target['refId']}: {sorted(shown - returned)}")
    assert wrong == []


def test_filter_variables_read_exported_labels(exported: Labels) -> None:
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
        assert match, variable["query"]
        selector, label = match.groups()
        (metric,) = _selectors(_parse(selector))
        assert label in exported[_name(metric)], variable["name"]
        assert all(m.name in exported[_name(metric)] for m in metric.matchers.matchers), variable["name"]


# ---------------------------------------------------------------- (d) the chart ships it


def _dashboard_maps(release: Release) -> list[dict[str, Any]]:
    return [cm for cm in release.of_kind("ConfigMap") if cm["metadata"]["name"].endswith("-grafana-dashboard")]


def test_chart_leaves_the_dashboard_out_by_default(rendered: dict[str, Release]) -> None:
    assert rendered["default"].values["grafana"]["dashboards"]["enabled"] is False
    assert _dashboard_maps(rendered["default"]) == []
    assert "Grafana dashboard" not in rendered["default"].notes


def test_enabled_dashboard_is_a_configmap_the_sidecar_picks_up(rendered: dict[str, Release]) -> None:
    release = rendered["everything-on"]  # grafana.dashboards: folder, annotations and extraLabels set
    (configmap,) = _dashboard_maps(release)
    metadata = configmap["metadata"]
    assert metadata["name"] == "tiergate-grafana-dashboard" and metadata["namespace"] == NAMESPACE
    assert metadata["labels"]["grafana_dashboard"] == "1"
    assert metadata["labels"]["release"] == "kube-prometheus-stack"  # extraLabels
    assert metadata["labels"]["app.kubernetes.io/component"] == "grafana-dashboard"
    assert metadata["annotations"] == {"grafana_folder": "LLM serving", "team": "platform"}
    assert list(configmap["data"]) == ["tiergate-gateway.json"]
    assert configmap["data"]["tiergate-gateway.json"] == DASHBOARD.read_text()  # embedded as it is
    kubernetes_validate.validate(configmap, KUBERNETES_VERSION, strict=True)
    assert "tiergate-grafana-dashboard" in release.notes


def test_dashboard_can_go_to_grafanas_namespace_with_another_label(helm: HelmWorker, tmp_path: Path) -> None:
    values = {
        "grafana": {
            "dashboards": {
                "enabled": True,
                "namespace": "monitoring",
                "label": "tiergate.io/dashboard",
                "labelValue": "gateway",
                "folder": "",
            }
        }
    }
    cluster = new_cluster(tmp_path, ("monitoring",))
    try:
        release = install(helm, cluster, values)
    finally:
        cluster.close()
    (configmap,) = _dashboard_maps(release)
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["labels"]["tiergate.io/dashboard"] == "gateway"
    assert "grafana_dashboard" not in configmap["metadata"]["labels"]
    assert "annotations" not in configmap["metadata"]  # no folder, no annotations
    assert json.loads(configmap["data"]["tiergate-gateway.json"]) == _dashboard()
    kubernetes_validate.validate(configmap, KUBERNETES_VERSION, strict=True)


def test_lint_is_clean_with_the_dashboard_on(helm: HelmWorker, tmp_path: Path) -> None:
    findings = {(m.severity, m.path) for m in lint(helm, overlay("everything-on"), tmp_path)}
    assert findings <= {(INFO, "Chart.yaml")}  # Helm's "icon is recommended"
    assert overlay("everything-on")["grafana"]["dashboards"]["enabled"] is True


WRONG_DASHBOARD_VALUES = [
    pytest.param({"enabled": "yes"}, id="enabled-string"),
    pytest.param({"labelValue": 1}, id="labelValue-number"),
    pytest.param({"label": "has space"}, id="label-not-a-label-key"),
    pytest.param({"namespace": "Monitoring"}, id="namespace-not-dns"),
    pytest.param({"extraLabels": {"a": 1}}, id="extraLabels-number"),
    pytest.param({"folders": "TierGate"}, id="misspelt-key"),
]


@pytest.mark.parametrize("values", WRONG_DASHBOARD_VALUES)
def test_values_schema_rejects_wrong_dashboard_values(helm: HelmWorker, tmp_path: Path, values: dict[str, Any]) -> None:
    findings = lint(helm, {"grafana": {"dashboards": values}}, tmp_path)
    assert any(m.severity > INFO for m in findings), "helm lint accepted values the schema should reject"


# ---------------------------------------------------------------- (e) the copy for importing by hand


def test_docs_copy_is_byte_identical_to_the_chart_dashboard() -> None:
    assert DOCS_COPY.read_bytes() == DASHBOARD.read_bytes()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_dashboard.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
