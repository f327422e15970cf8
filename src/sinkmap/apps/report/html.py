"""Self-contained HTML: inline CSS, figures as base64 PNG data URIs, no scripts, no external URL of any kind."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CSS",
    "Cell",
    "Section",
    "esc",
    "figure_html",
    "notice",
    "page",
    "status_pill",
    "table_html",
]

CSS = """
:root { --green:#2b6a3b; --ink:#1f2a24; --muted:#5d6b63; --line:#dfe6e1; --bg:#f7faf8; }
* { box-sizing: border-box; }
body { margin:0; font-family: "Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei",
  "PingFang SC","Helvetica Neue",Arial,sans-serif; color:var(--ink); background:#fff; line-height:1.5; font-size:15px; }
header.top { background:linear-gradient(120deg,#1e4d2b,#2f7a45); color:#fff; padding:28px 40px 22px; }
header.top h1 { margin:0 0 6px; font-size:26px; font-weight:600; }
header.top .sub { opacity:.9; font-size:14px; }
nav.toc { background:#eef4f0; border-bottom:1px solid var(--line); padding:8px 40px; font-size:13.5px; }
nav.toc a { color:var(--green); margin-right:18px; text-decoration:none; }
main { max-width:1180px; margin:0 auto; padding:10px 40px 40px; }
section { margin-top:34px; }
h2 { font-size:20px; border-bottom:2px solid var(--green); padding-bottom:4px; margin-bottom:14px; }
h3 { font-size:16px; margin:22px 0 8px; }
.cards { display:flex; flex-wrap:wrap; gap:14px; margin-top:18px; }
.card { flex:1 1 250px; border:1px solid var(--line); border-radius:8px; padding:12px 16px; background:var(--bg); }
.card .name { font-weight:600; font-size:15px; margin-bottom:4px; }
.card .big { font-size:24px; font-weight:600; color:var(--green); }
.card .small { color:var(--muted); font-size:12.5px; }
figure { margin:18px 0 26px; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; background:#fff; }
figcaption { color:var(--muted); font-size:13px; margin-top:6px; }
.notice { border-left:4px solid #c9a227; background:#fdf8e6; padding:10px 14px; margin:12px 0; font-size:14px; }
.notice.info { border-left-color:#3d7ab8; background:#eef5fb; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:8px 0 16px; }
th, td { border-bottom:1px solid var(--line); padding:5px 8px; text-align:left; vertical-align:top; }
th { background:#eef4f0; font-weight:600; position:sticky; top:0; }
td:first-child { min-width: 170px; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.agg td { font-weight:600; background:#f4f8f5; }
tbody tr:nth-child(even) td { background:#fafcfb; }
.pill { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px; color:#fff; white-space:nowrap; }
.pill.met { background:#1b7837; } .pill.on { background:#5aae61; } .pill.off { background:#c0392b; }
.pill.none { background:#9a9a9a; }
details { margin:10px 0; } summary { cursor:pointer; color:var(--green); font-weight:600; }
pre { background:#f5f5f5; border:1px solid var(--line); padding:12px; overflow:auto; font-size:12px; max-height:520px; }
dl.meta { display:grid; grid-template-columns: 220px 1fr; gap:4px 14px; font-size:14px; }
dl.meta dt { color:var(--muted); } dl.meta dd { margin:0; }
.table-wrap { overflow-x:auto; }
footer { color:var(--muted); font-size:12.5px; border-top:1px solid var(--line); padding:16px 40px; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` (empty for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Cell:
    """A table cell: raw HTML (already escaped) and whether it is numeric (right-aligned)."""

    html: str
    numeric: bool = False


def table_html(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    row_classes: Sequence[str] | None = None,
) -> str:
    """A table; ``headers`` are plain text (escaped here), cells carry their own HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{c.html}</td>' if c.numeric else f"<td>{c.html}</td>" for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def status_pill(status: Any) -> str:
    """A coloured label for a tracking status."""
    text = esc(status) or "—"
    cls = {"met": "met", "on track": "on", "off track": "off"}.get(str(status), "none")
    return f'<span class="pill {cls}">{text}</span>'


def figure_html(png: bytes, *, name: str, alt: str, caption: str) -> str:
    """An embedded figure (PNG as a data URI) with a numbered caption."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="fig-{esc(name)}"><img class="figure" data-figure="{esc(name)}" alt="{esc(alt)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
    )


def notice(text_html: str, *, kind: str = "") -> str:
    return f'<div class="notice {esc(kind)}">{text_html}</div>'


@dataclass
class Section:
    """A report section: id (anchor), title and HTML body."""

    id: str
    title: str
    body: list[str] = field(default_factory=list)

    def add(self, fragment: str) -> None:
        self.body.append(fragment)


def page(
    *,
    title: str,
    subtitle_html: str,
    cards_html: str,
    sections: Sequence[Section],
    footer_html: str,
) -> str:
    """The whole document."""
    toc = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{"".join(s.body)}</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><div class="sub">{subtitle_html}</div></header>'
        f'<nav class="toc">{toc}</nav><main>{cards_html}{body}</main>'
        f"<footer>{footer_html}</footer></body></html>\n"
    )


def pretty_json(data: Any) -> str:
    """Escaped, indented JSON for a <pre> block."""
    return esc(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def fmt_number(value: Any, *, digits: int = 2, scale: float = 1.0) -> str:
    """``value / scale`` with thousands separators; ``—`` when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return "—"
    return f"{v / scale:,.{digits}f}"


Formatter = Callable[[Any], str]
