"""The report's tables in the terminal, with Rich (driver side)."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from orchestrator.report.tables import MISSING, Table


def print_table(table: Table, console: Console) -> None:
    """Labels stay whole on one line; on a narrow terminal a "mean ± std" cell wraps after its ±.

    Label columns with one value in every row become a note instead of taking width. Where whole
    labels leave numbers too little room (a trial's long name at 80 columns), the labels fold
    instead: a cell is never cut to "0.…".
    """
    shared = shared_labels(table)
    kept = [index for index in range(len(table.columns)) if table.columns[index] not in shared]
    fold_labels = narrowest_width(table, kept) > console.width
    shown = RichTable(title=escape(table.title), title_justify="left", title_style="bold")
    for index in kept:
        number = index >= table.left
        shown.add_column(
            table.columns[index],
            justify="right" if number else "left",
            no_wrap=not (number or fold_labels),
            overflow="fold",
        )
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


def narrowest_width(table: Table, kept: list[int]) -> int:
    """The table's width with every label whole and every number column as narrow as its longest
    word (its header words included), padding and borders counted as Rich draws them."""
    width = 1
    for index in kept:
        texts = [table.columns[index], *(row[index] for row in table.rows)]
        if index < table.left:
            width += max(cell_len(text) for text in texts)
        else:
            width += max(cell_len(word) for text in texts for word in text.split() or [""])
        width += 3
    return width
