"""The gateway's `/ui` status page, rendered from a `StatusView` (plain data: the server gathers it).

The page is complete without JavaScript; a small inline script only swaps in a fresh `<main>`
every few seconds while the tab is visible. The server may run several workers, each with its
own books, so the page says whose figures it shows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tiergate_gateway.pages.html import (
    DASH,
    Cell,
    Markup,
    element,
    esc,
    figures,
    fmt_int,
    fmt_ms,
    fmt_percent,
    fmt_usd,
    page,
    section,
    table,
)
from tiergate_gateway.pages.status_view import DecisionRow, PolicyRow, ReplicaRow, StatusView, TierRow

_BADGES = {
    "Healthy": "ok",
    "HalfOpen": "warn",
    "CoolingDown": "warn",
    "Starting": "warn",
    "CircuitOpen": "bad",
    "Unavailable": "bad",
    "ScaledToZero": "idle",
}
"""Badge colour class per tier state; the state's name is always written beside the colour."""
# Okabe-Ito green, orange and vermilion: spend well under, near, and at or over the daily limit.
_SPEND_COLOURS = ((80.0, "#009E73"), (100.0, "#E69F00"), (float("inf"), "#D55E00"))
# The refresh fetches the page itself (connect-src 'self'); nothing else may be loaded.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

# Fetches this same URL, swaps in its <main>, and says when it last did; it never throws (a failed
# fetch is reported in the note), and it polls only while the tab is visible.
_REFRESH_SCRIPT = """
(() => {
  "use strict";
  const every = __EVERY_MS__;
  const note = document.getElementById("refresh-note");
  let timer = 0;
  let busy = false;
  const say = (text) => {
    if (note) note.textContent = text + " " + new Date().toISOString().slice(11, 19) + " UTC";
  };
  async function refresh() {
    if (busy || document.visibilityState === "hidden") return;
    busy = true;
    try {
      const response = await fetch(location.href, {
        credentials: "same-origin", headers: {accept: "text/html"}, cache: "no-store",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = parsed.querySelector("main");
      const current = document.querySelector("main");
      if (!fresh || !current) throw new Error("the answer has no <main>");
      current.replaceWith(document.importNode(fresh, true));
      say("updated");
    } catch (error) {
      say("refresh failed");
    } finally {
      busy = false;
    }
  }
  if (note) note.textContent = "refreshes every " + every / 1000 + " s";
  function schedule() {
    clearInterval(timer);
    timer = document.visibilityState === "hidden" ? 0 : setInterval(refresh, every);
  }
  document.addEventListener("visibilitychange", () => {
    schedule();
    if (document.visibilityState !== "hidden") refresh();
  });
  schedule();
})();
"""


def render_status(view: StatusView, *, refresh_seconds: int = 5) -> str:
    """The whole `/ui` page; `refresh_seconds` <= 0 leaves the refresh script out."""
    parts = [
        _header(view),
        _saved_today(view),
        section("Tiers", _tiers(view.tiers), id_="tiers"),
        section("Policies", _policies(view.policies), id_="policies"),
        section("Recent decisions", _decisions(view.decisions), id_="decisions"),
    ]
    if view.problems:
        items = "".join(f"<li>{esc(problem)}</li>" for problem in view.problems)
        parts.append(section("Configuration problems", Markup(f'<ul class="problems">{items}</ul>'), id_="problems"))
    script = _REFRESH_SCRIPT.replace("__EVERY_MS__", str(refresh_seconds * 1000)) if refresh_seconds > 0 else ""
    # The hint is plain text that the script replaces: a <noscript> would stay hidden when only
    # script execution is off (as in a browser's settings or a test), not the parser's scripting.
    note = '<span id="refresh-note" role="status" aria-live="polite">Reload the page to refresh it.</span>'
    footer = f"<footer>{note}</footer>"
    body = Markup(f"<main>{''.join(parts)}</main>{footer}")
    return page("TierGate status", body, script=script, csp=_CSP)


def _utc(at: float, pattern: str) -> str:
    return datetime.fromtimestamp(at, UTC).strftime(pattern)


def _age(seconds: float | None) -> str:
    """A short age: 12 s, 5 min, 3 h 20 min."""
    if seconds is None:
        return "age unknown"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min ago"


def _header(view: StatusView) -> Markup:
    facts = (
        f"Version {esc(view.version)} · worker pid {view.worker_pid} of {view.workers} "
        f"· configuration snapshot {view.snapshot_version}, {esc(_age(view.snapshot_age_seconds))} "
        f'· <time datetime="{_utc(view.now, "%Y-%m-%dT%H:%M:%SZ")}">{_utc(view.now, "%Y-%m-%d %H:%M:%S")} UTC</time>'
    )
    workers = ""
    if view.workers > 1:
        workers = (
            f'<p class="note" id="worker-note">This gateway runs {view.workers} workers, each with its own books: '
            f"the figures below are those of worker {view.worker_pid} alone, and a reload may reach another.</p>"
        )
    return Markup(f'<header><h1>TierGate status</h1><p class="muted" id="facts">{facts}</p>{workers}</header>')


def _saved_today(view: StatusView) -> Markup:
    if not view.policies:
        return Markup('<p class="lead" id="saved-today">Saved today: no policy yet.</p>')
    tiles: list[tuple[str, Cell]] = [("Saved today, all policies", fmt_usd(view.saved_today_usd))]
    tiles += [(f"Saved by {policy.alias}", fmt_usd(policy.saved_usd)) for policy in view.policies]
    return Markup(
        f'<div id="saved-today">{figures(tiles)}<p class="muted">Against sending the same requests to each '
        "policy's baseline (its largest tier), since midnight UTC.</p></div>"
    )


def _badge(state: str) -> Markup:
    return element("span", state, class_=f"badge {_BADGES.get(state, 'idle')}")


def _tiers(tiers: tuple[TierRow, ...]) -> Markup:
    if not tiers:
        return Markup("<p>No tiers configured.</p>")
    headers: list[Cell] = ["Tier", "State", "Detail", "In flight", "Error rate", "TTFT (live vs prior)", "Replicas"]
    rows: list[list[Cell]] = []
    for tier in tiers:
        limit = fmt_int(tier.max_in_flight) if tier.max_in_flight is not None else "no limit"
        about = f"{tier.namespace} · {tier.model} · {tier.size_billions:g}B · {tier.locality}"
        ttft = f"{fmt_ms(tier.ttft_ms)} (prior {fmt_ms(tier.ttft_prior_ms)})"
        rows.append(
            [
                Markup(f'{esc(tier.name)} <span class="sub">{esc(about)}</span>'),
                _badge(tier.state),
                tier.detail or DASH,
                f"{fmt_int(tier.in_flight)} / {limit}",
                fmt_percent(tier.error_rate_percent),
                ttft,
                _replicas(tier.replicas),
            ]
        )
    return table(headers, rows, numeric={3, 4}, wrap={2}, class_="tiers")


def _replicas(replicas: tuple[ReplicaRow, ...]) -> Markup | str:
    if not replicas:
        return DASH
    rows = [
        (
            replica.address,
            fmt_int(replica.in_flight),
            _figure(replica.running),
            _figure(replica.waiting),
            fmt_percent(replica.kv_cache_percent, 0),
            "ejected" if replica.ejected else "no",
        )
        for replica in replicas
    ]
    headers: list[Cell] = ["Address", "In flight", "Running", "Waiting", "KV cache", "Ejected"]
    return table(headers, rows, numeric={1, 2, 3, 4}, class_="nested", scroll=False)


def _figure(value: float | None) -> str:
    return DASH if value is None else f"{value:g}"


def _spend(policy: PolicyRow) -> Markup:
    spent = fmt_usd(policy.spent_usd)
    if policy.daily_limit_usd is None or policy.daily_limit_usd <= 0:
        return Markup(f"{esc(spent)} <span class='muted'>(no daily limit)</span>")
    percent = 100 * policy.spent_usd / policy.daily_limit_usd
    colour = next(colour for bound, colour in _SPEND_COLOURS if percent < bound)
    label = f"{spent} of {fmt_usd(policy.daily_limit_usd)} ({fmt_percent(percent)})"
    filled = min(max(percent, 0.0), 100.0)
    bar = (
        f'<svg class="spend" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{esc(label)}">'
        f'<rect width="100" height="8" rx="2" fill="#e4e7eb"/>'
        f'<rect class="bar" width="{filled:.2f}" height="8" rx="2" fill="{colour}"/></svg>'
    )
    return Markup(f"{bar}{esc(label)}")


def _policies(policies: tuple[PolicyRow, ...]) -> Markup:
    if not policies:
        return Markup("<p>No policies configured.</p>")
    headers: list[Cell] = [
        "Policy",
        "Strategy",
        "Spend today",
        "Requests",
        "Baseline tier",
        "Baseline cost",
        "Cost",
        "Saved",
    ]
    rows: list[list[Cell]] = [
        [
            Markup(f'{esc(policy.alias)} <span class="sub">{esc(policy.namespace)}/{esc(policy.name)}</span>'),
            policy.strategy,
            _spend(policy),
            fmt_int(policy.requests),
            policy.baseline_tier or DASH,
            fmt_usd(policy.baseline_usd),
            fmt_usd(policy.cost_usd),
            fmt_usd(policy.saved_usd),
        ]
        for policy in policies
    ]
    return table(headers, rows, numeric={3, 5, 6, 7}, class_="policies")


def _decisions(decisions: tuple[DecisionRow, ...]) -> Markup:
    if not decisions:
        return Markup("<p>No requests yet.</p>")
    headers: list[Cell] = [
        "Time (UTC)", "Request", "Policy", "Task", "Tier", "Status", "Attempts", "Latency ms", "Cost", "Reason",
    ]  # fmt: skip
    rows: list[list[Cell]] = [
        [
            _utc(decision.at, "%H:%M:%S"),
            decision.request_id,
            decision.policy,
            decision.task,
            decision.tier or "none",
            str(decision.status),
            fmt_int(decision.attempts),
            f"{decision.latency_ms:,.0f}",
            fmt_usd(decision.cost_usd),
            decision.reason or DASH,
        ]
        for decision in decisions
    ]
    classes: list[str | None] = [None if decision.status < 400 else "failed" for decision in decisions]
    return table(headers, rows, numeric={5, 6, 7, 8}, row_classes=classes, class_="decisions")
