"""A report as a Markdown file with a folder of its pictures beside it (`notes.md` and
`notes_files/`), for a repository or a paper's notes. Text is escaped for Markdown and
for the HTML that Markdown lets through."""

from __future__ import annotations

import re

from aetui.report.document import MARK, Document, Picture, Section, Table, Text, cell

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def esc(text: str) -> str:
    """Markdown-inert text on one line: the characters that start emphasis, code, links,
    HTML or a table cell backslash-escaped, `&` as an entity (numbers such as 1e-4 stay
    as they are)."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()).replace("&", "&amp;"))


def render(doc: Document, folder: str) -> tuple[str, dict[str, bytes]]:
    """(the Markdown text, {file name: bytes} of the pictures it links under `folder`)."""
    files: dict[str, bytes] = {}
    lines = [f"<!-- {MARK} -->", f"# {esc(doc.title)}", "", f"_{esc(doc.subtitle)}_", ""]
    for s in doc.sections:
        lines += _section(s, folder, files)
    return "\n".join(lines).rstrip() + "\n", files


def _section(section: Section, folder: str, files: dict[str, bytes]) -> list[str]:
    out = [f"## {esc(section.title)}", ""]
    for block in section.blocks:
        if isinstance(block, Table):
            out += _table(block)
        elif isinstance(block, Picture):
            files[block.name] = block.data
            caption = esc(block.caption)
            if block.row_labels:
                caption += " (rows: " + " · ".join(esc(label) for label in block.row_labels) + ")"
            out += [f"![{esc(block.caption)}]({folder}/{block.name})", "", f"_{caption}_", ""]
        elif isinstance(block, Text):
            text = esc(block.text)
            out += ["\\" + text if text[:1] in ("-", "+", "=") else text, ""]
    return out


def _table(t: Table) -> list[str]:
    out = [f"**{esc(t.caption)}**", ""] if t.caption else []
    out.append("| " + " | ".join(esc(c) or " " for c in t.columns) + " |")
    out.append("|" + "".join(" ---: |" if _numeric(t, i) else " --- |" for i in range(len(t.columns))))
    out += ["| " + " | ".join(esc(cell(v)) for v in row) + " |" for row in t.rows]
    return out + [""]


def _numeric(t: Table, i: int) -> bool:
    values = [row[i] for row in t.rows if row[i] is not None]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
