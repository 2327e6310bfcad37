"""Which of a trial's checkpoints `mft export` writes out: the best, the latest, or a given step (driver).

The trial's run tags name its best and latest checkpoints; both live in the trial's folder in
storage, where each checkpoint's `trainer_state.json` says its step. Ray keeps the two best by
acc/total and the latest (num_to_keep=2; `orchestrator.trial.driver`), so those are the steps a
user can ask for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlflow.entities import Run

from orchestrator.storage import join, list_folders, parent, read_text
from orchestrator.tracking.names import BEST_CHECKPOINT_TAG, LATEST_CHECKPOINT_TAG
from training.checkpointing import STATE_FILE
from training.errors import InputError


@dataclass(frozen=True)
class ChosenCheckpoint:
    location: str
    step: int
    which: str
    """best, latest or step N, for the message after export."""


def checkpoint_step(location: str) -> int | None:
    """The optimizer step a checkpoint folder was taken at; None when it holds no trainer state."""
    text = read_text(join(location, STATE_FILE))
    return None if text is None else int(json.loads(text)["step"])


def kept_checkpoints(run: Run) -> dict[int, str]:
    """Step -> location of every checkpoint still in the trial's folder."""
    tags = run.data.tags
    known = [tags[tag] for tag in (LATEST_CHECKPOINT_TAG, BEST_CHECKPOINT_TAG) if tags.get(tag)]
    if not known:
        return {}
    kept: dict[int, str] = {}
    for location in list_folders(parent(known[0])):
        step = checkpoint_step(location)
        if step is not None:
            kept[step] = location
    return kept


def choose_checkpoint(run: Run, latest: bool = False, step: int | None = None) -> ChosenCheckpoint:
    """The checkpoint asked for, or one line saying why there is none and what there is."""
    run_id, tags = run.info.run_id, run.data.tags
    if step is None:
        tag = LATEST_CHECKPOINT_TAG if latest else BEST_CHECKPOINT_TAG
        location = tags.get(tag)
        if not location:
            raise InputError(
                f"run {run_id} has no {'latest' if latest else 'best'} checkpoint (no tag {tag})"
            )
        found = checkpoint_step(location)
        if found is None:
            raise InputError(f"run {run_id}'s checkpoint {location} is not on disk any more")
        return ChosenCheckpoint(location, found, "latest" if latest else "best")
    kept = kept_checkpoints(run)
    if step not in kept:
        steps = ", ".join(map(str, sorted(kept))) or "none"
        raise InputError(f"run {run_id} has no checkpoint at step {step}; kept steps: {steps}")
    return ChosenCheckpoint(kept[step], step, f"step {step}")
