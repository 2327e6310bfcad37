"""`mft sweep`: expand a sweep spec, show the plan, run it on Ray Tune, resume it, show its status."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import ray
import torch
import typer
from mlflow.tracking import MlflowClient
from ray import tune
from rich.console import Console
from rich.table import Table

from orchestrator.progress import live_trials, trial_table
from orchestrator.sweep_runner import (
    BEST_TRIAL_TAG,
    SweepState,
    best_trial,
    build_tuner,
    create_runs,
    finish_runs,
    restore_tuner,
    unfinished_trials,
)
from orchestrator.sweep_spec import (
    Overrides,
    PlannedTrial,
    expand,
    load_spec,
    plan_resources,
    render_plan,
    shipped_specs,
)
from orchestrator.tiny_models import cached_tiny_models
from orchestrator.tracking import resolve_tracking_uri
from orchestrator.trial import connect_ray, preflight
from training.errors import InputError
from training.knowledge import resolve_data_dir

console = Console()
ACTIONS = ("list", "status")


def sweep(
    target: str = typer.Argument(
        None, help="lr, mask-ratio, seeds, paraphrase, paper, control, a YAML file; or list / status."
    ),
    sweep_name: str = typer.Argument(None, help="With `status`: the sweep's name."),
    dataset: str = typer.Option(None, help="Run the spec on this knowledge set."),
    method: list[str] = typer.Option(None, help="Only these methods (repeatable)."),
    model: str = typer.Option(None, help="One model for every method, instead of the paper's."),
    set_: list[str] = typer.Option(
        None, "--set", help="key=value for every trial (repeatable), e.g. --set seed=3."
    ),
    workers: int = typer.Option(None, help="Workers per trial."),
    gpus_per_worker: float = typer.Option(None, help="GPUs per worker (0 = CPU workers)."),
    tiny: bool = typer.Option(
        False, help="Tiny local models on 2 CPU workers per trial: the sweep on a laptop."
    ),
    dry_run: bool = typer.Option(False, help="Print the trial table and the resource plan; run nothing."),
    early_stop: str = typer.Option(None, help="asha: stop weak trials early on acc/total."),
    grace_period: int = typer.Option(2, help="ASHA grace period, in evaluation points."),
    resume: str = typer.Option(None, help="Continue the sweep of this name (or storage path)."),
    name: str = typer.Option(None, help="Sweep name [default: KIND-DATASET-TIME]."),
    experiment: str = typer.Option(None, help="MLflow experiment [default: mft-sweeps]."),
    tracking_uri: str = typer.Option(
        None, help="MLflow URI [default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db]."
    ),
    storage: Path = typer.Option(
        Path("mft-runs"), help="Ray storage for Tune state and checkpoints (shared)."
    ),
    address: str = typer.Option(None, help="Ray cluster address [default: $RAY_ADDRESS, else a local Ray]."),
) -> None:
    """Run a grid of trials on Ray Tune, one MLflow parent run per sweep and a child run per trial.

    Examples: mft sweep lr --dataset namedesc --dry-run | mft sweep seeds --tiny | mft sweep list |
    mft sweep status lr-namedesc-1122-0930 | mft sweep --resume lr-namedesc-1122-0930
    """
    storage = storage.resolve() if "://" not in str(storage) else storage
    if resume:
        resume_sweep(resume, Path(storage), address)
    elif target == "list":
        list_specs()
    elif target == "status":
        if not sweep_name:
            raise InputError("usage: mft sweep status NAME (the name printed when the sweep started)")
        show_status(SweepState.load(sweep_name, Path(storage)))
    elif target is None:
        raise InputError("name a sweep kind (mft sweep list shows them), a YAML file, or --resume NAME")
    else:
        overrides = Overrides(
            dataset=dataset,
            methods=tuple(method or ()),
            model=model,
            sets=tuple(set_ or ()),
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            tiny_models=cached_tiny_models() if tiny else None,
        )
        spec = load_spec(target)
        # Workers resolve paths in their own directories: hand them an absolute data folder.
        data_dir = str(resolve_data_dir(None).resolve())
        trials = [
            replace(t, config=t.config.replace(data_dir=t.config.data_dir or data_dir))
            for t in expand(spec, overrides)
        ]
        if dry_run:
            gpus, cpus = cluster_size(address)
            render_plan(spec, trials, plan_resources(trials, gpus, cpus), console)
            return
        if early_stop not in (None, "asha"):
            raise InputError(f"--early-stop must be asha, got {early_stop!r}")
        sweep_name = name or f"{spec.kind}-{Path(dataset or 'sweep').name}-{datetime.now():%m%d-%H%M%S}"
        uri = resolve_tracking_uri(tracking_uri)
        start_sweep(
            spec.kind, trials, sweep_name, experiment, uri, str(storage), address, (early_stop, grace_period)
        )


def cluster_size(address: str | None) -> tuple[float, float]:
    """(GPUs, CPUs) of the cluster at `address`, or of this machine without starting Ray."""
    if address or os.environ.get("RAY_ADDRESS"):
        connect_ray(address)
        resources = ray.cluster_resources()
        return resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    return float(torch.cuda.device_count()), float(os.cpu_count() or 1)


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
    storage: str,
    address: str | None,
    early_stop: tuple[str | None, int],
) -> None:
    """Check everything, create the MLflow runs, then run the Tuner with a live table."""
    if (Path(storage) / name).exists():
        raise InputError(
            f"a sweep named {name!r} already exists in {storage}; resume it with --resume {name}"
        )
    concurrent = check_fits(trials, *cluster_size(address))
    checked: set[tuple[str, str, str, str]] = set()
    for trial in trials:
        key = (trial.config.model, trial.config.dataset, trial.config.paraphrase, trial.config.method)
        if key not in checked:
            preflight(trial.config)
            checked.add(key)
    connect_ray(address)
    client = MlflowClient(tracking_uri)
    command = shlex.join(["mft", *sys.argv[1:]])
    state = create_runs(client, experiment or "mft-sweeps", name, kind, trials, storage, command)
    state.save()
    console.print(f"[bold]sweep[/] {name}: {len(trials)} trials, {concurrent} at a time")
    console.print(f"[dim]MLflow parent run {state.parent_run_id} at {tracking_uri}[/]")
    tuner = build_tuner(state, trials, concurrent, *early_stop)
    run_tuner(client, state, tuner)


def resume_sweep(name: str, storage: Path, address: str | None) -> None:
    """Continue unfinished trials from their checkpoints, in the same MLflow runs."""
    state = SweepState.load(name, storage)
    client = MlflowClient(state.tracking_uri)
    connect_ray(address)
    tuner = restore_tuner(state)
    client.update_run(state.parent_run_id, status="RUNNING")
    console.print(f"[bold]resuming sweep[/] {state.name}  [dim]parent run {state.parent_run_id}[/]")
    run_tuner(client, state, tuner)


def run_tuner(client: MlflowClient, state: SweepState, tuner: tune.Tuner) -> None:
    """Fit with the live table; settle run statuses; print failures and the best trial."""
    runs = {run_id: trial_id for trial_id, run_id in state.trials.items()}
    try:
        with live_trials(client, runs, console):
            results = tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C skips Tune's own clean stop
        results = None
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
        console.print(f"resume with: mft sweep --resume {state.name}")
        raise typer.Exit(130)
    if errors:
        raise typer.Exit(1)


def show_status(state: SweepState) -> None:
    client = MlflowClient(state.tracking_uri)
    runs = {run_id: trial_id for trial_id, run_id in state.trials.items()}
    console.print(trial_table(client, runs))
    parent = client.get_run(state.parent_run_id)
    best = parent.data.tags.get(BEST_TRIAL_TAG) or best_trial(client, state)
    console.print(f"sweep {state.name} ({state.kind}): {parent.info.status}; best trial: {best or '-'}")


def list_specs() -> None:
    table = Table(title="shipped sweep specs")
    table.add_column("kind")
    table.add_column("description")
    for spec in shipped_specs():
        table.add_row(spec.kind, spec.description)
    console.print(table)
