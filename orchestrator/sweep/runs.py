"""A sweep in MLflow (driver side): its parent run, its trials' child runs, how it ended.

One parent run per sweep, created up front by the driver, and one child run per trial, created
by the trial itself when Tune starts it (`orchestrator.sweep.tuning`), found again by its trial-id
tag. At the end the parent run carries the best trial's scores as its own metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from orchestrator.sweep.state import SweepState
from orchestrator.tracking import names
from orchestrator.tracking.names import PARENT_TAG, SWEEP_TAG
from orchestrator.tracking.runs import ensure_experiment


def create_runs(
    client: MlflowClient,
    experiment: str,
    name: str,
    kind: str,
    trials: Sequence[Any],
    storage: str,
    command: str,
) -> SweepState:
    """The parent run (expanded spec as artifact); each trial creates its child run as it starts."""
    experiment_id = ensure_experiment(client, experiment)
    tags = {
        SWEEP_TAG: name,
        names.SWEEP_KIND_TAG: kind,
        names.COMMAND_TAG: command,
        names.STORAGE_TAG: storage,
    }
    parent = client.create_run(experiment_id, run_name=name, tags=tags)
    parent_id = parent.info.run_id
    expanded = [{"trial_id": t.trial_id, "varying": t.varying, "config": t.config.to_dict()} for t in trials]
    client.log_dict(parent_id, expanded, names.SWEEP_TRIALS_FILE)
    pending = {trial.trial_id: "" for trial in trials}
    return SweepState(name, kind, client.tracking_uri, experiment_id, parent_id, storage, pending)


def with_child_runs(client: MlflowClient, state: SweepState) -> SweepState:
    """`state` with the run id of every trial that has started ("" for the others), from MLflow."""
    children = client.search_runs(
        [state.experiment_id], f"tags.`{PARENT_TAG}` = '{state.parent_run_id}'", max_results=10_000
    )
    prefix = f"{state.name}/"
    found = {
        run.data.tags.get(names.TRIAL_ID_TAG, "").removeprefix(prefix): run.info.run_id for run in children
    }
    return dataclasses.replace(state, trials={trial_id: found.get(trial_id, "") for trial_id in state.trials})


def finish_runs(client: MlflowClient, state: SweepState, errors: dict[str, str], interrupted: bool) -> str:
    """Settle every started run's status after `fit`, sum the sweep up on its parent run; return
    the parent's status. `state` must list the child runs (`with_child_runs`)."""
    for trial_id, run_id in state.trials.items():
        if not run_id:
            continue  # never started: nothing in MLflow to settle
        status = client.get_run(run_id).info.status
        if trial_id in errors:
            final = "FAILED"
        elif status == "FINISHED":
            continue
        else:
            # Stopped by the interrupt or by ASHA, possibly before the trial could close its run.
            final = "KILLED"
        if status != final:
            client.set_terminated(run_id, status=final)
    for trial_id, message in errors.items():
        if state.trials.get(trial_id):
            client.set_tag(state.trials[trial_id], names.ERROR_TAG, message[:5000])
    log_summary(client, state, len(errors))
    parent = "KILLED" if interrupted else "FAILED" if errors else "FINISHED"
    client.set_terminated(state.parent_run_id, status=parent)
    return parent


def log_summary(client: MlflowClient, state: SweepState, failed: int) -> None:
    """On the parent run: the best trial (tag) and its best-checkpoint scores (`best/*` metrics, so
    the MLflow runs table compares sweeps), and how many trials finished, failed and were stopped
    early by the scheduler."""
    counts = {names.TRIALS_FINISHED: 0.0, names.TRIALS_FAILED: float(failed), names.TRIALS_STOPPED: 0.0}
    for run_id in filter(None, state.trials.values()):
        run = client.get_run(run_id)
        counts[names.TRIALS_FINISHED] += run.info.status == "FINISHED"
        counts[names.TRIALS_STOPPED] += names.EARLY_STOP_TAG in run.data.tags
    best = best_trial(client, state)
    scores: dict[str, float] = {}
    if best:
        client.set_tag(state.parent_run_id, names.BEST_TRIAL_TAG, best)
        metrics = client.get_run(state.trials[best]).data.metrics
        scores = {key: value for key, value in metrics.items() if key.startswith("best/")}
    now = int(time.time() * 1000)
    logged = [Metric(key, value, now, 0) for key, value in {**scores, **counts}.items()]
    client.log_batch(state.parent_run_id, metrics=logged)


def best_trial(client: MlflowClient, state: SweepState) -> str | None:
    """The finished trial whose best checkpoint has the highest acc/total (a trial stopped early,
    failed or interrupted has not run its schedule: it is never the sweep's best)."""
    runs = {trial_id: client.get_run(run_id) for trial_id, run_id in state.trials.items() if run_id}
    scores = {
        trial_id: run.data.metrics.get(names.BEST_TOTAL)
        for trial_id, run in runs.items()
        if run.info.status == "FINISHED"
    }
    scored = {k: v for k, v in scores.items() if v is not None}
    return max(scored, key=scored.__getitem__) if scored else None
