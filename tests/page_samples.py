"""Hand-made inputs for the pages (the replay report and the /ui status page), shared by unit and browser tests.

The figures are chosen so that tests can check them by hand: e.g. the policy `chat-auto` costs
$0.42 against the baseline's $2.00, a saving of $1.58 (79.0%).
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tiergate_gateway.pages.status_view import DecisionRow, PolicyRow, ReplicaRow, StatusView, TierRow

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "schemas" / "replay-v1.schema.json"
BOUNDS_MS = [100, 250, 500, 1000, 2500]
HOSTILE = "<script>alert('x')</script>"
"""Text that must come out of every page escaped."""


def validate_replay_document(document: dict[str, Any]) -> None:
    """Raise if the document does not follow replay-v1.schema.json (so the samples stay honest)."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)


def _percentiles(p50: float | None, p95: float | None) -> dict[str, float | None]:
    return {"p50": p50, "p95": p95}


def _scenario(name: str, kind: str, **fields: Any) -> dict[str, Any]:
    scenario: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "strategy": None,
        "requests": 100,
        "served": 100,
        "no_capable_tier": 0,
        "rejected": 0,
        "downgraded": 0,
        "relaxed": 0,
        "cost_usd": 0.0,
        "saving_usd": 0.0,
        "saving_percent": 0.0,
        "ttft_ms": _percentiles(None, None),
        "latency_ms": _percentiles(None, None),
        "ttft_histogram": [0, 0, 0, 0, 0, 0],
        "tiers": {},
        "by_task": {},
        "cost_over_time": [],
    }
    scenario.update(fields)
    return scenario


def _hours(*costs: float) -> list[dict[str, Any]]:
    return [{"start": f"2026-12-04T{9 + hour:02d}:00:00Z", "cost_usd": cost} for hour, cost in enumerate(costs)]


def replay_document() -> dict[str, Any]:
    """Two policies and three single tiers over 100 requests, with bad lines and a live run."""
    chat_auto = _scenario(
        "chat-auto",
        "policy",
        strategy="Cost",
        served=98,
        no_capable_tier=1,
        rejected=1,
        downgraded=3,
        cost_usd=0.42,
        saving_usd=1.58,
        saving_percent=79.0,
        ttft_ms=_percentiles(180.0, 650.0),
        latency_ms=_percentiles(900.0, 2400.0),
        ttft_histogram=[10, 40, 30, 12, 5, 1],
        tiers={
            "small": {"requests": 60, "share_percent": 61.2, "cost_usd": 0.05},
            "medium": {"requests": 30, "share_percent": 30.6, "cost_usd": 0.12},
            "large": {"requests": 8, "share_percent": 8.2, "cost_usd": 0.25},
        },
        by_task={
            "chat": {"small": 50, "medium": 5},
            "summarise": {"small": 10, "medium": 10, "large": 3},
            "code": {"medium": 15, "large": 5},
        },
        cost_over_time=_hours(0.1, 0.2, 0.12),
    )
    code_fast = _scenario(
        "code-fast",
        "policy",
        strategy="Latency",
        cost_usd=0.9,
        saving_usd=1.1,
        saving_percent=55.0,
        ttft_ms=_percentiles(120.0, 400.0),
        latency_ms=_percentiles(700.0, 1800.0),
        ttft_histogram=[30, 40, 20, 8, 2, 0],
        tiers={
            "medium": {"requests": 70, "share_percent": 70.0, "cost_usd": 0.4},
            "large": {"requests": 30, "share_percent": 30.0, "cost_usd": 0.5},
        },
        by_task={"chat": {"medium": 56}, "summarise": {"medium": 14, "large": 9}, "code": {"large": 21}},
        cost_over_time=_hours(0.3, 0.4, 0.2),
    )
    large = _scenario(
        "large",
        "single",
        cost_usd=2.0,
        ttft_ms=_percentiles(450.0, 1900.0),
        latency_ms=_percentiles(2100.0, 5200.0),
        ttft_histogram=[0, 5, 25, 40, 25, 5],
        tiers={"large": {"requests": 100, "share_percent": 100.0, "cost_usd": 2.0}},
        by_task={"chat": {"large": 56}, "summarise": {"large": 23}, "code": {"large": 21}},
        cost_over_time=_hours(0.6, 0.8, 0.6),
    )
    medium = _scenario(
        "medium",
        "single",
        cost_usd=0.8,
        saving_usd=1.2,
        saving_percent=60.0,
        ttft_ms=_percentiles(200.0, 800.0),
        latency_ms=_percentiles(1000.0, 2600.0),
        ttft_histogram=[5, 35, 35, 15, 8, 2],
        tiers={"medium": {"requests": 100, "share_percent": 100.0, "cost_usd": 0.8}},
        cost_over_time=_hours(0.25, 0.3, 0.25),
    )
    small = _scenario(
        "small",
        "single",
        served=80,
        no_capable_tier=20,
        cost_usd=0.1,
        saving_usd=0.0,
        saving_percent=None,
        ttft_ms=_percentiles(90.0, 300.0),
        latency_ms=_percentiles(500.0, 1500.0),
        ttft_histogram=[50, 25, 5, 0, 0, 0],
        tiers={"small": {"requests": 80, "share_percent": 80.0, "cost_usd": 0.1}},
    )
    return {
        "schema_version": 1,
        "tiergate_version": "0.1.0",
        "config_dir": "/etc/tiergate",
        "logs": ["decisions-1.jsonl", "decisions-2.jsonl"],
        "requests": {
            "lines": 103,
            "replayed": 100,
            "bad_lines": 3,
            "with_usage": 90,
            "with_timestamp": 100,
            "without_content": 4,
            "first_timestamp": "2026-12-04T09:00:05Z",
            "last_timestamp": "2026-12-04T11:59:40Z",
        },
        "bad_lines": {
            "by_kind": {"InvalidJSON": 2, "InvalidField": 1},
            "listed": [
                {"file": "decisions-1.jsonl", "line": 7, "kind": "InvalidJSON", "detail": "Expecting value: column 1"},
                {"file": "decisions-1.jsonl", "line": 42, "kind": "InvalidJSON", "detail": f"unexpected {HOSTILE}"},
                {
                    "file": "decisions-2.jsonl",
                    "line": 3,
                    "kind": "InvalidField",
                    "detail": "max_tokens: not an integer",
                },
            ],
        },
        "tasks": {"chat": 56, "summarise": 23, "code": 21},
        "baseline": "large",
        "best_single": "medium",
        "ttft_histogram_bounds_ms": BOUNDS_MS,
        "scenarios": [chat_auto, code_fast, large, medium, small],
        "verdict": {
            "kind": "Route",
            "policy": "chat-auto",
            "text": "Route with chat-auto: $0.42 instead of $2.00 with everything on large (79.0% less).",
        },
        "live": {
            "url": "http://localhost:8080/v1",
            "policy": "chat-auto",
            "rate_per_second": 5.0,
            "sent": 96,
            "skipped_without_content": 4,
            "answered": 93,
            "errors": {"503": 2, "connection": 1},
            "fallbacks": 6,
            "fallback_reasons": {"CircuitOpen": 4, "RateLimited": 2},
            "agreement_percent": 91.4,
            "tiers": {"small": 55, "medium": 30, "large": 8},
            "ttft_ms": _percentiles(210.0, 720.0),
            "latency_ms": _percentiles(950.0, 2600.0),
            "estimated_ttft_ms": _percentiles(180.0, 650.0),
            "estimated_latency_ms": _percentiles(900.0, 2400.0),
        },
    }


def hostile_replay_document() -> dict[str, Any]:
    """The sample with a tier named like a script (config is user data too)."""
    document = copy.deepcopy(replay_document())
    policy = document["scenarios"][0]
    policy["tiers"][HOSTILE] = policy["tiers"].pop("small")
    policy["by_task"]["chat"] = {HOSTILE: 50, "medium": 5}
    return document


def empty_replay_document() -> dict[str, Any]:
    """What replay prints for an empty log: no requests, no scenarios, verdict NoRequests."""
    return {
        "schema_version": 1,
        "tiergate_version": "0.1.0",
        "config_dir": "/etc/tiergate",
        "logs": ["empty.jsonl"],
        "requests": {
            "lines": 0,
            "replayed": 0,
            "bad_lines": 0,
            "with_usage": 0,
            "with_timestamp": 0,
            "without_content": 0,
            "first_timestamp": None,
            "last_timestamp": None,
        },
        "bad_lines": {"by_kind": {}, "listed": []},
        "tasks": {},
        "baseline": None,
        "best_single": None,
        "ttft_histogram_bounds_ms": BOUNDS_MS,
        "scenarios": [],
        "verdict": {"kind": "NoRequests", "policy": None, "text": "The log holds no requests: nothing to replay."},
        "live": None,
    }


NOW = 1_764_944_790.0
"""2025-12-05 14:26:30 UTC."""


def status_view(**overrides: Any) -> StatusView:
    """A gateway with three tiers, two policies and three recent decisions."""
    tiers = (
        TierRow(
            name="small",
            namespace="llm",
            model="qwen2.5-1.5b",
            size_billions=1.5,
            locality="Local",
            state="Healthy",
            detail="",
            in_flight=3,
            max_in_flight=16,
            error_rate_percent=0.5,
            ttft_ms=120.0,
            ttft_prior_ms=150.0,
            replicas=(
                ReplicaRow("10.0.0.11:8000", 2, 2.0, 0.0, 41.5, False),
                ReplicaRow("10.0.0.12:8000", 1, None, None, None, True),
            ),
        ),
        TierRow(
            name="large",
            namespace="llm",
            model="llama-3.1-70b",
            size_billions=70.0,
            locality="Local",
            state="CircuitOpen",
            detail="5 consecutive failures; half-open at 14:27:00",
            in_flight=0,
            max_in_flight=None,
            error_rate_percent=38.0,
            ttft_ms=None,
            ttft_prior_ms=900.0,
        ),
        TierRow(
            name="frontier",
            namespace="llm",
            model="gpt-4o",
            size_billions=200.0,
            locality="Remote",
            state="ScaledToZero",
            detail="",
            in_flight=0,
            max_in_flight=64,
            error_rate_percent=0.0,
            ttft_ms=None,
            ttft_prior_ms=600.0,
        ),
    )
    policies = (
        PolicyRow("chat-auto", "chat", "llm", "Cost", 1.25, 10.0, 240, "large", 6.0, 1.25),
        PolicyRow("code-fast", "code", "llm", "Latency", 0.5, None, 30, "frontier", 0.4, 0.5),
    )
    decisions = (
        DecisionRow(NOW - 2, "req-0003", "chat-auto", "chat", "small", 200, 1, 412.0, 0.000123, ""),
        DecisionRow(NOW - 5, "req-0002", "chat-auto", "code", "medium", 200, 2, 1530.0, 0.0021, "CircuitOpen"),
        DecisionRow(NOW - 9, "req-0001", "code-fast", "code", "", 503, 3, 30012.0, None, "NoTierAvailable"),
    )
    fields: dict[str, Any] = {
        "now": NOW,
        "version": "0.1.0",
        "worker_pid": 4242,
        "workers": 1,
        "snapshot_version": 7,
        "snapshot_age_seconds": 12.0,
        "tiers": tiers,
        "policies": policies,
        "decisions": decisions,
        "problems": (),
    }
    fields.update(overrides)
    return StatusView(**fields)


def empty_status_view() -> StatusView:
    """A gateway that has loaded no configuration yet."""
    return StatusView(
        now=NOW,
        version="0.1.0",
        worker_pid=1,
        workers=1,
        snapshot_version=0,
        snapshot_age_seconds=None,
        tiers=(),
        policies=(),
        decisions=(),
    )


class _TableReader(HTMLParser):
    """Collects the body rows of the first table with a given class, as lists of cell texts."""

    def __init__(self, table_class: str) -> None:
        super().__init__()
        self.table_class = table_class
        self.depth = 0  # tables open inside the wanted one (0: not inside it)
        self.in_body = False
        self.rows: list[tuple[str | None, list[str]]] = []
        self.cell: list[str] | None = None
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and not self.done:
            if self.depth:
                self.depth += 1
            elif self.table_class in classes:
                self.depth = 1
        elif self.depth == 1 and tag == "tbody":
            self.in_body = True
        elif self.depth == 1 and self.in_body and tag == "tr":
            self.rows.append((dict(attrs).get("class"), []))
        elif self.depth == 1 and self.in_body and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
            self.done = self.depth == 0
        elif self.depth == 1 and tag in ("td", "th") and self.cell is not None:
            self.rows[-1][1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(page: str, table_class: str) -> list[tuple[str | None, list[str]]]:
    """(row class, cell texts) of each body row of the first `<table class=table_class>` (nested tables skipped)."""
    reader = _TableReader(table_class)
    reader.feed(page)
    return reader.rows
