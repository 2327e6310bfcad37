"""Single-threaded CPU work a slow test needs, started as the session starts, niced, so it runs on
the core the fast tests leave idle (they keep one of two busy); the test then waits for it.

Not for multi-threaded work: Ray runs its workers at nice 15, so a niced job still takes CPU from
them, and threads that wait on each other spin (the lab's base-model rebuild tried here made the
suite slower).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

NICENESS = 19


@dataclass
class EarlyJob:
    """`python ARGS` in a subprocess, started at most once per session; `folder` is its own."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mft-early-")))
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.folder / "job.log"

    def start(self, *args: str) -> None:
        if self.process is not None:
            return
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=lambda: os.nice(NICENESS),
            )  # fmt: skip

    def wait(self, timeout_s: float = 1800) -> str:
        """The job's output, once it has exited 0; raises with its output otherwise."""
        assert self.process is not None, "start the job first"
        code = self.process.wait(timeout=timeout_s)
        output = self.log.read_text()
        if code != 0:
            raise RuntimeError(f"early job exited {code}:\n{output[-3000:]}")
        return output

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
