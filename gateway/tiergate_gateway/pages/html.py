"""HTML primitives shared by the pages: escaping, number formats, tables and the page skeleton.

Every page is one self-contained document (inline CSS, no external URL), so it can be saved,
mailed or opened from disk. Text is escaped here by default: only values already wrapped in
`Markup` (built by these helpers) pass through unchanged, which keeps user data from the logs
(tier names, bad-line details, request ids) from ever becoming markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Iterable, Sequence

# Okabe-Ito: distinguishable with the common colour-vision deficiencies (black is left out: it is
# the text colour). Colour is never the only carrier: bars carry numbers, legends carry names.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
"""Series colours, in the order they are handed out."""

DASH = "—"
"""Shown where a figure is unknown (None), so an empty cell never reads as zero."""


class Markup(str):
    """Text that is already HTML (built by these helpers) and must not be escaped again."""

    __slots__ = ()


Cell = str | Markup
"""A table cell: plain text (escaped) or Markup (inserted as is)."""


def esc(value: object) -> Markup:
    """Escape anything for element text and quoted attributes; Markup passes through."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Cell], separator: str = "") -> Markup:
    """Join fragments, escaping those that are plain text."""
    return Markup(esc(separator).join(esc(part) for part in parts))


def element(tag: str, content: Cell = "", /, **attributes: str | None) -> Markup:
    """One element with escaped attributes (`class_` for `class`; None leaves an attribute out)."""
    attrs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{esc(value)}"'
        for name, value in attributes.items()
        if value is not None
    )
    return Markup(f"<{tag}{attrs}>{esc(content)}</{tag}>")


def fmt_int(value: int | None) -> str:
    """A count with thousands separators."""
    return DASH if value is None else f"{value:,}"


def fmt_usd(value: float | None) -> str:
    """Dollars with enough decimals to show three significant digits of small sums (9 at most)."""
    if value is None or not math.isfinite(value):
        return DASH
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if amount == 0:
        return "$0.00"
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    decimals = min(9, max(2, 2 - math.floor(math.log10(amount))))
    digits = f"{amount:.{decimals}f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    return f"{sign}${whole}.{fraction.ljust(2, '0')}"


def fmt_ms(value: float | None) -> str:
    """Milliseconds, whole above 10 ms (finer precision would be noise)."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    """A percentage (the value is already in percent)."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.{digits}f}%"


def table(
    headers: Sequence[Cell],
    rows: Iterable[Sequence[Cell]],
    *,
    caption: Cell | None = None,
    numeric: Collection[int] = (),
    wrap: Collection[int] = (),
    row_classes: Sequence[str | None] | None = None,
    class_: str | None = None,
    scroll: bool = True,
) -> Markup:
    """A table inside its own horizontal scroller, so a wide table never widens the page.

    `numeric` lists the columns to right-align, `wrap` those holding long free text (broken
    anywhere rather than widening the table); the first cell of each row is a row header.
    `scroll=False` leaves the scroller out, for a table nested in another one's cell.
    """
    head = "".join(
        str(element("th", header, scope="col", class_="num" if index in numeric else None))
        for index, header in enumerate(headers)
    )
    body: list[str] = []
    for row_index, row in enumerate(rows):
        cells = []
        for index, cell in enumerate(row):
            cls = "num" if index in numeric else ("wrap" if index in wrap else None)
            cells.append(
                element("th", cell, scope="row", class_=cls) if index == 0 else element("td", cell, class_=cls)
            )
        row_class = row_classes[row_index] if row_classes is not None and row_index < len(row_classes) else None
        body.append(str(element("tr", Markup("".join(cells)), class_=row_class)))
    caption_html = element("caption", caption) if caption else ""
    rows_html = "".join(body)
    markup = (
        f"<table{_class_attr(class_)}>{caption_html}<thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"
    )
    return Markup(f'<div class="scroll" tabindex="0">{markup}</div>' if scroll else markup)


def _class_attr(class_: str | None) -> str:
    return f' class="{esc(class_)}"' if class_ else ""


def section(heading: str, content: Cell, *, id_: str) -> Markup:
    """A titled section, linkable by its id."""
    return Markup(
        f'<section id="{esc(id_)}" aria-labelledby="{esc(id_)}-h">'
        f'<h2 id="{esc(id_)}-h">{esc(heading)}</h2>{esc(content)}</section>'
    )


def figures(items: Iterable[tuple[str, Cell]]) -> Markup:
    """Key figures as a definition list laid out as tiles."""
    tiles = "".join(f"<div><dt>{esc(label)}</dt><dd>{esc(value)}</dd></div>" for label, value in items)
    return Markup(f'<dl class="figures">{tiles}</dl>')


_CSS = """
:root{color-scheme:light;--fg:#1a1a1a;--muted:#5a5a5a;--line:#d8d8d8;--bg:#fff;--tint:#f4f6f8;--accent:#0072B2}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
main,body>header,body>footer{max-width:76rem;margin:0 auto;padding:0 1rem}
main{padding-bottom:1rem}
h1{font-size:1.5rem;margin:1rem 0 .25rem}
h2{font-size:1.2rem;margin:1.75rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
h3{font-size:1rem;margin:1rem 0 .4rem}
p,li,dd,figcaption,summary{overflow-wrap:anywhere}
td.wrap{min-width:14rem;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.lead{font-size:1.15rem;margin:.5rem 0 1rem}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.5rem;margin:0 0 1rem}
.figures div{background:var(--tint);border-radius:.4rem;padding:.5rem .75rem}
.figures dt{font-size:.8rem;color:var(--muted)}
.figures dd{margin:0;font-size:1.25rem;font-weight:600;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-width:100%;margin:.25rem 0 1rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{padding:.3rem .55rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--tint);white-space:nowrap}
tbody th{font-weight:600;white-space:nowrap}
.sub{display:block;font-weight:400;font-size:.8rem;color:var(--muted);white-space:normal;min-width:9rem}
table.decisions td,table.scenarios td{white-space:nowrap}
.num{text-align:right;white-space:nowrap}
tr.baseline th,tr.baseline td{background:#eef4fa}
tr.best th,tr.best td{background:#eef8f3}
.tag{display:inline-block;font-size:.72rem;font-weight:600;border:1px solid currentColor;border-radius:.6rem;
padding:0 .4rem;margin-left:.3rem;white-space:nowrap}
.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-size:.8rem;font-weight:600;white-space:nowrap}
.ok{background:#d9f2e6;color:#00573d}.warn{background:#fdf0d5;color:#7a4b00}.bad{background:#fbe0d5;color:#8a2c00}
.idle{background:#e6eef6;color:#21466b}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:1rem}
figure.chart{margin:0 0 1rem;min-width:0;max-width:44rem}
figure.chart svg{display:block;width:100%;height:auto;max-width:100%}
figure.chart figcaption{font-weight:600;margin-bottom:.25rem}
details{margin:.25rem 0}
summary{cursor:pointer;color:var(--accent)}
.legend{display:flex;flex-wrap:wrap;gap:.25rem .9rem;list-style:none;padding:0;margin:.25rem 0;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:.15rem;margin-right:.3rem;vertical-align:-.1rem}
.spend{display:block;width:8rem;height:.5rem;margin:.3rem 0 .2rem}
.note{background:#fdf6e3;border-left:3px solid #E69F00;padding:.4rem .6rem}
tr.failed th,tr.failed td{color:#8a2c00}
.nested th,.nested td{padding:.15rem .4rem}
.nested table{font-size:.8rem}
code{font-size:.85em;overflow-wrap:anywhere}
body>footer{color:var(--muted);font-size:.8rem;padding-bottom:1rem}
@media (max-width:40rem){body{font-size:14px}main,body>header,body>footer{padding:0 .6rem}.figures dd{font-size:1.1rem}}
"""


def page(title: str, body: Cell, *, script: str = "", csp: str | None = None) -> Markup:
    """The whole document: viewport meta, inline CSS, the body, and an optional inline script.

    `script` is trusted program text from our own modules (never data): it is placed in a
    `<script>` element as is, so it must not contain `</script`. `csp` is a Content-Security-Policy
    for a meta element: a second fence should escaping ever miss something, and a guarantee that
    the page loads nothing from elsewhere.
    """
    if "</script" in script.lower():
        raise ValueError("an inline script may not close its own element")
    script_html = f"<script>{script}</script>" if script else ""
    csp_html = f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">' if csp else ""
    return Markup(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{csp_html}"
        f'<meta name="color-scheme" content="light"><title>{esc(title)}</title>'
        f"<style>{_CSS}</style></head><body>{esc(body)}{script_html}</body></html>\n"
    )
