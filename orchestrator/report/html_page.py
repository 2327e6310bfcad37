"""`report.html`: one self-contained page, tables and figures inline (data: URIs), no network.

Laid out for a laptop window (1280 px) and MLflow's artifact viewer (about 1000 px): the result
first (the headline, then the forward/backward figure), then the tables. A table never widens the
page: "mean ± std" cells wrap after the ±, labels wrap, and a table still too wide scrolls
sideways in its own box, so the backward column is on screen without scrolling the page.
"""

from __future__ import annotations

import base64
import html

from orchestrator.report.document import Report
from orchestrator.report.figures import FigureFile
from orchestrator.report.tables import Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em;
       color: #222; }
p.headline { font-weight: 600; margin: 0.4em 0; }
p.source { color: #555; font-size: 0.85em; }
div.table { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.9em; }
th, td { padding: 0.25em 0.45em; border-bottom: 1px solid #ddd; vertical-align: top; }
thead th { border-bottom: 2px solid #444; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; font-size: 0.85em; margin: 0.2em 0; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def cell_html(text: str) -> str:
    """Escaped; "mean ± std" may wrap only after its ±."""
    return html.escape(text).replace(" ± ", "&nbsp;± ")


def html_table(table: Table) -> str:
    def cells(row: tuple[str, ...], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=num' if i >= table.left else ''}>{cell_html(cell)}</{tag}>"
            for i, cell in enumerate(row)
        )

    body = "\n".join(f"<tr>{cells(row, 'td')}</tr>" for row in table.rows)
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in table.notes)
    return (
        f'<h2 id="{html.escape(table.key)}">{html.escape(table.title)}</h2>\n'
        f'<div class="table"><table><thead><tr>{cells(table.columns, "th")}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>\n{notes}"
    )


def figure_html(figure: FigureFile) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    title = html.escape(figure.title)
    image = f'<img alt="{title}" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{title}</figcaption></figure>"


def render_html(report: Report) -> str:
    first = [figure for figure in report.figures if figure.directions]
    rest = [figure for figure in report.figures if not figure.directions]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Report: {html.escape(report.name)}</h1>",
        *(f'<p class="headline">{html.escape(line)}</p>' for line in report.headline),
        *(figure_html(figure) for figure in first),
        f'<p class="source">{html.escape(report.source)}</p>',
    ]
    parts += [html_table(table) for table in report.tables]
    if rest:
        parts.append("<h2>Figures</h2>")
    parts += [figure_html(figure) for figure in rest]
    return "\n".join([*parts, "</body></html>", ""])
