"""`mft sweep`: expand a sweep spec, show the plan, run it on Ray Tune, resume it, show its status.

Thin: the spec is parsed and expanded by the pure `orchestrator.sweep` modules (a dry run never
imports Ray or torch); Ray is imported only when a sweep really starts.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.cli import options
from orchestrator.storage import resolve_storage
from orchestrator.sweep.expansion import Overrides, PlannedTrial, expand
from orchestrator.sweep.planning import local_cluster, plan_resources, render_plan
from orchestrator.sweep.spec import load_spec, shipped_specs
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.uri import resolve_tracking_uri
from orchestrator.trial.trial_file import trial_yaml
from training.errors import InputError

console = Console()


def sweep(
    target: str = typer.Argument(
        None, help="lr, mask-ratio, seeds, paraphrase, paper, control, a YAML file; or list / status."
    ),
    sweep_name: str = typer.Argument(None, help="With `status`: the sweep's name."),
    dataset: str = typer.Option(
        None, help="Run the spec on this knowledge set \\[default: the spec's datasets]."
    ),
    method: list[str] = typer.Option(None, help="Only these methods (repeatable) \\[default: the spec's]."),
    model: str = typer.Option(
        None, help="One model for every method \\[default: the spec's, else the paper's per method]."
    ),
    set_: list[str] = typer.Option(
        None, "--set", help="key=value for every trial (repeatable), e.g. --set seed=3 \\[default: none]."
    ),
    workers: int = typer.Option(None, help="Workers per trial \\[default: the spec's]."),
    gpus_per_worker: float = typer.Option(
        None, help="GPUs per worker, 0 = CPU workers \\[default: the spec's]."
    ),
    tiny: bool = typer.Option(
        False, help="Tiny local models on 2 CPU workers per trial: the sweep on a laptop."
    ),
    dry_run: bool = typer.Option(False, help="Print the trial table and the resource plan; run nothing."),
    show_config: bool = typer.Option(
        False, help="Also print each trial's resolved configuration (YAML, as `mft train --config` reads it)."
    ),
    early_stop: str = typer.Option(
        None, help="asha: stop weak trials early on acc/total \\[default: none, every trial runs to the end]."
    ),
    grace_period: int = typer.Option(2, help="ASHA grace period, in evaluation points."),
    max_concurrent: int = typer.Option(
        None, min=1, help="Trials at once, at most \\[default: as many as the cluster fits]."
    ),
    resume: str = typer.Option(
        None, help="Continue the sweep of this name (or storage path) \\[default: start a new sweep]."
    ),
    name: str = typer.Option(None, help="Sweep name \\[default: KIND-DATASET-TIME]."),
    experiment: str = typer.Option(
        None, help="MLflow experiment \\[default: mft-DATASET; mft-sweeps for several datasets]."
    ),
    tracking_uri: str = options.TRACKING_URI,
    storage: str = options.STORAGE,
    address: str = options.ADDRESS,
    submit: bool = typer.Option(
        False,
        help="Run the sweep as a Ray job on the cluster's head, so it outlives this terminal;"
        " --address is then the jobs API's (e.g. http://127.0.0.1:8265 after `ray dashboard cluster.yaml`).",
    ),
) -> None:
    """Run a grid of trials on Ray Tune, one MLflow parent run per sweep and a child run per trial.

    Examples: mft sweep lr --dataset namedesc --dry-run | mft sweep seeds --tiny | mft sweep list |
    mft sweep status lr-namedesc-1122-0930 | mft sweep --resume lr-namedesc-1122-0930 |
    mft sweep paper --submit --address http://127.0.0.1:8265
    """
    location = resolve_storage(storage)
    if submit and target in ("list", "status"):
        raise InputError(f"--submit runs a sweep as a Ray job; `mft sweep {target}` runs here without it")
    if resume and submit:
        from orchestrator.sweep.submission import submit_sweep

        submit_sweep(sys.argv[1:], None, None, address, console)
    elif resume:
        from orchestrator.sweep.launch import resume_sweep

        resume_sweep(resume, location, address, console)
    elif target == "list":
        list_specs()
    elif target == "status":
        if not sweep_name:
            raise InputError("usage: mft sweep status NAME (the name printed when the sweep started)")
        from orchestrator.sweep.launch import show_status

        show_status(SweepState.load(sweep_name, location), console, tracking_uri)
    elif target is None:
        raise InputError("name a sweep kind (mft sweep list shows them), a YAML file, or --resume NAME")
    else:
        if early_stop not in (None, "asha"):
            raise InputError(f"--early-stop must be asha, got {early_stop!r}")
        tiny_models = None
        if tiny:
            from orchestrator.tiny_models import cached_tiny_models

            tiny_models = cached_tiny_models()
        overrides = Overrides(
            dataset=dataset,
            methods=tuple(method or ()),
            model=model,
            sets=tuple(set_ or ()),
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            tiny_models=tiny_models,
        )
        spec = load_spec(target)
        trials = expand(spec, overrides)
        if show_config:
            print_configs(trials)
        if dry_run:
            gpus, cpus = local_cluster()
            if address or os.environ.get("RAY_ADDRESS"):
                from orchestrator.sweep.launch import cluster_size

                gpus, cpus = cluster_size(address)
            render_plan(spec, trials, plan_resources(trials, gpus, cpus), console)
            return
        sweep_name = name or f"{spec.kind}-{Path(dataset or 'sweep').name}-{datetime.now():%m%d-%H%M%S}"
        if submit:
            from orchestrator.sweep.submission import submit_sweep

            spec_file = target if Path(target).is_file() else None
            submit_sweep(sys.argv[1:], sweep_name, spec_file, address, console)
            return
        from orchestrator.trial.checks import check_tracking_store

        uri = resolve_tracking_uri(tracking_uri)
        check_tracking_store(uri)  # a dead server fails in seconds, before Ray is even imported
        from orchestrator.sweep.launch import start_sweep

        start_sweep(
            spec.kind,
            trials,
            sweep_name,
            experiment,
            uri,
            location,
            address,
            (early_stop, grace_period),
            console,
            max_concurrent,
        )


def print_configs(trials: list[PlannedTrial]) -> None:
    """Each trial's resolved TrialConfig as a trial YAML, under a comment naming the trial."""
    for trial in trials:
        typer.echo(f"# trial {trial.trial_id}")
        typer.echo(trial_yaml(trial.config))


def list_specs() -> None:
    table = Table(title="shipped sweep specs")
    table.add_column("kind")
    table.add_column("description")
    for spec in shipped_specs():
        table.add_row(spec.kind, spec.description)
    console.print(table)
