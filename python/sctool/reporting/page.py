"""Assemble the sections into one self-contained HTML page (inline SVG and CSS, no scripts, no
network), with the table behind every plot in a ``<details>`` element."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sctool._version import __version__
from sctool.reporting.model import Section, Table

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1f2937;color:#f9fafb;padding:14px 24px}
header h1{margin:0 0 4px 0;font-size:20px}
header p{margin:2px 0;font-size:13px;color:#d1d5db}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #e5e7eb;padding:6px 24px;z-index:2}
nav a{margin-right:14px;font-size:13px;color:#2563eb;text-decoration:none}
main{padding:8px 24px 40px 24px}
section{margin-top:18px}
h2{font-size:17px;border-bottom:2px solid #e5e7eb;padding-bottom:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
figure.plot{background:#fff;border:1px solid #e5e7eb;border-radius:6px;margin:0;padding:8px}
figure.plot h3{font-size:13px;margin:2px 0 4px 0}
figure.plot svg{width:100%;height:auto}
figcaption{font-size:12px;color:#4b5563;margin:4px 2px}
.note{font-size:13px;color:#92400e;background:#fffbeb;border-left:3px solid #f59e0b;padding:4px 8px;margin:4px 0}
.problems .note{color:#991b1b;background:#fef2f2;border-color:#ef4444}
details{font-size:12px;margin-top:4px}
details.table{margin-top:12px}
details.table>summary{font-size:14px;font-weight:600;color:#1d1d1f}
summary{cursor:pointer;color:#2563eb}
table{border-collapse:collapse;font-size:12px;margin:4px 0}
th,td{border:1px solid #e5e7eb;padding:2px 6px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f4f6}
.scroll{max-height:360px;overflow:auto}
.ex td{font-family:ui-monospace,Menlo,Consolas,monospace;max-width:640px;word-break:break-all}
"""

_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _esc(x: Any) -> str:
    return html.escape(_BAD.sub("?", str(x)))


def _cell(v: Any) -> str:
    if v is None:
        return "<td></td>"
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, int):
        return f'<td class="n">{v:,}</td>'
    if isinstance(v, float):
        return f'<td class="n">{v:,.6g}</td>' if abs(v) < 1e6 else f'<td class="n">{v:,.0f}</td>'
    return f"<td>{_esc(v)}</td>"


def table_html(t: Table, css: str = "", max_rows: int = 300) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in t.columns)
    rows = t.rows[:max_rows]
    body = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in rows)
    more = (f'<p class="note">{len(t.rows) - max_rows:,} more rows not shown</p>' if len(t.rows) > max_rows
            else "")
    return f'<div class="scroll"><table class="{css}"><tr>{head}</tr>{body}</table></div>{more}'


def page_html(sections: Sequence[Section], svgs: dict[str, str], *, title: str, sources: Sequence[str],
              problems: Sequence[str], seconds: float | None = None) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{s.key}">{_esc(s.title.split(":")[0])}</a>' for s in sections)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
           f"<header><h1>{_esc(title)}</h1>",
           f"<p>{_esc(', '.join(sources))}</p>",
           f"<p>sctool {_esc(__version__)} · generated {now}</p></header>",
           f"<nav>{nav}</nav><main>"]
    if problems:
        out.append('<section id="problems" class="problems"><h2>Missing or failed</h2>')
        out.extend(f'<p class="note">{_esc(p)}</p>' for p in problems)
        out.append("</section>")
    for s in sections:
        out.append(f'<section id="{_esc(s.key)}" data-section="{_esc(s.key)}"><h2>{_esc(s.title)}</h2>')
        out.extend(f'<p class="note">{_esc(n)}</p>' for n in s.notes)
        if s.plots:
            out.append('<div class="grid">')
            for p in s.plots:
                out.append(f'<figure class="plot" id="plot-{_esc(p.key)}" data-plot="{_esc(p.key)}">'
                           f"<h3>{_esc(p.title)}</h3>{svgs[p.key]}")
                if p.caption:
                    out.append(f"<figcaption>{_esc(p.caption)}</figcaption>")
                out.append(f"<details><summary>data ({len(p.table):,} rows)</summary>{table_html(p.table)}"
                           "</details></figure>")
            out.append("</div>")
        for name, t in s.tables:
            mono = any("excerpt" in c or "context" in c for c in t.columns)
            opened = "" if "parameters" in name.lower() else " open"
            out.append(f'<details class="table"{opened}><summary>{_esc(name)} ({len(t):,} rows)</summary>'
                       f"{table_html(t, 'ex' if mono else '')}</details>")
        out.append("</section>")
    if seconds is not None:
        out.append(f'<p style="font-size:11px;color:#6b7280">rendered in {seconds:.1f} s</p>')
    out.append("</main></body></html>")
    return "\n".join(out)
