"""`mft bench store`: how long the MLflow store takes to write a trial's report under load (driver side).

N processes stand in for N trials' Ray Train controllers: each writes reports through the real
`MlflowTrialCallback` into a run of its own, all at once, as a sweep logging every step does (one
optimizer step per report; at each evaluation the scores and a generations table, which a
served-artifacts server forwards to its object store). Each write is timed where the controller
waits for it. No Ray and no model: the figures are the store's. Then every run's curves are counted,
so a store that lost or doubled a metric under the load is caught.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass
from typing import Any

from mlflow.tracking import MlflowClient
from rich.table import Table

from orchestrator.tracking import names
from orchestrator.tracking.callback import MlflowTrialCallback
from orchestrator.tracking.runs import ensure_experiment
from training.report import StepMetrics, WorkerReport


@dataclass(frozen=True)
class Load:
    trials: int
    steps: int
    eval_every: int
    questions: int

    @property
    def evaluations(self) -> int:
        return self.steps // self.eval_every


@dataclass(frozen=True)
class Write:
    """One report written: its step, whether it carried an evaluation, and how long it took."""

    step: int
    evaluation: bool
    seconds: float


def fake_report(load: Load, step: int) -> WorkerReport:
    """What rank 0 reports after `step` (an evaluation every `eval_every` steps), with made-up values."""
    row = StepMetrics(step, step / load.steps, 2.0 / step, 1e-3, 1000.0, 0.5)
    if step % load.eval_every:
        return WorkerReport(step, step, (row,))
    scores = {"acc/fwd": 0.5, "acc/bwd": 0.25, "acc/total": 0.375 + step * 1e-6, "eval/seconds": 1.0}
    generations = tuple(
        {"question": f"Who is person {i}?", "answer": f"answer {i}", "prediction": f"guess {i}",
         "score": 0.5, "category": "fwd" if i % 2 else "bwd"}
        for i in range(load.questions)
    )  # fmt: skip
    return WorkerReport(step, step, (row,), evaluation=scores, generations=generations)


def write_reports(tracking_uri: str, run_id: str, load: Load, start: Any, results: Any) -> None:
    """One trial's controller (a process of its own): every report through the callback, each write
    timed; the writes go to `results` with the run id. `start` is a barrier: all trials begin together."""
    callback = MlflowTrialCallback(tracking_uri, run_id)
    writes = []
    start.wait()
    for step in range(1, load.steps + 1):
        report = fake_report(load, step)
        began = time.perf_counter()
        callback.after_report(None, [report.to_metrics()], None)
        writes.append(Write(step, report.evaluation is not None, time.perf_counter() - began))
    results.put((run_id, writes))


def measure_store(tracking_uri: str, load: Load, experiment: str) -> tuple[dict[str, list[Write]], float]:
    """Run `load` against the store: each trial's timed writes by run id, and the wall seconds."""
    client = MlflowClient(tracking_uri)
    experiment_id = ensure_experiment(client, experiment)
    runs = [client.create_run(experiment_id, run_name=f"trial-{i}").info.run_id for i in range(load.trials)]
    context = multiprocessing.get_context("spawn")  # a fresh MLflow client per process, as per controller
    start, results = context.Barrier(load.trials + 1), context.Queue()
    workers = [
        context.Process(target=write_reports, args=(tracking_uri, run_id, load, start, results))
        for run_id in runs
    ]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    writes = dict(results.get() for _ in workers)
    wall_s = time.perf_counter() - began
    for worker in workers:
        worker.join()
    for run_id in runs:
        client.set_terminated(run_id)
    return writes, wall_s


def count_problems(client: MlflowClient, runs: list[str], load: Load) -> list[str]:
    """Every curve whose steps are not exactly the ones written once each, in words."""
    expected = {
        names.TRAIN_LOSS: list(range(1, load.steps + 1)),
        names.TOTAL_ACCURACY: [load.eval_every * (i + 1) for i in range(load.evaluations)],
    }
    problems = []
    for run_id in runs:
        for key, steps in expected.items():
            logged = sorted(m.step for m in client.get_metric_history(run_id, key))
            if logged != steps:
                problems.append(f"run {run_id} {key}: {len(logged)} values logged, {len(steps)} written")
    return problems


def render_writes(writes: dict[str, list[Write]], wall_s: float, title: str) -> Table:
    """Latency of a report write, per kind: the slowest is what a trial waited for at worst."""
    table = Table(title=title)
    for column in ("report", "writes", "median s", "p95 s", "slowest s", "slowest at step"):
        table.add_column(column, justify="left" if column == "report" else "right")
    every = [write for trial in writes.values() for write in trial]
    for label, chosen in (
        ("steps only", [w for w in every if not w.evaluation]),
        ("with evaluation", [w for w in every if w.evaluation]),
        ("all", every),
    ):
        if not chosen:
            continue
        seconds = sorted(w.seconds for w in chosen)
        slowest = max(chosen, key=lambda w: w.seconds)
        p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
        table.add_row(
            label, str(len(chosen)), f"{statistics.median(seconds):.3f}", f"{p95:.3f}",
            f"{slowest.seconds:.3f}", str(slowest.step),
        )  # fmt: skip
    table.caption = f"{len(every)} reports in {wall_s:.1f} s: {len(every) / wall_s:.1f} reports/s"
    return table
