"""`report.md`: the tables as GitHub-flavoured Markdown with the figures embedded (driver side)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.report.document import Report
from orchestrator.report.tables import Table


def markdown_table(table: Table) -> str:
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = ["---"] * table.left + ["---:"] * (len(table.columns) - table.left)
    lines = [row(table.columns), "| " + " | ".join(align) + " |", *(row(r) for r in table.rows)]
    return "\n".join(lines)


def render_markdown(report: Report, folder: Path) -> str:
    parts = [f"# Report: {report.name}", "", *(f"**{line}**  " for line in report.headline), ""]
    parts += [report.source, ""]
    for table in report.tables:
        parts += [f"## {table.title}", "", markdown_table(table), ""]
        parts += [f"_{note}_" + "  " for note in table.notes] + [""]
    if report.figures:
        parts += ["## Figures", ""]
    for figure in report.figures:
        parts += [
            f"### {figure.title}",
            "",
            f"![{figure.title}]({figure.path.relative_to(folder).as_posix()})",
            "",
        ]
    return "\n".join(parts)
