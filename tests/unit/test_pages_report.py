"""The replay report's HTML: rows and figures worked out by hand, escaping, and the empty replay."""

from __future__ import annotations

import copy
import html
import re

import pytest

from page_samples import (
    HOSTILE,
    empty_replay_document,
    hostile_replay_document,
    replay_document,
    table_rows,
    validate_replay_document,
)
from tiergate_gateway.pages.html import fmt_ms, fmt_usd
from tiergate_gateway.pages.report import BAD_LINES_SHOWN, render_report


def _figure(page: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart" id="{chart_id}">.*?</figure>', page, re.DOTALL)
    assert match, chart_id
    return match.group(0)


@pytest.mark.parametrize("sample", [replay_document, empty_replay_document, hostile_replay_document])
def test_samples_follow_the_replay_schema(sample: object) -> None:
    validate_replay_document(sample())  # type: ignore[operator]


def test_scenario_table_has_one_row_per_scenario_with_its_figures() -> None:
    rows = table_rows(render_report(replay_document()), "scenarios")
    assert [cells[0] for _, cells in rows] == [
        "chat-auto verdict", "code-fast", "large baseline", "medium best single tier", "small",
    ]  # fmt: skip
    assert rows[0][1] == [
        "chat-auto verdict", "policy", "Cost", "100", "98", "1", "1", "3",
        "$0.42", "$1.58 (79.0%)", "180 ms", "650 ms", "900 ms", "2,400 ms",
    ]  # fmt: skip
    assert rows[4][1][1:10] == ["single", "—", "100", "80", "20", "0", "0", "$0.10", "$0.00"]  # no saving percent


def test_baseline_and_best_single_tier_rows_are_marked() -> None:
    rows = table_rows(render_report(replay_document()), "scenarios")
    assert [row_class for row_class, _ in rows] == [None, None, "baseline", "best", None]


def test_headline_gives_the_verdict_and_the_key_figures() -> None:
    document = replay_document()
    page = render_report(document)
    assert f'data-kind="Route">{document["verdict"]["text"]}</p>' in page
    tiles = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page.split("</header>")[0])
    assert tiles == [
        ("Policy chat-auto", "$0.42"),
        ("Baseline: all on large", "$2.00"),
        ("Saving", "79.0% ($1.58)"),
        ("Best single tier: medium", "$0.80"),
        ("Requests replayed", "100"),
    ]


def test_without_a_verdict_policy_the_cheapest_policy_is_the_headline() -> None:
    document = replay_document()
    document["verdict"] = {"kind": "OneModelIsEnough", "policy": None, "text": "medium alone would do."}
    assert "<dt>Policy chat-auto</dt><dd>$0.42</dd>" in render_report(document)  # the larger saving


def test_cost_chart_compares_policies_baseline_and_best_single_tier() -> None:
    chart = _figure(render_report(replay_document()), "chart-cost")
    assert chart.count('class="bar"') == 4
    labels = re.findall(r"<title>([^<]*): [^<]*</title></rect>", chart)
    assert labels == ["chat-auto (policy)", "code-fast (policy)", "large (baseline)", "medium (best single tier)"]
    assert ">$0.42</text>" in chart and ">$2.00</text>" in chart  # numbers on the bars
    assert "<desc " in chart and "<details><summary>Numbers</summary>" in chart


def test_tier_share_has_a_row_per_task_with_shares_of_that_task() -> None:
    chart = _figure(render_report(replay_document()), "chart-share-0")
    body = chart.split("<tbody>")[1]
    assert re.findall(r'<th scope="row">([^<]*)</th>', body) == ["All tasks", "chat", "summarise", "code"]
    assert "<title>chat: small 50 (90.9%)</title>" in chart  # 50 of chat's 55
    assert 'class="legend"' in chart and chart.count("<li>") == 3


def test_ttft_histograms_for_policies_and_baseline() -> None:
    page = render_report(replay_document())
    chart = _figure(page, "chart-ttft-2")
    assert "<figcaption>large (baseline)</figcaption>" in chart
    assert chart.count('class="bar"') == 5  # six buckets, the first empty
    assert "<title>≤1k ms: 40 (40.0%)</title>" in chart
    assert "&gt;2.5k" in chart  # the last bucket counts the rest
    assert 'id="chart-ttft-3"' not in page  # not for the best single tier


def test_cost_over_time_draws_a_line_per_policy_and_the_baseline() -> None:
    chart = _figure(render_report(replay_document()), "chart-cost-time")
    assert chart.count('class="series"') == 3 and chart.count("stroke-dasharray") == 1
    assert "2026-12-04 10:00 UTC" in chart


def test_cost_over_time_is_left_out_with_a_sentence_without_timestamps() -> None:
    document = replay_document()
    for scenario in document["scenarios"]:
        scenario["cost_over_time"] = []
    page = render_report(document)
    assert "chart-cost-time" not in page and "no timestamps" in page


def test_bad_lines_are_counted_by_kind_and_listed_with_file_and_line() -> None:
    page = render_report(replay_document())
    assert [cells for _, cells in table_rows(page, "bad-kinds")] == [["InvalidJSON", "2"], ["InvalidField", "1"]]
    listed = [cells for _, cells in table_rows(page, "bad-lines")]
    assert listed[0] == ["decisions-1.jsonl:7", "InvalidJSON", "Expecting value: column 1"]
    assert listed[1][2] == f"unexpected {HOSTILE}"  # as text


def test_no_more_than_200_bad_lines_are_listed() -> None:
    document = replay_document()
    line = {"file": "big.jsonl", "kind": "InvalidJSON", "detail": "x"}
    document["bad_lines"] = {
        "by_kind": {"InvalidJSON": 5000},
        "listed": [{**line, "line": n} for n in range(1, 1001)],
    }
    validate_replay_document(document)
    page = render_report(document)
    assert len(table_rows(page, "bad-lines")) == BAD_LINES_SHOWN == 200
    assert "The first 200 of 5,000 bad lines" in page


def test_script_in_a_detail_or_tier_name_comes_out_escaped() -> None:
    page = render_report(hostile_replay_document())
    assert "<script" not in page  # the report has no script of its own
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert page.count(escaped) >= 3  # the bad line, the legend, the tier-share tooltip and table


def test_every_string_field_is_escaped() -> None:
    document = copy.deepcopy(replay_document())
    document["config_dir"] = HOSTILE
    document["logs"] = [HOSTILE]
    document["verdict"]["text"] = HOSTILE
    document["scenarios"][1]["name"] = HOSTILE
    document["tasks"][HOSTILE] = 1
    document["live"]["url"] = HOSTILE
    assert "<script" not in render_report(document)


def test_the_report_loads_nothing_from_elsewhere() -> None:
    page = render_report(replay_document())
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<link|<img|<iframe""", page, re.IGNORECASE)
    assert "Content-Security-Policy" in page and "default-src 'none'" in html.unescape(page)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_live_section_compares_measured_and_estimated_latency() -> None:
    page = render_report(replay_document())
    assert [cells for _, cells in table_rows(page, "live-latency")] == [
        ["Time to first token", "210 ms", "180 ms", "720 ms", "650 ms"],
        ["Latency", "950 ms", "900 ms", "2,600 ms", "2,400 ms"],
    ]
    assert "<dt>Errors</dt><dd>3</dd>" in page and "<dt>Agreement with the estimate</dt><dd>91.4%</dd>" in page
    document = replay_document()
    document["live"] = None
    assert 'id="live"' not in render_report(document)


def test_an_empty_replay_renders_its_verdict_without_charts() -> None:
    document = empty_replay_document()
    page = render_report(document)
    assert document["verdict"]["text"] in page and 'data-kind="NoRequests"' in page
    assert "<svg" not in page and "No scenarios" in page and "None: every line held a request." in page
    assert "<dt>Requests replayed</dt><dd>0</dd>" in page


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "$0.00"), (0.42, "$0.42"), (2, "$2.00"), (1234.5, "$1,234.50"), (0.0021, "$0.0021"),
     (0.000123, "$0.000123"), (0.123456, "$0.123"), (-0.1, "-$0.10"), (None, "—")],
)  # fmt: skip
def test_dollars_show_three_significant_digits_of_small_sums(value: float | None, text: str) -> None:
    assert fmt_usd(value) == text


def test_milliseconds_are_whole_above_ten() -> None:
    assert (fmt_ms(2400.4), fmt_ms(9.25), fmt_ms(None)) == ("2,400 ms", "9.2 ms", "—")
