"""A trial that failed while running: told in one line, its run folder tidied (driver side).

The reason (the last line of the innermost error, e.g. `OSError: [Errno 28] No space left on
device`) goes to the terminal and onto the MLflow run as a tag; the full traceback, Ray's
worker tracebacks included, goes to a log file whose path is printed; the command that
continues the trial from its last checkpoint is printed whole, `--storage` included.

A disk that fills while Ray uploads a checkpoint leaves a checkpoint folder cut short and can
leave Ray's own `checkpoint_manager_snapshot.json` empty, which makes every later `fit` fail at
start. Before a trial is fitted (and after it fails) the partial folders are removed and an
unreadable snapshot is set aside; the workers then resume from the newest whole checkpoint
(`training.resuming`). Local storage only: on a bucket, a partial upload is never listed.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from orchestrator.failure_logs import failure_reason, write_failure_log
from orchestrator.storage import is_uri
from orchestrator.tracking.names import FAILURE_LOG_TAG, FAILURE_TAG, PREVIOUS_FAILURE_TAG

SNAPSHOT = "checkpoint_manager_snapshot.json"


def record_failure(client: MlflowClient, run_id: str, exc: BaseException) -> tuple[str, Path]:
    """Log the traceback, tag the run with the reason (if the store still answers); (reason, log)."""
    reason, log = failure_reason(exc), write_failure_log(exc, run_id)
    try:
        client.set_tag(run_id, FAILURE_TAG, reason)
        client.set_tag(run_id, FAILURE_LOG_TAG, str(log))
    except Exception:  # the store may be what failed; the log file and the terminal still say it
        pass
    return reason, log


def clear_failure(client: MlflowClient, run_id: str) -> None:
    """A trial run again: its last failure becomes history, so a FINISHED run carries no failure."""
    tags = client.get_run(run_id).data.tags
    if FAILURE_TAG in tags:
        client.set_tag(run_id, PREVIOUS_FAILURE_TAG, tags[FAILURE_TAG])
        client.delete_tag(run_id, FAILURE_TAG)
    if FAILURE_LOG_TAG in tags:
        client.delete_tag(run_id, FAILURE_LOG_TAG)


def resume_command(storage: str) -> str:
    """This very command, with `--storage` spelled out: rerunning it continues the same trial."""
    args = sys.argv[1:]
    if not any(arg == "--storage" or arg.startswith("--storage=") for arg in args):
        args += ["--storage", storage]
    return shlex.join(["mft", *args])


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
    # DCP and transformers' model modules (~2.5 CPU-s): only for a folder with checkpoints to check,
    # not in every trial driver that starts a new run
    from training.checkpointing import checkpoint_problem

    for checkpoint in sorted(folder.glob("checkpoint_*")):
        problem = checkpoint.is_dir() and checkpoint_problem(checkpoint)
        if problem:
            shutil.rmtree(checkpoint)
            notes.append(f"removed partial checkpoint {checkpoint.name} ({problem})")
    return notes
