"""`--help` of every command: every default shown (markup eats `[...]`), prose wrapped to the width."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer

from orchestrator.cli.app import app


def leaf_commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(argv path, command) for every runnable command under `group` (typer's own click objects)."""
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from leaf_commands(command, (*path, name))
    else:
        yield path, group


def is_option(param: Any) -> bool:
    return param.param_type_name == "option"


COMMANDS = dict(leaf_commands(typer.main.get_command(app)))


def option_blocks(help_text: str, command: Any) -> dict[str, str]:
    """Each option's rendered help, from its row to the next option's row (wrapped lines included)."""
    options = [p for p in command.params if is_option(p)]
    names = {max(p.opts, key=len): p.name for p in options}
    rows = [line for line in help_text.splitlines() if line.startswith("│")]
    blocks: dict[str, str] = {}
    current = None
    for row in rows:
        found = re.match(r"│\s*\*?\s*(--[\w-]+)", row)
        if found and found.group(1) in names:
            current = names[found.group(1)]
            blocks[current] = ""
        elif found or row.startswith("╰"):
            current = None
        if current is not None:
            blocks[current] += row
    return blocks


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_shows_every_default(
    mft: Callable, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...]
) -> None:
    """Every optional option says its default in `--help`: a value, or what happens when it is not given."""
    monkeypatch.setenv("COLUMNS", "400")
    result = mft(*path, "--help")
    assert result.code == 0, result.err
    command = COMMANDS[path]
    blocks = option_blocks(result.out, command)
    optional = [p for p in command.params if is_option(p) and not p.required and p.name != "help"]
    assert all(param.name in blocks for param in optional), f"rows not found in: {result.out}"
    hidden = [param.opts[0] for param in optional if "[default:" not in blocks[param.name]]
    assert hidden == [], f"mft {' '.join(path)}: no default shown for {', '.join(hidden)}"


@pytest.mark.parametrize("path", [(), *sorted(COMMANDS)], ids=lambda path: " ".join(path) or "mft")
def test_help_prose_is_wrapped_to_the_width_not_at_the_docstrings_line_ends(
    mft: Callable, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...]
) -> None:
    """A docstring is written at 100 columns: at 80 its own line ends would leave ragged short lines."""
    width = 80
    monkeypatch.setenv("COLUMNS", str(width))
    result = mft(*path, "--help")
    assert result.code == 0, result.err
    prose = [line.strip() for line in result.out.splitlines() if not line.startswith(("│", "╭", "╰"))]
    for line, after in itertools.pairwise(prose):
        if line and after and not after.startswith(("Usage:", "Example")):
            room = width - 2  # Rich pads the help text by a space on each side
            assert len(line) + 1 + len(after.split()[0]) > room, f"{line!r} then {after!r}"
