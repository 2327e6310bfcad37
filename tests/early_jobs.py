"""Single-threaded CPU work a slow test needs, started as the session starts, niced, so it runs on
the core the fast tests leave idle (they keep one of two busy); the test then waits for it.

Each job runs this file in a subprocess (`python early_jobs.py NAME FOLDER`) that writes into
FOLDER; it starts only when its test is collected (`conftest.pytest_collection_finish`), or when
the test asks first (the test run alone). Not for multi-threaded work: Ray runs its workers at
nice 15, so a niced job still takes CPU from them, and threads that wait on each other spin
(the lab's base-model rebuild tried here made the suite slower).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

NICENESS = 19


def convert_smollm2(folder: Path) -> None:
    """SmolLM2's GGUF file (its path in `folder/source`) as a Hugging Face folder in `folder/model`."""
    from orchestrator.gguf_models import convert_gguf

    convert_gguf(Path((folder / "source").read_text()), folder / "model")


JOBS: dict[str, Callable[[Path], None]] = {"smollm2": convert_smollm2}


@dataclass
class EarlyJob:
    """One job of `JOBS`, started at most once per session."""

    name: str
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mft-early-")))
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.folder / "job.log"

    def start(self) -> None:
        if self.process is not None:
            return
        command = [sys.executable, __file__, self.name, str(self.folder)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(NICENESS)
            )

    def wait(self, timeout_s: float = 1800) -> str:
        """The job's output, once it has exited 0; raises with its output otherwise."""
        self.start()
        assert self.process is not None
        code = self.process.wait(timeout=timeout_s)
        output = self.log.read_text()
        if code != 0:
            raise RuntimeError(f"early job {self.name} exited {code}:\n{output[-3000:]}")
        return output

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    JOBS[sys.argv[1]](Path(sys.argv[2]))
