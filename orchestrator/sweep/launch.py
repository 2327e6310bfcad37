"""Starting, resuming and inspecting sweeps on a Ray cluster (driver side).

`mft sweep` calls these after its pure part (spec → trials → `SweepRequest`) has run: the store,
the resources and every trial (`orchestrator.trial.checks.check_trials`) are checked once, before
Ray, Tune or MLflow are imported, a local Ray starts or an MLflow run is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from orchestrator import storage
from orchestrator.cluster import check_cluster_answers, cluster_size, connect_ray
from orchestrator.interruption import sigterm_as_interrupt
from orchestrator.sweep.planning import plan_resources
from orchestrator.sweep.request import SweepRequest
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.links import print_browse
from orchestrator.tracking.names import BEST_TRIAL_TAG
from orchestrator.tracking.source import command_line
from orchestrator.tracking.store import check_tracking_store, open_tracking_store, require_store
from orchestrator.trial.checks import check_trials
from training.errors import InputError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from ray import tune

DEFAULT_EXPERIMENT = "mft-sweeps"


def check_fits(request: SweepRequest, gpus: float, cpus: float) -> int:
    """How many trials run at once; refuse a sweep the cluster can never run, with the flag that can."""
    plan = plan_resources(request.trials, gpus, cpus)
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
    return min(plan.concurrent, request.max_concurrent or plan.concurrent)


def check_sweep(request: SweepRequest) -> tuple[int, set[str]]:
    """Every check of a sweep's start, in order, creating nothing (a dry run runs exactly these):
    (trials at once, the knowledge sets' names)."""
    location = request.storage
    if storage.exists(storage.join(location, request.name)):
        raise InputError(
            f"a sweep named {request.name!r} already exists in {location}; resume it with"
            f" mft sweep resume {request.name} --storage {location}"
        )
    check_tracking_store(request.tracking_uri)  # seconds: a dead server fails before anything loads
    concurrent = check_fits(request, *cluster_size(request.address, request.tracking_uri))
    return concurrent, check_trials([trial.config for trial in request.trials], storage=location)


def start_sweep(request: SweepRequest, console: Console) -> SweepState:
    """Check everything, create the MLflow runs, then run the Tuner with a live table."""
    concurrent, datasets = check_sweep(request)
    from orchestrator.sweep.runs import create_runs
    from orchestrator.sweep.tuning import build_tuner  # Ray Tune: every check has passed

    connect_ray(request.address, request.tracking_uri)
    client = open_tracking_store(request.tracking_uri)
    experiment = request.experiment or default_experiment(datasets)
    state = create_runs(client, experiment, request, command_line())
    state.save()
    console.print(f"[bold]sweep[/] {request.name}: {len(request.trials)} trials, {concurrent} at a time")
    console.print(
        f"[dim]MLflow experiment {experiment}, parent run {state.parent_run_id} at {request.tracking_uri}[/]"
    )
    print_link(state, console)
    tuner = build_tuner(state, request.trials, concurrent, request.early_stop, request.grace_period)
    return run_tuner(client, state, tuner, console)


def default_experiment(datasets: set[str]) -> str:
    """`mft-DATASET`, where `mft train` logs runs on that dataset too; a sweep over several: mft-sweeps."""
    return f"mft-{next(iter(datasets))}" if len(datasets) == 1 else DEFAULT_EXPERIMENT


def resume_sweep(
    name: str, location: str, address: str | None, console: Console, dry_run: bool = False
) -> None:
    """Continue unfinished trials from their checkpoints, in the same MLflow runs (`dry_run`: every
    check of that, then the trials it would continue; nothing starts)."""
    state = SweepState.load(name, location)
    check_tracking_store(state.tracking_uri)
    check_cluster_answers(address)
    from orchestrator.sweep.tuning import restore_tuner, trials_to_continue

    again = trials_to_continue(state)  # refuses a sweep whose Tune state is missing
    if dry_run:
        shown = ", ".join(again[:5]) + (f" and {len(again) - 5} more" if len(again) > 5 else "")
        console.print(
            f"dry run: sweep {state.name} would continue {len(again)} of {len(state.trials)} trials"
            f"{': ' + shown if again else ''}; nothing started",
            highlight=False,
        )
        return
    client = open_tracking_store(state.tracking_uri)
    connect_ray(address, state.tracking_uri)
    tuner = restore_tuner(state)
    client.update_run(state.parent_run_id, status="RUNNING")
    console.print(f"[bold]resuming sweep[/] {state.name}  [dim]parent run {state.parent_run_id}[/]")
    print_link(state, console)
    run_tuner(client, state, tuner, console)


def print_link(state: SweepState, console: Console, tracking_uri: str | None = None) -> None:
    """Where the sweep is in the MLflow UI: its runs, and its parent run (the summary)."""
    uri = tracking_uri or state.tracking_uri
    print_browse(console, uri, state.experiment_id, state.parent_run_id, "sweep run")


def run_tuner(client: MlflowClient, state: SweepState, tuner: tune.Tuner, console: Console) -> SweepState:
    """Fit with the live table; settle run statuses; print failures and the best trial; return the
    state with every started trial's run (saved)."""
    from orchestrator.sweep.runs import best_trial, child_runs, finish_runs, with_child_runs
    from orchestrator.sweep.tuning import unfinished_trials
    from orchestrator.trial.live_view import live_trials

    try:  # the runs are searched again at every refresh: child runs appear as trials start
        with sigterm_as_interrupt(), live_trials(client, lambda: child_runs(client, state), console):
            results = tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM) skips Tune's own clean stop
        results = None
    state = with_child_runs(state, child_runs(client, state))
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
        console.print(f"best trial: [bold]{best}[/] (MLflow run {state.trials[best]})", soft_wrap=True)
    console.print(f"sweep {state.name} {status}")
    print_link(state, console)
    if interrupted:
        console.print(f"resume with: mft sweep resume {state.name} --storage {state.storage}", soft_wrap=True)
        raise typer.Exit(130)
    if errors:
        raise typer.Exit(1)
    return state


def show_status(state: SweepState, console: Console, tracking_uri: str | None = None) -> None:
    """The trials' table from MLflow: the sweep's own server, or `tracking_uri` (e.g. a port-forward)."""
    from mlflow.tracking import MlflowClient

    from orchestrator.sweep.runs import best_trial, child_runs, with_child_runs
    from orchestrator.trial.live_view import trial_table

    require_store(tracking_uri or state.tracking_uri)  # a dead server: one line in seconds, not retries
    client = MlflowClient(tracking_uri or state.tracking_uri)
    runs = child_runs(client, state)
    console.print(trial_table(client, runs))
    state = with_child_runs(state, runs)
    parent = client.get_run(state.parent_run_id)
    best = parent.data.tags.get(BEST_TRIAL_TAG) or best_trial(client, state)
    console.print(f"sweep {state.name} ({state.kind}): {parent.info.status}; best trial: {best or '-'}")
    print_link(state, console, tracking_uri)
