"""What a sweep will cost and how it is shown before it runs (driver side, pure; reads data files only).

The GPU-hour figure is a rough budget, not a promise: training only, from epochs x documents x
tokens per document, with the throughput stated in the plan's `assumption`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from training.errors import InputError
from training.knowledge import load_knowledge_set
from training.method_registry import method_info

if TYPE_CHECKING:
    from orchestrator.sweep.expansion import PlannedTrial
    from orchestrator.sweep.spec import SweepSpec

TOKENS_PER_WORD = 1.3  # rough for Llama-3/LLaDA tokenizers on English prose; no tokenizer loaded
TOKENS_PER_GPU_SECOND = 3000.0  # 8B full fine-tune, FSDP2, bf16, short padded documents, H100
SECONDS_PER_STEP = 0.5  # per optimizer step regardless of tokens: all-gathers, AdamW over 8B params
ASSUMPTION = (
    f"rough: {TOKENS_PER_GPU_SECOND:,.0f} training tokens/s per H100 plus {SECONDS_PER_STEP:g} s per"
    f" optimizer step (8B full fine-tune, FSDP2); tokens = {TOKENS_PER_WORD:g} x words;"
    " evaluation not counted"
)


@dataclass(frozen=True)
class ResourcePlan:
    """One sweep's footprint; per-trial figures are the largest over its trials."""

    trials: int
    workers_per_trial: int
    gpus_per_trial: float
    concurrent: int
    """Trials that fit on the cluster at once (0: not even one; the caller decides)."""
    gpu_hours: float
    assumption: str
    """How `gpu_hours` was estimated, and which trials it leaves out."""
    uncounted: int = 0
    """GPU trials left out of `gpu_hours` because their data files are absent (documents unknown)."""


def plan_resources(
    trials: Sequence[PlannedTrial], cluster_gpus: float, cluster_cpus: float, data_dir: Path | None = None
) -> ResourcePlan:
    """Workers and GPUs per trial, how many trials run at once here, and a GPU-hour budget."""
    if not trials:
        return ResourcePlan(0, 0, 0.0, 0, 0.0, "no trials")
    workers = max(trial.config.workers for trial in trials)
    gpus = max(trial.config.workers * trial.config.gpus_per_worker for trial in trials)
    # GPU workers reserve GPUs only; CPU workers one CPU each (orchestrator.trial.launch.build_trainer).
    fit = cluster_gpus / gpus if gpus > 0 else cluster_cpus / workers
    concurrent = max(0, min(len(trials), math.floor(fit + 1e-9)))
    hours, unknown = _gpu_hours(trials, data_dir)
    assumption = _assumption(trials, unknown, gpus)
    return ResourcePlan(len(trials), workers, gpus, concurrent, hours, assumption, len(unknown))


def _gpu_hours(trials: Sequence[PlannedTrial], data_dir: Path | None) -> tuple[float, list[PlannedTrial]]:
    """Summed over the GPU trials whose documents can be read; the others are returned as unknown."""
    sizes: dict[tuple[str, str], tuple[int, float] | None] = {}
    hours, unknown = 0.0, []
    for trial in trials:
        config = trial.config
        if config.gpus_per_worker == 0:
            continue
        key = (config.dataset, config.paraphrase)
        if key not in sizes:
            folder = data_dir or (Path(config.data_dir) if config.data_dir else None)
            sizes[key] = corpus_size(config.dataset, config.paraphrase, folder)
        size = sizes[key]
        if size is None:
            unknown.append(trial)
        else:
            hours += trial_gpu_hours(trial, *size)
    return hours, unknown


def corpus_size(dataset: str, paraphrase: str, data_dir: Path | None) -> tuple[int, float] | None:
    """(documents, estimated tokens) of one training condition; None when its files are absent."""
    try:
        documents = load_knowledge_set(dataset, paraphrase, data_dir).documents
    except InputError:
        return None
    return len(documents), TOKENS_PER_WORD * sum(len(text.split()) for text in documents)


def trial_gpu_hours(trial: PlannedTrial, documents: int, tokens: float) -> float:
    """Steps x fixed step cost + tokens / throughput, on all of the trial's GPUs."""
    config = trial.config
    gpus = config.workers * config.gpus_per_worker
    # DistributedSampler: every rank gets ceil(documents / workers) of them, in batches.
    steps = config.epochs * math.ceil(math.ceil(documents / config.workers) / config.batch_size)
    seen = config.epochs * tokens * method_info(config.method).document_copies
    seconds = steps * SECONDS_PER_STEP + seen / (TOKENS_PER_GPU_SECOND * gpus)
    return seconds * gpus / 3600


def _assumption(trials: Sequence[PlannedTrial], unknown: list[PlannedTrial], gpus: float) -> str:
    if gpus == 0:
        return "CPU trials: no GPU-hours"
    text = ASSUMPTION
    if unknown:
        conditions = sorted({f"{Path(t.config.dataset).name}/{t.config.paraphrase}" for t in unknown})
        text += (
            f"; documents unknown for {', '.join(conditions)} (data files absent):"
            f" {len(unknown)} of {len(trials)} trials not counted"
        )
    return text


def render_plan(
    spec: SweepSpec, trials: Sequence[PlannedTrial], plan: ResourcePlan, console: Console
) -> None:
    """The --dry-run output: one row per trial (its id and varying values), then the resource plan."""
    columns = list(trials[0].varying) if trials else []
    cells = {key: [show_value(key, trial.varying[key]) for trial in trials] for key in columns}
    shown = _fitting(cells, max((len(trial.trial_id) for trial in trials), default=5), console.width)
    table = Table(title=f"sweep {spec.kind}: {len(trials)} trials", caption=spec.description or None)
    table.add_column("trial", no_wrap=True)
    for key in shown:
        table.add_column(key, no_wrap=True)
    for index, trial in enumerate(trials):
        table.add_row(trial.trial_id, *(cells[key][index] for key in shown))
    console.print(table)
    if len(shown) < len(columns):
        left_out = ", ".join(key for key in columns if key not in shown)
        console.print(f"[dim]not shown at this width: {left_out}[/]", highlight=False)
    fits = f"{plan.concurrent} at a time on this cluster" if plan.concurrent else "none fits on this cluster"
    hours = f"~{plan.gpu_hours:,.1f} GPU-hours"
    if plan.uncounted:
        hours = (
            "GPU-hours unknown" if plan.uncounted == plan.trials else f"{hours} + {plan.uncounted} uncounted"
        )
    console.print(
        f"[bold]plan[/] {plan.trials} trials x {plan.workers_per_trial} workers,"
        f" {plan.gpus_per_trial:g} GPUs per trial; {fits}; {hours}",
        highlight=False,
    )
    console.print(f"[dim]{plan.assumption}[/]", highlight=False)


def _fitting(cells: dict[str, list[str]], id_width: int, width: int) -> list[str]:
    """The columns, in order, that fit beside the whole trial ids: ids name the runs, never cut them."""
    used, shown = id_width + 4, []  # a column costs its text + 2 padding + 1 border; +1 closing border
    for key, values in cells.items():
        cost = max(len(key), *map(len, values)) + 3
        if used + cost <= width:
            shown.append(key)
            used += cost
    return shown


def show_value(key: str, value: Any) -> str:
    """A table cell: `0.05:0.95` for a drawn t, the folder name of a dataset, long lists shortened."""
    if key == "mask_ratio":
        lo, hi = value
        return f"{lo:g}" if lo == hi else f"{lo:g}:{hi:g}"
    if key in ("dataset", "model"):
        return Path(value).name  # hub ids and folders alike: the name is what tells them apart
    if isinstance(value, tuple):
        items = [f"{item:g}" if isinstance(item, float) else str(item) for item in value]
        return " ".join(items if len(items) <= 6 else [*items[:3], "…", items[-1]])
    return f"{value:g}" if isinstance(value, float) else str(value)
