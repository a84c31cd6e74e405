"""A report as one self-contained HTML file: styles inline, pictures as data: URIs, no
script and nothing fetched when it opens. Every string from a user or a run (labels,
settings, errors, captions) goes through `html.escape`."""

from __future__ import annotations

import base64
from html import escape

from aetui.report.document import MARK, Document, Picture, Section, Table, Text, cell

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #1d1d1d; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
nav ul { padding-left: 1.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.2em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; } th { background: #f4f4f4; }
figure { margin: 1em 0; overflow-x: auto; }
figure .grid { display: flex; align-items: stretch; }
figure .rows { display: flex; flex-direction: column; margin-right: 0.5em; font-size: 12px; color: #444; }
figure .rows span { flex: 1; display: flex; align-items: center; justify-content: flex-end; white-space: nowrap; }
figure img { max-width: none; image-rendering: pixelated; display: block; }
figcaption { color: #555; font-size: 13px; margin-top: 0.3em; }
"""
# small pictures (a 32-pixel model's grids) are shown up to MAX_ZOOM times larger, to about SMALL
# pixels wide, each pixel a square
SMALL = 800
MAX_ZOOM = 4


def render(doc: Document) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta name="generator" content="{MARK}">',
             f"<title>{escape(doc.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>{escape(doc.title)}</h1>", f'<p class="sub">{escape(doc.subtitle)}</p>']
    if len(doc.sections) > 1:
        parts.append("<nav><ul>" + "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.title)}</a></li>'
                                           for s in doc.sections) + "</ul></nav>")
    parts += [_section(s) for s in doc.sections]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _section(section: Section) -> str:
    out = [f'<section id="{escape(section.anchor)}">', f"<h2>{escape(section.title)}</h2>"]
    for block in section.blocks:
        if isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Picture):
            out.append(_picture(block))
        elif isinstance(block, Text):
            out.append(f"<p>{escape(block.text)}</p>")
    out.append("</section>")
    return "\n".join(out)


def _td(value) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{escape(cell(value))}</td>' if numeric else f"<td>{escape(cell(value))}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    rows = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _picture(p: Picture) -> str:
    w, h = p.size
    zoom = max(1, min(MAX_ZOOM, SMALL // w)) if w else 1
    size = f' width="{w * zoom}" height="{h * zoom}"' if w and h else ""
    src = f"data:{p.mime};base64," + base64.b64encode(p.data).decode("ascii")
    img = f'<img src="{src}" alt="{escape(p.caption)}"{size}>'
    if p.row_labels and h:
        labels = "".join(f"<span>{escape(label)}</span>" for label in p.row_labels)
        img = f'<div class="grid"><div class="rows" style="height:{h * zoom}px">{labels}</div>{img}</div>'
    caption = f"<figcaption>{escape(p.caption)}</figcaption>" if p.caption else ""
    return f"<figure>{img}{caption}</figure>"
