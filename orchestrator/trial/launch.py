"""`mft train`'s trial (driver side): a checked trial's MLflow run, Ray, the fit with a live view.

Every check has passed (`orchestrator.trial.checks.check_trial`) before this runs. The run is
found again by the trial id (configuration + storage): rerunning the same command after a crash
continues the run from its checkpoints; rerunning a finished one shows its result. Ctrl-C and
SIGTERM leave the run KILLED and print the command that continues it.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.cluster import cluster_size, connect_ray, fit_trial, names_cluster
from orchestrator.interruption import sigterm_as_interrupt
from orchestrator.tracking.links import print_browse
from orchestrator.tracking.names import STORAGE_TAG
from orchestrator.tracking.runs import (
    create_trial_run,
    ensure_experiment,
    find_trial_run,
    print_best,
    reopen_run,
)
from orchestrator.tracking.source import command_line, source_tags
from orchestrator.tracking.store import open_tracking_store
from orchestrator.trial.checks import CheckedTrial
from orchestrator.trial.driver import TrialFailed, run_trial
from orchestrator.trial.failures import record_failure, repair_run_folder, resume_command
from orchestrator.trial.live_view import live_trials
from orchestrator.trial.settings import trial_id, trial_name


def launch_trial(
    checked: CheckedTrial,
    *,
    tracking_uri: str,
    experiment: str | None,
    storage: str,
    address: str | None,
    console: Console,
    gpus_if_any: bool = False,
    notes: Sequence[str] = (),
) -> str:
    """Create (or find again) the trial's MLflow run and fit it with a live view; returns the run id.

    `gpus_if_any`: one GPU per worker when the cluster has enough, else CPU workers. `notes` are
    printed before the trial starts.
    """
    config = checked.config
    name, key = trial_name(config), trial_id(config, storage)
    for note in (*checked.notes, *notes):
        console.print(note)
    client = open_tracking_store(tracking_uri)
    experiment_id = ensure_experiment(client, experiment or f"mft-{checked.knowledge.name}")
    found = find_trial_run(client, experiment_id, key)
    if found is not None and found.info.status == "FINISHED":
        console.print(
            f"this trial already finished in MLflow run {found.info.run_id}; change --seed or --storage"
            " to train it again"
        )
        print_best(client, found.info.run_id, console)
        print_browse(console, tracking_uri, experiment_id, found.info.run_id)
        return found.info.run_id
    connect_ray(address, tracking_uri)
    if names_cluster(address):
        config = fit_trial(config, *cluster_size(address), gpus_if_any=gpus_if_any, local=False)
    else:
        config = config.replace(gpus_per_worker=checked.local_gpus_per_worker)
    if found is not None:
        run_id = reopen_run(client, found)
    else:
        tags = {STORAGE_TAG: storage, **source_tags(command_line())}
        run_id = create_trial_run(client, experiment_id, config, name, key, tags)
    config = config.replace(run_id=run_id)
    verb = "continuing" if found is not None else "trial"
    console.print(f"[bold]{verb}[/] {name}  [dim]MLflow run {run_id} at {tracking_uri}[/]", soft_wrap=True)
    print_browse(console, tracking_uri, experiment_id, run_id)
    try:
        with sigterm_as_interrupt(), live_trials(client, lambda: {name: client.get_run(run_id)}, console):
            run_trial(config, tracking_uri=tracking_uri, name=f"trial-{run_id}", storage=storage)
    except (KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C or SIGTERM: Ray Train aborted the trial
        console.print(f"[bold yellow]interrupted:[/] run {run_id} is KILLED; its checkpoints are kept")
        hint = f"continue from the last checkpoint with: {resume_command(storage)}"
        console.print(hint, highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(130) from exc
    except TrialFailed as exc:
        console.print(f"[bold red]failed:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except Exception as exc:  # a fault while running: one line here, the traceback in a log file
        reason, log = record_failure(client, run_id, exc)
        repair_run_folder(storage, f"trial-{run_id}")  # no partial checkpoint is left behind
        console.print(f"[bold red]failed:[/] {escape(reason)}", highlight=False, soft_wrap=True)
        console.print(f"full traceback: {log}", highlight=False, soft_wrap=True)
        hint = f"continue from the last checkpoint with: {resume_command(storage)}"
        console.print(hint, highlight=False, soft_wrap=True, markup=False)  # one line, to copy whole
        raise typer.Exit(1) from exc
    print_best(client, run_id, console)
    return run_id
