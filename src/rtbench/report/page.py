"""The HTML page's building blocks: its stylesheet and template, and escaped tables, notes and
embedded images. Every piece of text is escaped here, so callers pass plain strings."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from string import Template

__all__ = ["ChartImage", "page", "section", "table", "pairs_table", "note", "paragraph", "badge", "image", "escape"]


@dataclass(frozen=True)
class ChartImage:
    """One chart: `name` is its file stem (`<name>.png`), `caption` describes it."""

    name: str
    caption: str
    png: bytes


STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1d2330;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:20px 24px 48px;background:#fff;min-height:100vh}
h1{font-size:1.5em;margin:0 0 4px}
h2{font-size:1.2em;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid #dde1e7}
.meta{color:#5a6475;margin:0 0 16px;font-size:.9em}
table{border-collapse:collapse;width:100%;margin:8px 0 12px;font-size:.9em;table-layout:auto}
th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}
table.pairs td:last-child{overflow-wrap:anywhere;width:70%}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.pass td{background:#e6f4e6}
tr.fail td{background:#fbe3e3}
tr.nodata td{background:#fdf3d7}
.badge{display:inline-block;padding:6px 16px;border-radius:6px;font-weight:700;font-size:1.3em;color:#fff;letter-spacing:.04em}
.badge-pass{background:#1e7d32}.badge-fail{background:#c62828}.badge-partial{background:#b26a00}.badge-none{background:#607080}
.verdict{display:flex;align-items:center;gap:16px;flex-wrap:wrap;margin:8px 0}
.headline{font-weight:600}
.alert{color:#b71c1c;font-weight:700}
.banner{background:#b26a00;color:#fff;font-weight:700;padding:10px 14px;border-radius:6px;margin:0 0 12px}
.note{background:#f6f7f9;border-left:4px solid #9aa5b5;padding:6px 10px;margin:8px 0}
.note.warn{border-left-color:#c62828;background:#fdecec}
figure{margin:12px 0 20px}
figure img{display:block;max-width:100%;height:auto;border:1px solid #e3e6ea}
figcaption{color:#5a6475;font-size:.88em;margin-top:4px}
ul{margin:6px 0;padding-left:22px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
"""

TEMPLATE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
<main>
<h1>$title</h1>
<p class="meta">$meta</p>
$body
</main>
</body>
</html>
"""
)


def page(title: str, meta: str, sections: Iterable[str]) -> str:
    """The whole document: `title` and `meta` are plain text, `sections` are HTML fragments."""
    return TEMPLATE.substitute(title=escape(title), meta=escape(meta), style=STYLE, body="\n".join(sections))


def section(anchor: str, title: str, parts: Iterable[str]) -> str:
    """A titled section of HTML fragments."""
    return f'<section id="{escape(anchor)}">\n<h2>{escape(title)}</h2>\n' + "\n".join(parts) + "\n</section>"


def _cell(text: str, numeric: bool) -> str:
    return f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    row_classes: Iterable[str] | None = None,
    numeric: Sequence[bool] | None = None,
    table_id: str = "",
    css: str = "",
) -> str:
    """A table of text cells; `row_classes` (e.g. "pass", "fail") colour rows, `numeric` right-
    aligns columns."""
    numeric = numeric or [False] * len(headers)
    classes = iter(row_classes or ())
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = []
    for row in rows:
        row_class = next(classes, "")
        attr = f' class="{escape(row_class)}"' if row_class else ""
        lines.append(f"<tr{attr}>" + "".join(_cell(c, n) for c, n in zip(row, numeric, strict=False)) + "</tr>")
    ident = (f' id="{escape(table_id)}"' if table_id else "") + (f' class="{escape(css)}"' if css else "")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(lines) + "\n</tbody></table>"


def pairs_table(pairs: Iterable[tuple[str, str]], headers: Sequence[str] = ("setting", "value")) -> str:
    """A two-column table of (name, value) text pairs."""
    return table(headers, [(k, v) for k, v in pairs], css="pairs")


def note(text: str, warn: bool = False) -> str:
    return f'<p class="note{" warn" if warn else ""}">{escape(text)}</p>'


def paragraph(text: str, css: str = "", ident: str = "") -> str:
    attr = (f' id="{escape(ident)}"' if ident else "") + (f' class="{escape(css)}"' if css else "")
    return f"<p{attr}>{escape(text)}</p>"


def badge(word: str, kind: str) -> str:
    """The verdict badge; `kind` is pass, fail, partial or none."""
    return f'<span id="verdict-badge" class="badge badge-{escape(kind)}">{escape(word)}</span>'


def image(chart: ChartImage) -> str:
    """The chart embedded as a base64 data URI, with its caption."""
    data = base64.b64encode(chart.png).decode("ascii")
    return (
        f'<figure id="chart-{escape(chart.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{escape(chart.caption)}"><figcaption>{escape(chart.caption)}</figcaption></figure>'
    )
