"""`report.html`: one self-contained page, tables and figures inline (data: URIs), no network."""

from __future__ import annotations

import base64
import html

from orchestrator.report.document import Report
from orchestrator.report.tables import Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; white-space: nowrap; }
thead th { border-bottom: 2px solid #444; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; font-size: 0.85em; margin: 0.2em 0; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def html_table(table: Table) -> str:
    def cells(row: tuple[str, ...], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=num' if i >= table.left else ''}>{html.escape(cell)}</{tag}>"
            for i, cell in enumerate(row)
        )

    body = "\n".join(f"<tr>{cells(row, 'td')}</tr>" for row in table.rows)
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in table.notes)
    return (
        f'<h2 id="{html.escape(table.key)}">{html.escape(table.title)}</h2>\n'
        f"<table><thead><tr>{cells(table.columns, 'th')}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody></table>\n{notes}"
    )


def render_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Report: {html.escape(report.name)}</h1>",
        f"<p>{html.escape(report.source)}</p>",
    ]
    parts += [html_table(table) for table in report.tables]
    if report.figures:
        parts.append("<h2>Figures</h2>")
    for figure in report.figures:
        data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
        title = html.escape(figure.title)
        image = f'<img alt="{title}" src="data:image/png;base64,{data}">'
        parts.append(f"<figure>{image}<figcaption>{title}</figcaption></figure>")
    return "\n".join([*parts, "</body></html>", ""])
