"""Running a sweep on Ray Tune (driver side; `trial_driver` runs in a Tune trial actor).

Train V2 pattern: each Tune trial is a function trainable that drives one `TorchTrainer` (the
same `run_trial` as `mft train`). The Train run name is the sweep name + trial id, so a trial
restarted by Tune, or resumed after an interrupted sweep, continues from its own checkpoints.
Each trial creates its MLflow child run when Tune starts it (so its Duration counts no queue
time), or finds it again by its trial-id tag when a resumed sweep runs it again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import ASHAScheduler

from orchestrator.credentials import keep_secrets_out_of_tune
from orchestrator.storage import join
from orchestrator.sweep.reporting import EvalReportsToTune
from orchestrator.sweep.request import max_eval_points
from orchestrator.sweep.state import SweepState
from orchestrator.tracking import names
from orchestrator.tracking.names import PARENT_TAG, SWEEP_TAG
from orchestrator.tracking.runs import child_run_name, find_trial_run, start_trial_run
from orchestrator.tracking.source import command_line, source_tags
from orchestrator.trial.driver import run_trial
from training.config import TrialConfig
from training.errors import InputError

# A trial driver only waits on its TorchTrainer: it reserves no CPU, so its workers get them all
# (Tune refuses an all-zero request, hence a token amount of memory).
DRIVER_RESOURCES = {"cpu": 0, "memory": 2**20}


def trial_driver(tune_config: dict[str, Any]) -> None:
    """One Tune trial: create (or find again) its MLflow child run now, then fit its TorchTrainer."""
    plan, sweep = tune_config["plan"], tune_config["sweep"]
    config = TrialConfig.from_dict(plan["config"])
    client = MlflowClient(sweep["tracking_uri"])
    run_id = start_trial_run(
        client,
        sweep["experiment_id"],
        config,
        plan.get("run_name", plan["trial_id"]),  # sweeps started before run names had their own
        f"{sweep['name']}/{plan['trial_id']}",
        {PARENT_TAG: sweep["parent_run_id"], SWEEP_TAG: sweep["name"], **sweep.get("source_tags", {})},
    )
    run_trial(
        config.replace(run_id=run_id),
        tracking_uri=sweep["tracking_uri"],
        name=f"{sweep['name']}-{plan['trial_id']}",
        storage=sweep["storage"],
        # A sweep saved before this key existed always reported.
        callbacks=[EvalReportsToTune()] if sweep.get("tune_reads_evaluations", True) else [],
    )


class EarlyStopRecorder(tune.Callback):
    """Closes the run of a trial the scheduler (ASHA) stops, the moment it stops it: KILLED with a
    tag saying why, so the live table, `mft sweep status` and `mft report` show it as STOPPED,
    not RUNNING (its Tune actor is stopped before it can close its run) nor FAILED.

    Tune calls `on_trial_complete` when a trial's function returns (its run is FINISHED by then)
    and when the scheduler stops it; not for trials an interrupted sweep leaves to resume.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, sweep: str) -> None:
        self.tracking_uri, self.experiment_id, self.sweep = tracking_uri, experiment_id, sweep

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        client = MlflowClient(self.tracking_uri)
        run = find_trial_run(client, self.experiment_id, f"{self.sweep}/{_trial_id(trial)}")
        if run is None or run.info.status == "FINISHED":
            return
        last = trial.last_result or {}
        total = last.get(names.TOTAL_ACCURACY)
        scores = f" with {names.TOTAL_ACCURACY} {total:.3f}" if isinstance(total, (int, float)) else ""
        why = f"stopped early by ASHA at step {last.get('step', '?')}{scores}, below its rung's cutoff"
        client.set_tag(run.info.run_id, names.EARLY_STOP_TAG, why)
        client.set_terminated(run.info.run_id, status="KILLED")


def quiet_tune() -> list[Any]:
    """Tune's result files without its TensorBoard logger, whose `tensorboard --logdir` hint would
    point users away from MLflow; returns the loggers to keep (Tune adds none of its own then)."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    return [CSVLoggerCallback(), JsonLoggerCallback()]


def build_tuner(
    state: SweepState, trials: Sequence[Any], concurrent: int, early_stop: str | None, grace: int
) -> tune.Tuner:
    """A Tuner whose grid is the planned trials themselves; each finds its MLflow parent in `sweep`."""
    keep_secrets_out_of_tune()
    plans = [
        {
            "trial_id": trial.trial_id,
            "config": trial.config.to_dict(),
            "run_name": child_run_name(trial.config, trial.varying),
        }
        for trial in trials
    ]
    sweep = {
        "name": state.name,
        "tracking_uri": state.tracking_uri,
        "storage": state.storage,
        "experiment_id": state.experiment_id,
        "parent_run_id": state.parent_run_id,
        "source_tags": source_tags(command_line()),
        # Only a scheduler reads what trials report to Tune (the live table, the parent run and the
        # report read MLflow). Without it no report reaches Tune, and a trial starts no queue actor
        # for them, which its Tune actor would poll five times a second: ~6 CPU-s per trial.
        "tune_reads_evaluations": early_stop is not None,
    }
    scheduler, callbacks = None, quiet_tune()
    if early_stop == "asha":
        scheduler = ASHAScheduler(
            metric=names.TOTAL_ACCURACY,
            mode="max",
            grace_period=grace,
            # Rungs fit the longest trial (SweepRequest checked grace <= its points). One more than
            # its points: ASHA stops a trial that reaches max_t, which would cut a whole trial off
            # before its driver closes the run FINISHED.
            max_t=max_eval_points(tuple(trials)) + 1,
            time_attr="training_iteration",
        )
        callbacks.append(EarlyStopRecorder(state.tracking_uri, state.experiment_id, state.name))
    return tune.Tuner(
        tune.with_resources(trial_driver, DRIVER_RESOURCES),
        param_space={"plan": tune.grid_search(plans), "sweep": sweep},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=concurrent,
            # A finished trial's actor (its process, with Tune, MLflow and torch imported) runs the
            # next trial: ~10 s of CPU saved per trial. Its driver holds no state between trials.
            reuse_actors=True,
            scheduler=scheduler,
            trial_name_creator=_trial_id,
            trial_dirname_creator=_trial_id,
        ),
        run_config=tune.RunConfig(
            name=state.name,
            storage_path=state.storage,
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=callbacks,
            verbose=0,
        ),
    )


def trials_to_continue(state: SweepState) -> list[str]:
    """The trials a resume runs again (every one not finished), read from Tune's saved state without
    starting Ray; one line when there is no such state (the sweep never started)."""
    path = join(state.storage, state.name)
    if not tune.Tuner.can_restore(path):
        raise InputError(f"sweep {state.name!r} has no Tune state in {path}; it never started")
    analysis = tune.ExperimentAnalysis(path)
    return [_trial_id(trial) for trial in analysis.trials if trial.status != "TERMINATED"]


def restore_tuner(state: SweepState) -> tune.Tuner:
    """Continue an interrupted sweep: unfinished and errored trials run again from their checkpoints."""
    path = join(state.storage, state.name)
    quiet_tune()  # the restored run config keeps its own loggers
    keep_secrets_out_of_tune()
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
