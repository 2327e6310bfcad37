"""CPU work a slow test needs, started as the session starts under Linux's idle scheduling class,
so it runs only on CPU time nothing else wants (the fast tests keep one core of two busy, the Ray
tests wait on start-ups and polls); the test then waits for it.

SCHED_IDLE, not a nice value: Ray runs its workers at nice 15, and even a nice-19 job takes a real
share from them (it made the suite slower). OpenMP threads wait passively, so a multi-threaded job
sleeps while one of its threads waits for a busy core instead of spinning on the other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def idle_class() -> None:
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:  # not Linux: the lowest priority a nice value gives
        os.nice(19)


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
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=idle_class
            )

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
