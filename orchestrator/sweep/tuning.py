"""Running a sweep on Ray Tune (driver side; `trial_driver` runs in a Tune trial actor).

Train V2 pattern: each Tune trial is a function trainable that drives one `TorchTrainer` (the
same `run_trial` as `mft train`). The Train run name is the sweep name + trial id, so a trial
restarted by Tune, or resumed after an interrupted sweep, continues from its own checkpoints.

MLflow: one parent run per sweep, created up front by the driver, and one child run per trial,
created by the trial itself when Tune starts it (so its Duration counts no queue time), found
again by its trial-id tag when a resumed sweep runs it again. At the end the parent run carries
the best trial's scores as its own metrics.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import ASHAScheduler

from orchestrator.storage import join
from orchestrator.sweep.reporting import EvalReportsToTune
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.runs import STORAGE_TAG, TRIAL_ID_TAG, ensure_experiment, start_trial_run
from orchestrator.trial.launch import run_trial
from training.config import TrialConfig
from training.errors import InputError

SWEEP_TAG = "mft.sweep"
KIND_TAG = "mft.sweep_kind"
COMMAND_TAG = "mft.command"
BEST_TRIAL_TAG = "mft.best_trial"
# A trial driver only waits on its TorchTrainer: it reserves no CPU, so its workers get them all
# (Tune refuses an all-zero request, hence a token amount of memory).
DRIVER_RESOURCES = {"cpu": 0, "memory": 2**20}
PARENT_TAG = "mlflow.parentRunId"


def trial_driver(tune_config: dict[str, Any]) -> None:
    """One Tune trial: create (or find again) its MLflow child run now, then fit its TorchTrainer."""
    plan, sweep = tune_config["plan"], tune_config["sweep"]
    config = TrialConfig.from_dict(plan["config"])
    client = MlflowClient(sweep["tracking_uri"])
    run_id = start_trial_run(
        client,
        sweep["experiment_id"],
        config,
        plan["trial_id"],
        f"{sweep['name']}/{plan['trial_id']}",
        {PARENT_TAG: sweep["parent_run_id"], SWEEP_TAG: sweep["name"]},
    )
    run_trial(
        config.replace(run_id=run_id),
        tracking_uri=sweep["tracking_uri"],
        name=f"{sweep['name']}-{plan['trial_id']}",
        storage=sweep["storage"],
        callbacks=[EvalReportsToTune()],
    )


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
    tags = {SWEEP_TAG: name, KIND_TAG: kind, COMMAND_TAG: command, STORAGE_TAG: storage}
    parent = client.create_run(experiment_id, run_name=name, tags=tags)
    parent_id = parent.info.run_id
    expanded = [{"trial_id": t.trial_id, "varying": t.varying, "config": t.config.to_dict()} for t in trials]
    client.log_dict(parent_id, expanded, "sweep/trials.json")
    pending = {trial.trial_id: "" for trial in trials}
    return SweepState(name, kind, client.tracking_uri, experiment_id, parent_id, storage, pending)


def with_child_runs(client: MlflowClient, state: SweepState) -> SweepState:
    """`state` with the run id of every trial that has started ("" for the others), from MLflow."""
    children = client.search_runs(
        [state.experiment_id], f"tags.`{PARENT_TAG}` = '{state.parent_run_id}'", max_results=10_000
    )
    prefix = f"{state.name}/"
    found = {run.data.tags.get(TRIAL_ID_TAG, "").removeprefix(prefix): run.info.run_id for run in children}
    return dataclasses.replace(state, trials={trial_id: found.get(trial_id, "") for trial_id in state.trials})


def quiet_tune() -> list[Any]:
    """Tune's result files without its TensorBoard logger, whose `tensorboard --logdir` hint would
    point users away from MLflow; returns the loggers to keep (Tune adds none of its own then)."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    return [CSVLoggerCallback(), JsonLoggerCallback()]


def build_tuner(
    state: SweepState, trials: Sequence[Any], concurrent: int, early_stop: str | None, grace: int
) -> tune.Tuner:
    """A Tuner whose grid is the planned trials themselves; each finds its MLflow parent in `sweep`."""
    plans = [{"trial_id": t.trial_id, "config": t.config.to_dict()} for t in trials]
    sweep = {
        "name": state.name,
        "tracking_uri": state.tracking_uri,
        "storage": state.storage,
        "experiment_id": state.experiment_id,
        "parent_run_id": state.parent_run_id,
    }
    scheduler = None
    if early_stop == "asha":
        scheduler = ASHAScheduler(
            metric="acc/total", mode="max", grace_period=grace, time_attr="training_iteration"
        )
    return tune.Tuner(
        tune.with_resources(trial_driver, DRIVER_RESOURCES),
        param_space={"plan": tune.grid_search(plans), "sweep": sweep},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=concurrent,
            scheduler=scheduler,
            trial_name_creator=_trial_id,
            trial_dirname_creator=_trial_id,
        ),
        run_config=tune.RunConfig(
            name=state.name,
            storage_path=state.storage,
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=quiet_tune(),
            verbose=0,
        ),
    )


def restore_tuner(state: SweepState) -> tune.Tuner:
    """Continue an interrupted sweep: unfinished and errored trials run again from their checkpoints."""
    path = join(state.storage, state.name)
    if not tune.Tuner.can_restore(path):
        raise InputError(f"sweep {state.name!r} has no Tune state in {path}; it never started")
    quiet_tune()  # the restored run config keeps its own loggers
    return tune.Tuner.restore(
        path,
        trainable=tune.with_resources(trial_driver, DRIVER_RESOURCES),
        resume_unfinished=True,
        resume_errored=True,
    )


def unfinished_trials(state: SweepState) -> list[str]:
    """Trials that Tune's saved state would run again on resume (neither finished nor failed).

    Read from disk: after a Ctrl-C the in-memory results count interrupted trials as terminated.
    """
    analysis = tune.ExperimentAnalysis(join(state.storage, state.name))
    return [_trial_id(trial) for trial in analysis.trials if trial.status not in ("TERMINATED", "ERROR")]


def _trial_id(trial: Any) -> str:
    return trial.config["plan"]["trial_id"]


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
            client.set_tag(state.trials[trial_id], "mft.error", message[:5000])
    log_summary(client, state, len(errors))
    parent = "KILLED" if interrupted else "FAILED" if errors else "FINISHED"
    client.set_terminated(state.parent_run_id, status=parent)
    return parent


def log_summary(client: MlflowClient, state: SweepState, failed: int) -> None:
    """On the parent run: the best trial (tag) and its best-checkpoint scores (`best/*` metrics, so
    the MLflow runs table compares sweeps), and how many trials finished and failed."""
    counts = {"trials/finished": 0.0, "trials/failed": float(failed)}
    for run_id in filter(None, state.trials.values()):
        counts["trials/finished"] += client.get_run(run_id).info.status == "FINISHED"
    best = best_trial(client, state)
    scores: dict[str, float] = {}
    if best:
        client.set_tag(state.parent_run_id, BEST_TRIAL_TAG, best)
        metrics = client.get_run(state.trials[best]).data.metrics
        scores = {key: value for key, value in metrics.items() if key.startswith("best/")}
    now = int(time.time() * 1000)
    logged = [Metric(key, value, now, 0) for key, value in {**scores, **counts}.items()]
    client.log_batch(state.parent_run_id, metrics=logged)


def best_trial(client: MlflowClient, state: SweepState) -> str | None:
    """The trial whose best checkpoint has the highest acc/total."""
    scores = {
        trial_id: client.get_run(run_id).data.metrics.get("best/acc_total")
        for trial_id, run_id in state.trials.items()
        if run_id
    }
    scored = {k: v for k, v in scores.items() if v is not None}
    return max(scored, key=scored.__getitem__) if scored else None
