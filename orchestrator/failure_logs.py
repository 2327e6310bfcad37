"""Where full tracebacks go, so the terminal shows one line (driver side; no torch, Ray or MLflow,
so the last-resort handler of `mft` can use it whatever failed to import)."""

from __future__ import annotations

import os
import re
import time
import traceback
from pathlib import Path

from training.knowledge import user_cache

REASON_CHARS = 500


def failure_reason(exc: BaseException) -> str:
    """The last non-empty line of the innermost error's text: Ray wraps worker errors in layers."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip()]
    return lines[-1][:REASON_CHARS]


def log_folder() -> Path:
    """$MFT_LOG_DIR, else `logs` in mft's user cache."""
    return Path(os.environ.get("MFT_LOG_DIR") or user_cache() / "logs")


def write_failure_log(exc: BaseException, name: str) -> Path:
    """The full traceback in `log_folder()/NAME-TIME.log`; returns its path."""
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:80] or "mft"
    path = folder / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path
