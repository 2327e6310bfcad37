"""The lab's sweep: the shipped `lab` spec on the lab's own data and base models (driver side).

Runs through exactly what `mft sweep` runs (`start_sweep`: preflight, MLflow parent and child
runs, Ray Tune over Ray Train trials with FSDP2, the live table), then reads each method's
best-checkpoint accuracies back from MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from mlflow.tracking import MlflowClient
from rich.console import Console

from orchestrator.lab.base_models import LabPaths, LabRecipe, lab_root, prepare_lab
from orchestrator.sweep.expansion import Overrides, PlannedTrial, expand
from orchestrator.sweep.launch import start_sweep
from orchestrator.sweep.request import SweepRequest
from orchestrator.sweep.spec import ModelChoice, SweepSpec, load_spec
from orchestrator.sweep.state import SweepState
from training.errors import InputError

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
    folder = paths.people.parent
    models = {method: ModelChoice(str(folder / choice.name)) for method, choice in spec.models.items()}
    fixed = {**spec.fixed, **QUICK_TRIAL} if settings.quick else spec.fixed
    grid = {**spec.grid, "seed": tuple(range(settings.seeds))}
    return replace(spec, datasets=(str(folder / spec.datasets[0]),), models=models, fixed=fixed, grid=grid)


def lab_trials(paths: LabPaths, settings: LabSettings) -> list[PlannedTrial]:
    return expand(lab_spec(paths, settings), Overrides(methods=settings.methods))


def run_lab(
    settings: LabSettings,
    tracking_uri: str,
    storage: str,
    name: str | None = None,
    console: Console | None = None,
) -> SweepState:
    """Build (or reuse) the data and base models, run the lab sweep, return its saved state."""
    console = console or Console()
    paths = prepare_lab(
        settings.recipe, lab_root(settings.data_dir), rebuild=settings.rebuild_base, console=console
    )
    trials = lab_trials(paths, settings)
    request = SweepRequest(
        kind=LAB_KIND,
        trials=tuple(trials),
        name=name or f"{LAB_KIND}-{datetime.now():%m%d-%H%M%S}",
        tracking_uri=tracking_uri,
        storage=storage,
        experiment=EXPERIMENT,
    )
    return start_sweep(request, console)


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
