"""A trial that failed while running, told in one line (driver side).

The reason (the last line of the innermost error, e.g. `OSError: [Errno 28] No space left on
device`) goes to the terminal and onto the MLflow run as a tag; the full traceback, Ray's
worker tracebacks included, goes to a log file whose path is printed; the command that
continues the trial from its last checkpoint is printed whole, `--storage` included.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from mlflow.tracking import MlflowClient

FAILURE_TAG = "mft.failure"
FAILURE_LOG_TAG = "mft.failure_log"
PREVIOUS_FAILURE_TAG = "mft.previous_failure"


def failure_reason(exc: BaseException) -> str:
    """The last non-empty line of the innermost error's text: Ray wraps worker errors in layers."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip()]
    return lines[-1][:500]


def log_folder() -> Path:
    return Path(os.environ.get("MFT_LOG_DIR") or Path.home() / ".cache" / "mft" / "logs")


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
