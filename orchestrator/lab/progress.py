"""Progress of `mft lab` as plain lines when stdout is not a terminal (driver side).

In a terminal, Rich's progress bars and the sweep's live table show where the lab is; piped into a
file or a CI log they print nothing until the end, and a first run looked hung for minutes. Here
the same moments become one line each: every tenth of a pre-training run, and every trial's start,
evaluations and end as MLflow records them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mlflow.tracking import MlflowClient
from rich.console import Console

from orchestrator.tracking.names import PARENT_TAG, SWEEP_TAG, TOTAL_ACCURACY
from orchestrator.trial.live_view import ticking

LINES_PER_BUILD = 10
SWEEP_POLL_S = 5.0


def step_lines(console: Console, description: str, total: int) -> Callable[[int, float], None]:
    """`on_step(step, loss)` printing `description: step N/total, loss L, S s` LINES_PER_BUILD times."""
    every = max(1, total // LINES_PER_BUILD)
    start = time.perf_counter()

    def on_step(step: int, loss: float) -> None:
        if step % every == 0 or step == total:
            elapsed = time.perf_counter() - start
            line = f"{description}: step {step}/{total}, loss {loss:.3f}, {elapsed:.0f} s"
            console.print(line, highlight=False, soft_wrap=True)

    return on_step


@contextmanager
def sweep_lines(
    console: Console, tracking_uri: str, experiment: str, sweep: str, enabled: bool = True
) -> Iterator[None]:
    """While the body runs a sweep, print a line when one of its trials starts, evaluates or ends."""
    if not enabled:
        yield
        return
    client = MlflowClient(tracking_uri)
    shown: dict[str, tuple[str, float | None]] = {}

    def poll() -> None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return
        runs = client.search_runs([found.experiment_id], f"tags.`{SWEEP_TAG}` = '{sweep}'")
        trials = [run for run in runs if PARENT_TAG in run.data.tags]
        for run in sorted(trials, key=lambda r: r.info.run_name or ""):
            metrics = run.data.metrics
            state = (run.info.status, metrics.get("epoch"))
            if shown.get(run.info.run_id) == state:
                continue
            shown[run.info.run_id] = state
            line = f"trial {run.info.run_name}: {run.info.status.lower()}"
            if TOTAL_ACCURACY in metrics:
                line += f", epoch {metrics.get('epoch', 0):g}, recall {metrics[TOTAL_ACCURACY]:.3f}"
            console.print(line, highlight=False, soft_wrap=True)

    with ticking(poll, SWEEP_POLL_S):
        yield
    with contextlib.suppress(Exception):  # as a tick: a store that does not answer skips it
        poll()  # every trial's last line: the sweep may end between two ticks
