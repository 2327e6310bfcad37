"""Tidying a trial's Train run folder after a fault, before it is fitted again (driver side).

A disk that fills while Ray uploads a checkpoint leaves a checkpoint folder cut short and can
leave Ray's own `checkpoint_manager_snapshot.json` empty, which makes every later `fit` fail at
start. Before a trial is fitted (and after it fails) the partial folders are removed and an
unreadable snapshot is set aside; the workers then resume from the newest whole checkpoint
(`training.resuming`). Local storage only: on a bucket, a partial upload is never listed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from orchestrator.storage import is_uri
from training.checkpointing import checkpoint_problem

SNAPSHOT = "checkpoint_manager_snapshot.json"


def repair_run_folder(storage: str, name: str) -> list[str]:
    """Remove partial checkpoints and set aside an unreadable snapshot; one note per change."""
    if is_uri(storage):
        return []
    folder = Path(storage, name)
    if not folder.is_dir():
        return []
    notes = []
    snapshot = folder / SNAPSHOT
    if snapshot.is_file():
        try:
            json.loads(snapshot.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            snapshot.rename(snapshot.with_name(SNAPSHOT + ".corrupt"))
            notes.append(f"set aside Ray's unreadable {SNAPSHOT} (kept as {SNAPSHOT}.corrupt)")
    for checkpoint in sorted(folder.glob("checkpoint_*")):
        problem = checkpoint.is_dir() and checkpoint_problem(checkpoint)
        if problem:
            shutil.rmtree(checkpoint)
            notes.append(f"removed partial checkpoint {checkpoint.name} ({problem})")
    return notes
