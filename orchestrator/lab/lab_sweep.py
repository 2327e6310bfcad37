"""The lab's sweep: the shipped `lab` spec on the lab's own data and base models (driver side).

Runs through exactly what `mft sweep` runs (`start_sweep`: preflight, MLflow parent and child
runs, Ray Tune over Ray Train trials with FSDP2, the live table), on the reporting people, or with
`--tune` on the tuning people the shipped settings were chosen on.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from mlflow.tracking import MlflowClient
from rich.console import Console

from orchestrator.lab.base_models import LabPaths, LabRecipe, lab_root, prepare_lab
from orchestrator.lab.chance import chance_floor
from orchestrator.lab.progress import sweep_lines
from orchestrator.lab.reuse import finished_lab, lab_key, mark_reusable
from orchestrator.lab.summary import LabRow, closing_lines, lab_rows, lab_table
from orchestrator.lab.synthetic import TUNE_FOLDER, draw_populations
from orchestrator.report import report_sweeps
from orchestrator.report.building import DEFAULT_OUT
from orchestrator.report.trials import load_trial
from orchestrator.storage import resolve_storage
from orchestrator.sweep.expansion import Overrides, PlannedTrial, expand
from orchestrator.sweep.launch import start_sweep
from orchestrator.sweep.request import SweepRequest
from orchestrator.sweep.spec import ModelChoice, SweepSpec, load_spec
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.links import print_browse
from orchestrator.tracking.store import check_tracking_store, open_tracking_store, resolve_tracking_uri
from training.errors import InputError
from training.knowledge import load_knowledge_set

LAB_KIND = "lab"
EXPERIMENT = "mft-lab"
DEFAULT_METHODS = ("ar", "masked", "dllm")
CONTROL_METHOD = "masked-random"
REPORT_FORMATS = ("md", "csv", "html")
# Ray settings for the lab's own local Ray, read by its processes when they start (a user's value wins):
# Ray Train's controller polls its workers every 2 s, and a trial's end waits for the next poll,
# where a lab trial lasts under a minute; each poll costs the worker CPU (every 0.25 s: ~5 s a
# trial), so 1 s. A preemption watcher (one more process per trial) has nothing to watch on one machine.
LAB_RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "1", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
POPULATIONS = ("report", "tune")
"""Whom the lab fine-tunes on and reports: the reporting people, or the tuning people (`--tune`)."""


@dataclass(frozen=True)
class LabSettings:
    """What `mft lab`'s flags choose."""

    seeds: int = 3
    """Seeds 0 .. seeds-1 per method; `--quick` is seeds=1 (the full lab's first seed)."""
    people: int = 100
    methods: tuple[str, ...] = DEFAULT_METHODS
    population: str = "report"
    rebuild_base: bool = False
    rerun: bool = False
    """Run the trials even when the same lab already finished in the store (`orchestrator.lab.reuse`)."""
    data_dir: Path | None = None
    """Where the lab folder goes: `<data folder>/lab` (default: $MFT_DATA_DIR or the user cache)."""

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise InputError(f"--seeds must be at least 1, got {self.seeds}")
        if self.population not in POPULATIONS:
            raise ValueError(f"population must be one of {POPULATIONS}, got {self.population!r}")

    @property
    def recipe(self) -> LabRecipe:
        return LabRecipe(people=self.people)


def lab_spec(paths: LabPaths, settings: LabSettings) -> SweepSpec:
    """The shipped `lab` spec with its relative paths pointed into the lab folder, and its seeds."""
    spec = load_spec(LAB_KIND)
    folder = paths.people.parent
    models = {method: ModelChoice(str(folder / choice.name)) for method, choice in spec.models.items()}
    people = folder / spec.datasets[0]
    dataset = people / TUNE_FOLDER if settings.population == "tune" else people
    grid = {**spec.grid, "seed": tuple(range(settings.seeds))}
    return replace(spec, datasets=(str(dataset),), models=models, grid=grid)


def lab_trials(paths: LabPaths, settings: LabSettings) -> list[PlannedTrial]:
    return expand(lab_spec(paths, settings), Overrides(methods=settings.methods))


@dataclass(frozen=True)
class LabRun:
    """A finished lab sweep and the folders it ran on."""

    state: SweepState
    paths: LabPaths
    settings: LabSettings
    reused: bool = False
    """Found finished in the store (`orchestrator.lab.reuse`), not run now."""

    @property
    def dataset(self) -> Path:
        return Path(lab_spec(self.paths, self.settings).datasets[0])


def run_lab(
    settings: LabSettings,
    tracking_uri: str,
    storage: str,
    name: str | None = None,
    console: Console | None = None,
) -> LabRun:
    """Write (or reuse) the data and base models, run the lab sweep (or find the same one finished),
    return it."""
    console = console or Console()
    paths = prepare_lab(
        settings.recipe, lab_root(settings.data_dir), rebuild=settings.rebuild_base, console=console
    )
    trials = lab_trials(paths, settings)
    key = lab_key(trials, storage, paths.people.parent)
    if not settings.rerun:
        check_tracking_store(tracking_uri)
        found = finished_lab(open_tracking_store(tracking_uri), EXPERIMENT, key, storage)
        if found is not None:
            console.print(
                f"this lab already ran: sweep {found.name}, every trial finished, with the same trials, data,"
                " base models and code; its results follow (mft lab --rerun runs it again)",
                highlight=False,
                soft_wrap=True,
            )
            return LabRun(found, paths, settings, reused=True)
    prefix = LAB_KIND if settings.population == "report" else f"{LAB_KIND}-{settings.population}"
    request = SweepRequest(
        kind=LAB_KIND,
        trials=tuple(trials),
        name=name or f"{prefix}-{datetime.now():%m%d-%H%M%S}",
        tracking_uri=tracking_uri,
        storage=storage,
        experiment=EXPERIMENT,
    )
    for variable, value in LAB_RAY_ENV.items():
        os.environ.setdefault(variable, value)
    with sweep_lines(console, tracking_uri, EXPERIMENT, request.name, enabled=not console.is_terminal):
        state = start_sweep(request, console)
    mark_reusable(open_tracking_store(tracking_uri), state, key)
    return LabRun(state, paths, settings)


def lab_summary(run: LabRun) -> list[LabRow]:
    """The lab's table rows from MLflow: chance floor, base models before fine-tuning, each method."""
    client = MlflowClient(run.state.tracking_uri)
    trials = [load_trial(client, client.get_run(run_id)) for run_id in run.state.trials.values() if run_id]
    questions = load_knowledge_set(str(run.dataset), "none").questions
    seen = draw_populations(run.settings.recipe.people, run.settings.recipe.seed).seen
    return lab_rows([trial for trial in trials if trial.evaluated], chance_floor(questions, seen))


def run_lab_and_report(
    settings: LabSettings, tracking_uri: str | None, storage: str, report_dir: str | None, force: bool
) -> None:
    """`mft lab`: the sweep, `mft report`'s tables, then the lab's own table and what it shows."""
    console = Console()
    start = time.perf_counter()
    uri = resolve_tracking_uri(tracking_uri)
    run = run_lab(settings, uri, resolve_storage(storage), console=console)
    # a reused sweep's report files are where its first run wrote them: print its tables, keep them
    written = report_dir is None and run.reused and any((DEFAULT_OUT / run.state.name).glob("*"))
    report_sweeps(uri, [run.state.name], report_dir, REPORT_FORMATS, console, force=force, write=not written)
    rows = lab_summary(run)
    console.print(lab_table(rows, settings.population))
    for line in closing_lines(rows, settings.population):
        console.print(line, highlight=False)
    console.print(f"lab finished in {time.perf_counter() - start:.0f} s; browse it in MLflow:")
    print_browse(console, uri, run.state.experiment_id, run.state.parent_run_id, "sweep run")
