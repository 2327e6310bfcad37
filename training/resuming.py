"""Resuming a restarted worker group from the newest whole checkpoint (every Ray Train worker).

Ray hands over the run's latest checkpoint; if it was cut short (a full disk, a node lost while
writing) every restart would fail on it. Instead each rank walks back to the newest checkpoint
of the same run that is whole. Every rank sees the same files, so all choose the same one.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs
import ray.train
import torch

from training.checkpointing import TrainerState, checkpoint_problem, restore_checkpoint


@dataclass(frozen=True)
class Resumption:
    state: TrainerState
    skipped: tuple[str, ...] = ()
    """Paths of newer checkpoints that were not whole (empty: the latest one was used)."""
    used: str = ""

    @property
    def note(self) -> str | None:
        """One line for the run's tags when a checkpoint was skipped."""
        if not self.skipped:
            return None
        skipped = ", ".join(posixpath.basename(path) for path in self.skipped)
        return f"resumed from {posixpath.basename(self.used)}; skipped corrupt {skipped}"


def older_checkpoints(checkpoint: ray.train.Checkpoint) -> list[ray.train.Checkpoint]:
    """The run's other checkpoints older than `checkpoint`, newest first (names are timestamps)."""
    fs, path = checkpoint.filesystem, checkpoint.path.rstrip("/")
    name = posixpath.basename(path)
    entries = fs.get_file_info(pyarrow.fs.FileSelector(posixpath.dirname(path)))
    older = [
        entry.path
        for entry in entries
        if entry.type == pyarrow.fs.FileType.Directory
        and entry.base_name.startswith("checkpoint_")
        and entry.base_name < name
    ]
    return [ray.train.Checkpoint(older_path, filesystem=fs) for older_path in sorted(older, reverse=True)]


def restore_newest_whole(
    checkpoint: ray.train.Checkpoint,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> Resumption:
    """Restore from `checkpoint`, or from the newest older one that is whole; fail in one line if none is."""
    skipped: list[str] = []
    problems: list[str] = []
    for candidate in [checkpoint, *older_checkpoints(checkpoint)]:
        with candidate.as_directory() as directory:
            problem = checkpoint_problem(Path(directory))
            if problem is None:
                state = restore_checkpoint(Path(directory), model, optimizer, scheduler, generator)
                return Resumption(state, tuple(skipped), candidate.path)
        skipped.append(candidate.path)
        problems.append(f"{posixpath.basename(candidate.path)}: {problem}")
    raise RuntimeError(f"no whole checkpoint to resume from ({'; '.join(problems)})")


def newest_checkpoint_in_run() -> ray.train.Checkpoint | None:
    """The newest checkpoint folder in this Train run's storage, when Ray hands over none.

    Ray forgets its checkpoints when its snapshot was unreadable and set aside
    (`orchestrator.trial.failures`); the folders are still there. Uses Ray's storage context
    (a DeveloperAPI): if it changes, this finds nothing and the trial starts fresh, as before.
    """
    try:
        storage = ray.train.get_context().get_storage()
        fs, folder = storage.storage_filesystem, storage.experiment_fs_path
        entries = fs.get_file_info(pyarrow.fs.FileSelector(folder))
    except Exception:
        return None
    names = [
        e.path
        for e in entries
        if e.type == pyarrow.fs.FileType.Directory and e.base_name.startswith("checkpoint_")
    ]
    return ray.train.Checkpoint(max(names), filesystem=fs) if names else None
