"""`mft sweep run | list | status | resume`: sweeps on Ray Tune (driver side, thin).

`mft sweep KIND|FILE ...` is short for `mft sweep run KIND|FILE ...`. Each sub-command takes only
its own options, so a stray argument or an option that does not apply is refused in one line.
A spec is parsed and expanded by the pure `orchestrator.sweep` modules (a dry run never imports
Ray or torch); Ray is imported only when a sweep really starts.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from orchestrator.cli import options
from orchestrator.storage import resolve_storage
from orchestrator.sweep.expansion import Overrides, PlannedTrial, expand
from orchestrator.sweep.planning import plan_resources, render_plan
from orchestrator.sweep.request import EARLY_STOPPING, SweepRequest
from orchestrator.sweep.spec import load_spec, shipped_specs
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.store import resolve_tracking_uri
from orchestrator.trial.trial_file import trial_yaml
from training.errors import InputError, excerpt

console = Console()
# --tiny with --submit: the head builds its own tiny models; here the spec is only validated.
TINY_ON_THE_HEAD = {"causal": "tiny-causal", "bidirectional": "tiny-bidirectional"}
SUBMIT_HELP = (
    "Run it as a Ray job on the cluster's head, so it outlives this terminal; --address is then the"
    " jobs API's (e.g. http://127.0.0.1:8265 after `ray dashboard cluster.yaml`)."
)


class RunByDefault(TyperGroup):
    """`mft sweep lr ...` is `mft sweep run lr ...`: a first word that names no sub-command is a spec."""

    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: ANN201 (click's own type)
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


sweep_app = typer.Typer(
    cls=RunByDefault,
    no_args_is_help=True,
    help="Grids of trials on Ray Tune: one MLflow parent run per sweep and a child run per trial."
    " `mft sweep KIND|FILE ...` runs one (short for `mft sweep run ...`).",
)


@sweep_app.command("run")
def run(
    target: str = typer.Argument(
        ..., help="lr, mask-ratio, seeds, paraphrase, paper, control, or a YAML file."
    ),
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
    name: str = typer.Option(None, help="Sweep name \\[default: KIND-DATASET-TIME]."),
    experiment: str = typer.Option(
        None, help="MLflow experiment \\[default: mft-DATASET; mft-sweeps for several datasets]."
    ),
    tracking_uri: str = options.TRACKING_URI,
    storage: str = options.STORAGE,
    address: str = options.ADDRESS,
    submit: bool = typer.Option(False, help=SUBMIT_HELP),
) -> None:
    """Expand a sweep spec into trials and run them on Ray Tune (or --dry-run: show the plan).

    Examples: mft sweep lr --dataset namedesc --dry-run | mft sweep seeds --tiny |
    mft sweep my-sweep.yaml --set seed=3 --early-stop asha | mft sweep paper --submit --address http://127.0.0.1:8265
    """
    options.require_name("--experiment", experiment)
    options.require_name("--name", name)
    if early_stop not in EARLY_STOPPING:  # before the jobs API is asked or a model is built
        raise InputError(f"--early-stop must be asha, got {excerpt(early_stop)}")
    jobs = None
    if submit:  # the cluster is reachable before anything is built here
        from orchestrator.sweep.submission import connect_jobs_api

        jobs = connect_jobs_api(address)
    tiny_models = None
    if tiny:
        from orchestrator.tiny_models import cached_tiny_models

        tiny_models = TINY_ON_THE_HEAD if submit else cached_tiny_models()
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
    request = SweepRequest(
        kind=spec.kind,
        trials=tuple(trials),
        name=name or f"{spec.kind}-{Path(dataset or 'sweep').name}-{datetime.now():%m%d-%H%M%S}",
        tracking_uri=resolve_tracking_uri(tracking_uri),
        storage=resolve_storage(storage),
        experiment=experiment,
        address=address,
        early_stop=early_stop,
        grace_period=grace_period,
        max_concurrent=max_concurrent,
    )
    if show_config:
        print_configs(trials)
    if dry_run:
        from orchestrator.cluster import cluster_size

        gpus, cpus = cluster_size(address)
        render_plan(spec, trials, plan_resources(trials, gpus, cpus), console)
        if jobs is None:  # a submitted sweep is checked on the head, where its files are
            from orchestrator.sweep.launch import check_sweep

            concurrent, _ = check_sweep(request)  # exactly what a real start checks, creating nothing
            console.print(
                f"dry run: every check passed; {len(trials)} trials would start, {concurrent} at a time",
                highlight=False,
            )
        return
    if jobs is not None:
        from orchestrator.sweep.submission import submit_sweep

        spec_file = target if Path(target).is_file() else None
        submit_sweep(jobs, sys.argv[1:], request.name, spec_file, console)
        return
    from orchestrator.sweep.launch import start_sweep

    start_sweep(request, console)


@sweep_app.command("list")
def list_specs() -> None:
    """The shipped sweep specs. Example: mft sweep list"""
    table = Table(title="shipped sweep specs")
    table.add_column("kind")
    table.add_column("description")
    for spec in shipped_specs():
        table.add_row(spec.kind, spec.description)
    console.print(table)


@sweep_app.command("status")
def status(
    name: str = typer.Argument(..., help="The sweep's name (printed when it started) or its storage folder."),
    tracking_uri: str = typer.Option(
        None, help="MLflow URI to read it from \\[default: the sweep's own, e.g. use a port-forward]."
    ),
    storage: str = options.STORAGE,
) -> None:
    """Where a sweep stands: each trial's status and scores, from MLflow.

    Example: mft sweep status lr-namedesc-1122-0930 --storage s3://bucket/mft
    """
    from orchestrator.sweep.launch import show_status

    show_status(SweepState.load(name, resolve_storage(storage)), console, tracking_uri)


@sweep_app.command("resume")
def resume(
    name: str = typer.Argument(..., help="The sweep's name (printed when it started) or its storage folder."),
    storage: str = options.STORAGE,
    address: str = options.ADDRESS,
    submit: bool = typer.Option(False, help=SUBMIT_HELP),
    dry_run: bool = typer.Option(
        False, help="Check everything a resume checks and list the trials it would continue; run nothing."
    ),
) -> None:
    """Continue an interrupted sweep: unfinished trials from their checkpoints, in the same MLflow runs.

    Example: mft sweep resume lr-namedesc-1122-0930 --dry-run
    """
    if submit and dry_run:
        raise InputError("--dry-run checks a resume here; leave out --submit")
    if submit:
        from orchestrator.sweep.submission import connect_jobs_api, submit_sweep

        submit_sweep(connect_jobs_api(address), sys.argv[1:], None, None, console)
        return
    from orchestrator.sweep.launch import resume_sweep

    resume_sweep(name, resolve_storage(storage), address, console, dry_run=dry_run)


def print_configs(trials: list[PlannedTrial]) -> None:
    """Each trial's resolved TrialConfig as a trial YAML, under a comment naming the trial."""
    for trial in trials:
        typer.echo(f"# trial {trial.trial_id}")
        typer.echo(trial_yaml(trial.config))
