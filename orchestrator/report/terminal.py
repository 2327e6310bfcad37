"""The report's tables in the terminal, with Rich (driver side)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from orchestrator.report.tables import Table


def print_table(table: Table, console: Console) -> None:
    shown = RichTable(title=escape(table.title), title_justify="left", title_style="bold")
    for index, column in enumerate(table.columns):
        number = index >= table.left
        shown.add_column(column, justify="right" if number else "left", no_wrap=number)
    for row in table.rows:
        shown.add_row(*(Text(cell) for cell in row))
    console.print(shown)
    for note in table.notes:
        console.print(f"[dim]{escape(note)}[/]", highlight=False)
