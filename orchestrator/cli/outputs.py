"""Files a command writes for the user (driver side): checked before the work, never left half-written."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from training.errors import InputError


def open_output(path: Path, flag: str) -> TextIO:
    """`PATH.partial` beside the output, opened before any work so a bad path costs nothing; the
    caller renames it to PATH when done, so a failure never leaves an earlier PATH truncated."""
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; name a file")
    if not path.parent.is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist; create it or choose another")
    try:
        return path.with_name(path.name + ".partial").open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot write there ({exc.strerror or exc}); choose another"
        ) from exc
