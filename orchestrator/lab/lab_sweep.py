"""The lab's sweep: the shipped `lab` spec on the lab's own data and base models (driver side).

Runs through exactly what `mft sweep` runs (`start_sweep`: preflight, MLflow parent and child
runs, Ray Tune over Ray Train trials with FSDP2, the live table), then reads each method's
best-checkpoint accuracies back from MLflow.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from mlflow.tracking import MlflowClient
from rich.table import Table

from orchestrator.lab.base_models import LabPaths, LabRecipe, lab_root, prepare_lab
from orchestrator.sweep_cli import console, start_sweep
from orchestrator.sweep_format import ModelChoice, SweepSpec, load_spec
from orchestrator.sweep_runner import SweepState
from orchestrator.sweep_spec import Overrides, PlannedTrial, expand
from training.errors import InputError
from training.knowledge import order_categories

LAB_KIND = "lab"
EXPERIMENT = "mft-lab"
DEFAULT_METHODS = ("ar", "masked", "dllm")
CONTROL_METHOD = "masked-random"
# --quick: 60 people instead of 100 and one seed; the tests run exactly this (tests/test_lab.py).
QUICK_RECIPE = LabRecipe(people=60, steps=1500, batch_size=64)
QUICK_TRIAL = {"epochs": 100, "eval_at": (0, 25, 50, 75, 100)}


@dataclass(frozen=True)
class LabSettings:
    """What `mft lab`'s flags choose."""

    seeds: int = 3
    people: int = 100
    methods: tuple[str, ...] = DEFAULT_METHODS
    quick: bool = False
    rebuild_base: bool = False
    data_dir: Path | None = None
    """Where the lab folder goes: `<data folder>/lab` (default: $MFT_DATA_DIR or the user cache)."""

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise InputError(f"--seeds must be at least 1, got {self.seeds}")

    @property
    def recipe(self) -> LabRecipe:
        if self.quick:
            return QUICK_RECIPE
        return LabRecipe(people=self.people)


def lab_spec(paths: LabPaths, settings: LabSettings) -> SweepSpec:
    """The shipped `lab` spec with its relative paths pointed into the lab folder, and its seeds."""
    spec = load_spec(LAB_KIND)
    folder = paths.data.parent
    models = {method: ModelChoice(str(folder / choice.name)) for method, choice in spec.models.items()}
    fixed = {**spec.fixed, **QUICK_TRIAL} if settings.quick else spec.fixed
    grid = {**spec.grid, "seed": tuple(range(settings.seeds))}
    return replace(spec, datasets=(str(folder / spec.datasets[0]),), models=models, fixed=fixed, grid=grid)


def lab_trials(paths: LabPaths, settings: LabSettings) -> list[PlannedTrial]:
    return expand(lab_spec(paths, settings), Overrides(methods=settings.methods))


def run_lab(settings: LabSettings, tracking_uri: str, storage: Path, name: str | None = None) -> SweepState:
    """Build (or reuse) the data and base models, run the lab sweep, return its saved state."""
    paths = prepare_lab(
        settings.recipe, lab_root(settings.data_dir), rebuild=settings.rebuild_base, console=console
    )
    trials = lab_trials(paths, settings)
    name = name or f"{LAB_KIND}-{datetime.now():%m%d-%H%M%S}"
    start_sweep(LAB_KIND, trials, name, EXPERIMENT, tracking_uri, str(storage), None, (None, 0))
    return SweepState.load(name, storage)


def method_scores(state: SweepState) -> dict[str, dict[str, list[float]]]:
    """method → best-checkpoint metric (`fwd`, `bwd`, `N2D-fwd`, ...) → one value per seed, from MLflow."""
    client = MlflowClient(state.tracking_uri)
    scores: dict[str, dict[str, list[float]]] = {}
    for run_id in state.trials.values():
        run = client.get_run(run_id)
        per_metric = scores.setdefault(run.data.params["method"], {})
        for key, value in run.data.metrics.items():
            if key.startswith("best/acc_"):
                per_metric.setdefault(key.removeprefix("best/acc_"), []).append(value)
    return scores


def mean_std(values: Sequence[float]) -> str:
    """`0.953 ± 0.012` (no ± for a single seed)."""
    mean = statistics.fmean(values)
    return f"{mean:.3f}" if len(values) < 2 else f"{mean:.3f} ± {statistics.stdev(values):.3f}"


def method_table(scores: dict[str, dict[str, list[float]]], methods: Sequence[str]) -> Table:
    """Accuracy per method on the new people, per direction and category, mean ± std over seeds."""
    seeds = max((len(metrics["fwd"]) for metrics in scores.values()), default=0)
    present = {key for metrics in scores.values() for key in metrics}
    columns = ["fwd", "bwd", *(c for c in order_categories(present) if c not in ("fwd", "bwd", "total"))]
    table = Table(title=f"new people, best checkpoint, {seeds} seed(s)")
    table.add_column("method")
    for column in columns:
        table.add_column(column, justify="right")
    for name in methods:
        if name in scores:
            table.add_row(name, *(mean_std(scores[name].get(column, [float("nan")])) for column in columns))
    return table
