"""The terminal rendering of a replay document (pure): the table a person reads first."""

from __future__ import annotations

from typing import Any


def _money(value: float) -> str:
    return f"{value:,.2f}" if value >= 100 else f"{value:.4f}" if value >= 0.0001 else f"{value:.6f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{-value or 0.0:+.1f}%"  # `or`: no "-0.0%"


def _top_tiers(scenario: dict[str, Any], count: int = 3) -> str:
    shares = [f"{name} {t['share_percent']:.0f}%" for name, t in list(scenario["tiers"].items())[:count]]
    more = len(scenario["tiers"]) - count
    return ", ".join(shares) + (f", +{more} more" if more > 0 else "") if shares else "-"


def format_document(document: dict[str, Any], report_path: str | None = None) -> str:
    """The summary table, where each task goes, bad lines and the verdict."""
    requests = document["requests"]
    logs = document["logs"]
    count = requests["replayed"]
    lines = [
        f"tiergate replay: {count:,} request{'' if count == 1 else 's'} from {len(logs)} log"
        f"{'' if len(logs) == 1 else 's'} ({requests['bad_lines']:,} bad lines), config {document['config_dir']}",
        f"  usage logged for {requests['with_usage']:,}; estimated for the rest"
        + (f"; {requests['without_content']:,} logged without content" if requests["without_content"] else ""),
    ]
    baseline, best = document["baseline"], document["best_single"]
    shown = [s for s in document["scenarios"] if s["kind"] == "policy" or s["name"] in (baseline, best)]
    header = (
        f"{'scenario':<26} {'cost USD':>12} {'vs baseline':>11} {'served':>8} {'no tier':>7} "
        f"{'TTFT p50/p95 ms':>16}  tiers"
    )
    lines += ["", header, "-" * len(header)]
    for scenario in shown:
        label = scenario["name"]
        if scenario["kind"] == "policy":
            label += f" ({scenario['strategy']})"
        else:
            marks = [m for m, n in (("baseline", baseline), ("best single", best)) if scenario["name"] == n]
            label += f" ({', '.join(marks)})"
        ttft = scenario["ttft_ms"]
        lines.append(
            f"{label:<26} {_money(scenario['cost_usd']):>12} {_percent(scenario['saving_percent']):>11} "
            f"{scenario['served']:>8,} {scenario['no_capable_tier']:>7,} "
            f"{_ms(ttft['p50']) + ' / ' + _ms(ttft['p95']):>16}  {_top_tiers(scenario)}"
        )
    tasks = document["tasks"]
    total = sum(tasks.values()) or 1
    if tasks:
        lines += ["", "tasks: " + ", ".join(f"{task} {100 * n / total:.0f}%" for task, n in tasks.items())]
        for scenario in (s for s in document["scenarios"] if s["kind"] == "policy"):
            routes = []
            for task, tiers in scenario["by_task"].items():
                name, count = next(iter(tiers.items()))
                share = 100 * count / sum(tiers.values())
                routes.append(f"{task} -> {name}" + ("" if share == 100 else f" {share:.0f}%"))
            lines.append(f"  {scenario['name']}: " + "; ".join(routes))
    bad = document["bad_lines"]
    if bad["by_kind"]:
        lines += ["", "bad lines: " + ", ".join(f"{kind} {n:,}" for kind, n in bad["by_kind"].items())]
        for item in bad["listed"][:10]:
            lines.append(f"  {item['file']}:{item['line']}: {item['kind']}: {item['detail']}")
        if requests["bad_lines"] > 10:
            lines.append(f"  ... {requests['bad_lines'] - 10:,} more (all of them in --json)")
    live = document.get("live")
    if live:
        lines += ["", _format_live(live)]
    lines += ["", document["verdict"]["text"]]
    if report_path:
        lines.append(f"report: {report_path}")
    return "\n".join(lines)


def _format_live(live: dict[str, Any]) -> str:
    ttft, est = live["ttft_ms"], live["estimated_ttft_ms"]
    latency, est_latency = live["latency_ms"], live["estimated_latency_ms"]
    errors = ", ".join(f"{k}: {v}" for k, v in live["errors"].items()) or "none"
    agreement = live["agreement_percent"]
    return "\n".join(
        [
            f"live against {live['url']} at {live['rate_per_second']:g}/s: {live['answered']:,} of {live['sent']:,}"
            f" answered, errors {errors}, {live['fallbacks']:,} fell back"
            + (
                f", {live['skipped_without_content']:,} skipped (no content)" if live["skipped_without_content"] else ""
            ),
            f"  TTFT p50/p95 ms measured {_ms(ttft['p50'])} / {_ms(ttft['p95'])}, "
            f"estimated {_ms(est['p50'])} / {_ms(est['p95'])}",
            f"  latency p50/p95 ms measured {_ms(latency['p50'])} / {_ms(latency['p95'])}, "
            f"estimated {_ms(est_latency['p50'])} / {_ms(est_latency['p95'])}",
            "  answered by the estimated tier: " + ("-" if agreement is None else f"{agreement:.1f}%"),
        ]
    )
