"""Starting, resuming and inspecting sweeps on a Ray cluster (driver side; imports Ray).

`mft sweep` calls these after its pure part (spec → trials) has run: everything that can be
refused is refused before Ray starts or an MLflow run is created.
"""

from __future__ import annotations

import os
import shlex
import sys

import ray
import typer
from mlflow.tracking import MlflowClient
from ray import tune
from rich.console import Console

from orchestrator import storage
from orchestrator.sweep.expansion import PlannedTrial
from orchestrator.sweep.planning import local_cluster, plan_resources
from orchestrator.sweep.state import SweepState
from orchestrator.sweep.tuning import (
    BEST_TRIAL_TAG,
    best_trial,
    build_tuner,
    create_runs,
    finish_runs,
    restore_tuner,
    unfinished_trials,
    with_child_runs,
)
from orchestrator.tracking.store import open_tracking_store
from orchestrator.trial.checks import check_storage, check_tracking_store
from orchestrator.trial.launch import connect_ray, preflight
from orchestrator.trial.live_view import live_trials, trial_table
from training.errors import InputError

DEFAULT_EXPERIMENT = "mft-sweeps"


def cluster_size(address: str | None, tracking_uri: str | None = None) -> tuple[float, float]:
    """(GPUs, CPUs) of the cluster at `address`, or of this machine without starting Ray."""
    if address or os.environ.get("RAY_ADDRESS"):
        connect_ray(address, tracking_uri)
        resources = ray.cluster_resources()
        return resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    return local_cluster()


def check_fits(trials: list[PlannedTrial], gpus: float, cpus: float) -> int:
    """How many trials run at once; refuse a sweep the cluster can never run, with the flag that can."""
    plan = plan_resources(trials, gpus, cpus)
    if plan.gpus_per_trial > 0 and gpus < plan.gpus_per_trial:
        raise InputError(
            f"the sweep needs {plan.gpus_per_trial:g} GPUs per trial but this Ray cluster has {gpus:g};"
            " add --tiny to run the same sweep on tiny models on CPU workers"
        )
    if plan.concurrent < 1:
        raise InputError(
            f"a trial needs {plan.workers_per_trial} workers but this Ray cluster has {cpus:g} CPUs;"
            " lower --workers"
        )
    return plan.concurrent


def start_sweep(
    kind: str,
    trials: list[PlannedTrial],
    name: str,
    experiment: str | None,
    tracking_uri: str,
    location: str,
    address: str | None,
    early_stop: tuple[str | None, int],
    console: Console,
    max_concurrent: int | None = None,
) -> SweepState:
    """Check everything, create the MLflow runs, then run the Tuner with a live table."""
    if storage.exists(storage.join(location, name)):
        raise InputError(
            f"a sweep named {name!r} already exists in {location}; resume it with --resume {name}"
            f" --storage {location}"
        )
    check_tracking_store(tracking_uri)
    concurrent = check_fits(trials, *cluster_size(address, tracking_uri))
    if max_concurrent is not None:
        concurrent = min(concurrent, max_concurrent)
    checked: dict[tuple[str, str, str, str], str] = {}
    for trial in trials:
        key = (trial.config.model, trial.config.dataset, trial.config.paraphrase, trial.config.method)
        if key not in checked:
            checked[key] = preflight(trial.config).knowledge.name
    check_storage(location)
    connect_ray(address, tracking_uri)
    client = open_tracking_store(tracking_uri)
    command = shlex.join(["mft", *sys.argv[1:]])
    experiment = experiment or default_experiment(set(checked.values()))
    state = create_runs(client, experiment, name, kind, trials, location, command)
    state.save()
    console.print(f"[bold]sweep[/] {name}: {len(trials)} trials, {concurrent} at a time")
    console.print(
        f"[dim]MLflow experiment {experiment}, parent run {state.parent_run_id} at {tracking_uri}[/]"
    )
    tuner = build_tuner(state, trials, concurrent, *early_stop)
    return run_tuner(client, state, tuner, console)


def default_experiment(datasets: set[str]) -> str:
    """`mft-DATASET`, where `mft train` logs runs on that dataset too; a sweep over several: mft-sweeps."""
    return f"mft-{next(iter(datasets))}" if len(datasets) == 1 else DEFAULT_EXPERIMENT


def resume_sweep(name: str, location: str, address: str | None, console: Console) -> None:
    """Continue unfinished trials from their checkpoints, in the same MLflow runs."""
    state = SweepState.load(name, location)
    check_tracking_store(state.tracking_uri)
    client = open_tracking_store(state.tracking_uri)
    connect_ray(address, state.tracking_uri)
    tuner = restore_tuner(state)
    client.update_run(state.parent_run_id, status="RUNNING")
    console.print(f"[bold]resuming sweep[/] {state.name}  [dim]parent run {state.parent_run_id}[/]")
    run_tuner(client, state, tuner, console)


def run_tuner(client: MlflowClient, state: SweepState, tuner: tune.Tuner, console: Console) -> SweepState:
    """Fit with the live table; settle run statuses; print failures and the best trial; return the
    state with every started trial's run (saved)."""
    try:
        with live_trials(client, lambda: with_child_runs(client, state).trials, console):
            results = tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C skips Tune's own clean stop
        results = None
    state = with_child_runs(client, state)
    state.save()
    errors = {}
    for result in results or []:
        if result.error is not None:
            errors[result.config["plan"]["trial_id"]] = str(result.error).strip().splitlines()[-1]
    interrupted = results is None or bool(unfinished_trials(state))
    status = finish_runs(client, state, errors, interrupted)
    for trial_id, message in errors.items():
        console.print(f"[red]failed[/] {trial_id}: {message}")
    best = best_trial(client, state)
    if best:
        console.print(f"best trial: [bold]{best}[/] (MLflow run {state.trials[best]})")
    console.print(f"sweep {state.name} {status}")
    if interrupted:
        console.print(f"resume with: mft sweep --resume {state.name} --storage {state.storage}")
        raise typer.Exit(130)
    if errors:
        raise typer.Exit(1)
    return state


def show_status(state: SweepState, console: Console, tracking_uri: str | None = None) -> None:
    """The trials' table from MLflow: the sweep's own server, or `tracking_uri` (e.g. a port-forward)."""
    client = MlflowClient(tracking_uri or state.tracking_uri)
    state = with_child_runs(client, state)
    console.print(trial_table(client, state.trials))
    parent = client.get_run(state.parent_run_id)
    best = parent.data.tags.get(BEST_TRIAL_TAG) or best_trial(client, state)
    console.print(f"sweep {state.name} ({state.kind}): {parent.info.status}; best trial: {best or '-'}")
