"""Live terminal view of running trials (driver side), fed from MLflow, not from Ray's logs.

Workers' own output stays in Ray's log files; the user sees one row per trial refreshed from
what the controller callback has logged: status, epoch, step, loss, latest and best accuracy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestrator.tracking import names

# Display name → the trial's MLflow run as just read (None: not started yet), or a function giving
# that: asked at every refresh, so a sweep reads all its runs in one search, not one request each.
Rows = Mapping[str, Run | None] | Callable[[], Mapping[str, Run | None]]


def trial_table(client: MlflowClient, runs: Rows) -> Table:
    """One row per trial from its run's latest metrics."""
    table = Table(title="trials", expand=False)
    for column in ("trial", "status", "epoch", "loss", "acc/total", "best"):
        table.add_column(column, justify="left" if column in ("trial", "status") else "right")
    for name, run in (runs() if callable(runs) else runs).items():
        if run is None:
            table.add_row(name, "PENDING", *["-"] * 4)
            continue
        m = run.data.metrics
        stopped = names.EARLY_STOP_TAG in run.data.tags  # by the sweep's scheduler: not a failure
        table.add_row(
            name,
            names.STOPPED if stopped else run.info.status,
            _fmt(m.get(names.EPOCH), "{:.2f}"),
            _fmt(m.get(names.TRAIN_LOSS), "{:.4f}"),
            _fmt(m.get(names.TOTAL_ACCURACY), "{:.3f}"),
            _fmt(best_so_far(client, run), "{:.3f}"),
        )
    return table


def best_so_far(client: MlflowClient, run: Run) -> float | None:
    """The run's best acc/total: its final `best/acc_total`, or, while it trains, the highest
    evaluation so far (one history request, only for a run without its final best)."""
    metrics = run.data.metrics
    if names.BEST_TOTAL in metrics or names.TOTAL_ACCURACY not in metrics:
        return metrics.get(names.BEST_TOTAL)
    return max(m.value for m in client.get_metric_history(run.info.run_id, names.TOTAL_ACCURACY))


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


@contextmanager
def ticking(tick: Callable[[], None], every_s: float) -> Iterator[None]:
    """Call `tick` every `every_s` seconds from a thread while the body runs. A failing tick (a busy
    sqlite file, a store that does not answer) is skipped: the next one retries."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                tick()
            except Exception:
                continue

    watcher = threading.Thread(target=loop, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


@contextmanager
def live_trials(client: MlflowClient, runs: Rows, console: Console, every_s: float = 2.0) -> Iterator[None]:
    """Refresh the trial table every `every_s` seconds while the body runs, then print it once more.

    `runs` may be a function, asked again at every refresh: a sweep's child runs appear as trials start.
    """
    with Live(trial_table(client, runs), console=console, refresh_per_second=1, transient=True) as live:
        with ticking(lambda: live.update(trial_table(client, runs)), every_s):
            yield
    console.print(trial_table(client, runs))
