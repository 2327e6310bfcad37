"""The report's tables in the terminal, with Rich (driver side)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from orchestrator.report.tables import MISSING, Table


def print_table(table: Table, console: Console) -> None:
    """Labels stay whole on one line; on a narrow terminal a "mean ± std" cell wraps after its ±.

    Label columns with one value in every row become a note instead of taking width.
    """
    shared = shared_labels(table)
    kept = [index for index in range(len(table.columns)) if table.columns[index] not in shared]
    shown = RichTable(title=escape(table.title), title_justify="left", title_style="bold")
    for index in kept:
        number = index >= table.left
        shown.add_column(table.columns[index], justify="right" if number else "left", no_wrap=not number)
    for row in table.rows:
        shown.add_row(*(Text(row[index]) for index in kept))
    console.print(shown)
    notes = list(table.notes)
    if shared:
        labels = ", ".join(f"{column} {value}" for column, value in shared.items())
        notes.insert(0, f"In every row that has one: {labels}.")
    for note in notes:
        console.print(f"[dim]{escape(note)}[/]", highlight=False)


def shared_labels(table: Table) -> dict[str, str]:
    """Label column → its value, where every row that has a value has that one (two rows or more)."""
    if len(table.rows) < 2:
        return {}
    shared = {}
    for index in range(table.left):
        values = {row[index] for row in table.rows} - {"", MISSING}
        if len(values) == 1:
            shared[table.columns[index]] = values.pop()
    return shared
