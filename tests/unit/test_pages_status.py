"""The /ui status page's HTML, from hand-made views: figures, states, escaping, the refresh script."""

from __future__ import annotations

import dataclasses

from page_samples import HOSTILE, NOW, empty_status_view, status_view, table_rows
from tiergate_gateway.pages.status import render_status
from tiergate_gateway.pages.status_view import DecisionRow, PolicyRow


def test_a_gateway_without_configuration_renders_every_section_empty() -> None:
    page = render_status(empty_status_view())
    assert "No tiers configured." in page and "No policies configured." in page and "No requests yet." in page
    assert "Saved today: no policy yet." in page and "age unknown" in page
    assert "<main>" in page and page.count("<table") == 0 and 'id="problems"' not in page


def test_header_names_the_version_worker_snapshot_and_time() -> None:
    page = render_status(status_view())
    assert "Version 0.1.0 · worker pid 4242 of 1 · configuration snapshot 7, 12 s ago" in page
    assert '<time datetime="2025-12-05T14:26:30Z">2025-12-05 14:26:30 UTC</time>' in page
    assert 'id="worker-note"' not in page


def test_with_several_workers_the_page_says_the_figures_are_this_workers() -> None:
    page = render_status(status_view(workers=4))
    assert "This gateway runs 4 workers" in page and "those of worker 4242 alone" in page


def test_saved_today_sums_the_policies() -> None:
    page = render_status(status_view())
    assert "<dt>Saved today, all policies</dt><dd>$4.65</dd>" in page  # (6.00 - 1.25) + (0.40 - 0.50)
    assert "<dt>Saved by chat-auto</dt><dd>$4.75</dd>" in page and "<dt>Saved by code-fast</dt><dd>-$0.10</dd>" in page


def test_tiers_show_state_badges_limits_error_rates_and_latency_against_the_prior() -> None:
    page = render_status(status_view())
    rows = [cells for _, cells in table_rows(page, "tiers")]
    assert [row[:6] for row in rows] == [
        ["small llm · qwen2.5-1.5b · 1.5B · Local", "Healthy", "—", "3 / 16", "0.5%", "120 ms (prior 150 ms)"],
        [
            "large llm · llama-3.1-70b · 70B · Local", "CircuitOpen", "5 consecutive failures; half-open at 14:27:00",
            "0 / no limit", "38.0%", "— (prior 900 ms)",
        ],
        ["frontier llm · gpt-4o · 200B · Remote", "ScaledToZero", "—", "0 / 64", "0.0%", "— (prior 600 ms)"],
    ]  # fmt: skip
    assert '<span class="badge ok">Healthy</span>' in page and '<span class="badge bad">CircuitOpen</span>' in page
    assert '<span class="badge idle">ScaledToZero</span>' in page


def test_replicas_are_listed_inside_their_tier() -> None:
    rows = table_rows(render_status(status_view()), "nested")
    assert [cells for _, cells in rows] == [
        ["10.0.0.11:8000", "2", "2", "0", "42%", "no"],
        ["10.0.0.12:8000", "1", "—", "—", "—", "ejected"],
    ]


def test_policies_show_spend_against_the_daily_limit() -> None:
    page = render_status(status_view())
    rows = [cells for _, cells in table_rows(page, "policies")]
    assert rows == [
        ["chat-auto llm/chat", "Cost", "$1.25 of $10.00 (12.5%)", "240", "large", "$6.00", "$1.25", "$4.75"],
        ["code-fast llm/code", "Latency", "$0.50 (no daily limit)", "30", "frontier", "$0.40", "$0.50", "-$0.10"],
    ]
    assert '<rect class="bar" width="12.50" height="8" rx="2" fill="#009E73"/>' in page


def test_spend_over_the_limit_fills_the_bar_in_vermilion() -> None:
    policy = PolicyRow("chat-auto", "chat", "llm", "Cost", 12.0, 10.0, 1, "large", 20.0, 12.0)
    page = render_status(status_view(policies=(policy,)))
    assert '<rect class="bar" width="100.00" height="8" rx="2" fill="#D55E00"/>' in page
    assert "$12.00 of $10.00 (120.0%)" in page


def test_decisions_show_utc_time_and_what_happened() -> None:
    rows = table_rows(render_status(status_view()), "decisions")
    assert rows[0] == (
        None,
        ["14:26:28", "req-0003", "chat-auto", "chat", "small", "200", "1", "412", "$0.000123", "—"],
    )
    assert rows[2] == (
        "failed",
        ["14:26:21", "req-0001", "code-fast", "code", "none", "503", "3", "30,012", "—", "NoTierAvailable"],
    )


def test_everything_from_the_view_is_escaped() -> None:
    view = status_view(
        version=HOSTILE,
        problems=(HOSTILE,),
        tiers=tuple(dataclasses.replace(t, name=HOSTILE, detail=HOSTILE, model=HOSTILE) for t in status_view().tiers),
        policies=(PolicyRow(HOSTILE, HOSTILE, HOSTILE, HOSTILE, 1.0, 2.0, 1, HOSTILE, 1.0, 1.0),),
        decisions=(DecisionRow(NOW, HOSTILE, HOSTILE, HOSTILE, HOSTILE, 500, 1, 1.0, None, HOSTILE),),
    )
    page = render_status(view)
    assert page.count("<script") == 1  # the page's own refresh script
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert f"<li>{HOSTILE}" not in page


def test_the_refresh_script_polls_the_same_url_only_while_visible() -> None:
    page = render_status(status_view(), refresh_seconds=7)
    script = page.split("<script>")[1].split("</script>")[0]
    assert "const every = 7000;" in script
    for piece in ("fetch(location.href", 'credentials: "same-origin"', 'accept: "text/html"', "DOMParser",
                  "visibilityState", 'querySelector("main")', "refresh failed"):  # fmt: skip
        assert piece in script
    assert "connect-src &#x27;self&#x27;" in page


def test_without_a_refresh_interval_the_page_has_no_script() -> None:
    page = render_status(status_view(), refresh_seconds=0)
    assert "<script" not in page and "Reload the page to refresh it." in page
