"""A sweep in MLflow (driver side): its parent run, its trials' child runs, how it ended.

One parent run per sweep, created up front by the driver with the sweep's settings as params,
its data as dataset inputs and the code that ran it as source tags; one child run per trial,
created by the trial itself when Tune starts it (`orchestrator.sweep.tuning`), found again by its
trial-id tag. At the end the parent carries each group's mean and std over seeds (the report's
rows) as metrics and the report's headline table as its description.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from mlflow.entities import DatasetInput, Metric, Param, Run
from mlflow.tracking import MlflowClient

from orchestrator.report.summary import summarize
from orchestrator.report.trials import load_trial
from orchestrator.sweep.expansion import PlannedTrial
from orchestrator.sweep.request import SweepRequest
from orchestrator.sweep.state import SweepState
from orchestrator.tracking import names
from orchestrator.tracking.inputs import dataset_inputs, distinct_inputs
from orchestrator.tracking.names import PARENT_TAG, SWEEP_TAG
from orchestrator.tracking.runs import ensure_experiment, flatten_params
from orchestrator.tracking.source import source_tags

MAX_PARAM_CHARS = 6000  # MLflow refuses longer param values
VALUES_SEPARATOR = " | "


def create_runs(client: MlflowClient, experiment: str, request: SweepRequest, command: str) -> SweepState:
    """The parent run (settings, data, source, expanded spec); each trial creates its child run as
    it starts."""
    experiment_id = ensure_experiment(client, experiment)
    tags = {
        SWEEP_TAG: request.name,
        names.SWEEP_KIND_TAG: request.kind,
        names.COMMAND_TAG: command,
        names.STORAGE_TAG: request.storage,
        **source_tags(command),
    }
    parent = client.create_run(experiment_id, run_name=request.name, tags=tags)
    parent_id = parent.info.run_id
    params = sweep_params(request)
    client.log_batch(parent_id, params=[Param(key, value) for key, value in params.items()])
    client.log_inputs(parent_id, datasets=sweep_inputs(request.trials))
    trials = request.trials
    expanded = [{"trial_id": t.trial_id, "varying": t.varying, "config": t.config.to_dict()} for t in trials]
    client.log_dict(parent_id, expanded, names.SWEEP_TRIALS_FILE)
    pending = {trial.trial_id: "" for trial in trials}
    return SweepState(
        request.name, request.kind, client.tracking_uri, experiment_id, parent_id, request.storage, pending
    )


def sweep_params(request: SweepRequest) -> dict[str, str]:
    """The sweep's settings: each trial param with its value, or its values joined by " | " where
    trials differ (`lr`: `0.001 | 0.0003`), plus how the sweep runs (`sweep.*`)."""
    values: dict[str, list[str]] = {}
    for trial in request.trials:
        for key, value in flatten_params(trial.config).items():
            values.setdefault(key, []).append(value)
    params = {key: VALUES_SEPARATOR.join(dict.fromkeys(found)) for key, found in values.items()}
    params |= {"sweep.kind": request.kind, "sweep.trials": str(len(request.trials))}
    params |= {"sweep.early_stop": request.early_stop or "none", "sweep.storage": request.storage}
    if request.max_concurrent:
        params["sweep.max_concurrent"] = str(request.max_concurrent)
    return {key: value[:MAX_PARAM_CHARS] for key, value in params.items()}


def sweep_inputs(trials: Sequence[PlannedTrial]) -> list[DatasetInput]:
    """Every data set the trials read, once per (name, digest, context)."""
    reads = {(t.config.dataset, t.config.paraphrase, t.config.data_dir): t.config for t in trials}
    return distinct_inputs(found for config in reads.values() for found in dataset_inputs(config))


def child_runs(client: MlflowClient, state: SweepState) -> dict[str, Run | None]:
    """Every trial's MLflow run (None: not started), in one search: what the live table shows."""
    children = client.search_runs(
        [state.experiment_id], f"tags.`{PARENT_TAG}` = '{state.parent_run_id}'", max_results=10_000
    )
    prefix = f"{state.name}/"
    found = {run.data.tags.get(names.TRIAL_ID_TAG, "").removeprefix(prefix): run for run in children}
    return {trial_id: found.get(trial_id) for trial_id in state.trials}


def with_child_runs(state: SweepState, runs: dict[str, Run | None]) -> SweepState:
    """`state` with the run id of every trial that has started ("" for the others), from `child_runs`."""
    return dataclasses.replace(state, trials={t: run.info.run_id if run else "" for t, run in runs.items()})


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
    """On the parent run: each group's mean and std over seeds (`<group>/bwd`, `<group>/bwd_std`,
    ...), the headline table as its description, how many trials finished, failed and were stopped
    early by the scheduler, and the best trial (a tag)."""
    runs = [client.get_run(run_id) for run_id in filter(None, state.trials.values())]
    counts = {
        names.TRIALS_FINISHED: float(sum(run.info.status == "FINISHED" for run in runs)),
        names.TRIALS_FAILED: float(failed),
        names.TRIALS_STOPPED: float(sum(names.EARLY_STOP_TAG in run.data.tags for run in runs)),
    }
    footer = f"All tables and figures: `mft report {state.name}` (logged under `report/`)."
    summary = summarize([load_trial(client, run) for run in runs], f"Sweep {state.name}", footer)
    now = int(time.time() * 1000)
    logged = [Metric(key, value, now, 0) for key, value in {**summary.metrics, **counts}.items()]
    client.log_batch(state.parent_run_id, metrics=logged)
    client.set_tag(state.parent_run_id, names.NOTE_TAG, summary.description)
    best = best_trial(client, state)
    if best:
        client.set_tag(state.parent_run_id, names.BEST_TRIAL_TAG, best)


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
