"""Files and folders a command writes for the user (driver side): the one rule for every `--out`.

Checked before any work, creating nothing: an existing non-empty file or folder is refused unless
`--force`; even with it, nothing is written inside a folder the command reads (a run's base model,
the dataset, the model it answers with). A trailing slash means "a folder". Written so a failure
or Ctrl-C never leaves a target half-written: a file as `PATH.partial`, renamed once whole; a
folder in a fresh staging folder beside it, moved in once whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import typer

from orchestrator.storage import probe_reason
from training.errors import InputError, excerpt

FORCE_HELP = (
    "Write over an existing non-empty output (files of the same names are replaced) \\[default: refuse]."
)
FORCE = typer.Option(False, "--force", help=FORCE_HELP)
PARTIAL = ".partial"


class Interrupted(Exception):
    """Ctrl-C after part of an output was kept: the message says what and where (exit code 130)."""


def check_output_file(name: str | Path, flag: str, *, force: bool, reads: Sequence[Path] = ()) -> Path:
    """The file `name` names, if the command may write it; creates nothing."""
    text = str(name)
    if not text.strip():
        raise InputError(f"{flag} is empty; name a file")
    if text.endswith(("/", os.sep)):
        raise InputError(f"{flag} {excerpt(text)} ends with '/', which names a folder; name a file")
    path = Path(text).expanduser()
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; name a file")
    _check_outside(path, flag, reads)
    if not path.parent.is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist; create it or choose another")
    for existing in (path, path.with_name(path.name + PARTIAL)):
        if not force and existing.is_file() and existing.stat().st_size > 0:
            raise InputError(
                f"{flag} {existing} already exists; choose another name or add --force to replace it"
            )
    return path


def check_output_folder(name: str | Path, flag: str, *, force: bool, reads: Sequence[Path] = ()) -> Path:
    """The folder `name` names, if the command may write into it; creates nothing."""
    text = str(name)
    if not text.strip():
        raise InputError(f"{flag} is empty; name a folder")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is a file; name a folder")
    _check_outside(path, flag, reads)
    if path.is_dir() and not force:
        entries = sorted(entry.name for entry in path.iterdir())
        if entries:
            raise InputError(
                f"{flag} {path} is not empty ({len(entries)} entries, e.g. {excerpt(entries[0])}); choose a"
                " new or empty folder, or add --force to write over files of the same names"
            )
    existing = path
    while not existing.exists():
        existing = existing.parent
    reason = probe_reason(existing) if existing.is_dir() else "not a folder"
    if reason:
        what = "cannot write there" if existing == path else f"cannot create it under {existing}"
        raise InputError(f"{flag} {path}: {what} ({reason}); choose a writable folder")
    return path


def _check_outside(path: Path, flag: str, reads: Sequence[Path]) -> None:
    """`path` is not a folder the command reads, nor inside one: --force never reaches there."""
    target = path.resolve()
    for read in reads:
        source = Path(read).expanduser().resolve()
        if target == source or source in target.parents:
            where = "is" if target == source else "is inside"
            raise InputError(
                f"{flag} {path} {where} {source}, which this command reads; write somewhere else"
            )


def open_output(path: Path, flag: str) -> TextIO:
    """`PATH.partial` beside the output, opened before any work so a bad path costs nothing; the
    caller renames it to PATH when done, so a failure never leaves an earlier PATH truncated."""
    try:
        return path.with_name(path.name + PARTIAL).open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot write there ({exc.strerror or exc}); choose another"
        ) from exc


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` to write into; when the block ends, its files move into `out`
    (created if missing; files of the same names replaced). If the block fails or is interrupted,
    the staging folder is removed and `out` is as it was."""
    made = [folder for folder in (out.parent, *out.parent.parents) if not folder.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{PARTIAL}-", dir=out.parent))
    done = False
    try:
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output is for others too
        yield stage
        if out.exists():
            _merge(stage, out)
        else:
            stage.rename(out)
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in made if not done else ():  # a refusal inside the block leaves no empty folders
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()


def _merge(source: Path, target: Path) -> None:
    """Move every entry of `source` into `target`, replacing files of the same names."""
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.is_dir() and destination.is_dir():
            _merge(entry, destination)
        else:
            if destination.is_dir():
                shutil.rmtree(destination)
            os.replace(entry, destination)
