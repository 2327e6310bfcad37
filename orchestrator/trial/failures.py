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
import os
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path

from mlflow.tracking import MlflowClient

from orchestrator.storage import is_uri
from orchestrator.tracking.names import FAILURE_LOG_TAG, FAILURE_TAG, PREVIOUS_FAILURE_TAG
from training.checkpointing import checkpoint_problem
from training.knowledge import user_cache

SNAPSHOT = "checkpoint_manager_snapshot.json"


def failure_reason(exc: BaseException) -> str:
    """The last non-empty line of the innermost error's text: Ray wraps worker errors in layers."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip()]
    return lines[-1][:500]


def log_folder() -> Path:
    """$MFT_LOG_DIR, else `logs` in mft's user cache."""
    return Path(os.environ.get("MFT_LOG_DIR") or user_cache() / "logs")


def write_failure_log(exc: BaseException, name: str) -> Path:
    """The full traceback in `log_folder()/NAME-TIME.log`; returns its path."""
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


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
    for checkpoint in sorted(folder.glob("checkpoint_*")):
        problem = checkpoint.is_dir() and checkpoint_problem(checkpoint)
        if problem:
            shutil.rmtree(checkpoint)
            notes.append(f"removed partial checkpoint {checkpoint.name} ({problem})")
    return notes
