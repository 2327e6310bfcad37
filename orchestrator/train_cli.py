"""`mft train` (one trial on Ray Train) and `mft export` (best checkpoint → HF folder). Driver side."""

from __future__ import annotations

import uuid
from pathlib import Path

import ray
import typer
from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.table import Table

from orchestrator.progress import live_trials
from orchestrator.tracking import (
    BEST_CHECKPOINT_TAG,
    STORAGE_TAG,
    ensure_experiment,
    resolve_tracking_uri,
    start_trial_run,
)
from orchestrator.trial import check_resources, connect_ray, preflight, run_trial
from training.checkpointing import export_checkpoint
from training.config import TrialConfig
from training.errors import InputError
from training.knowledge import byo_folder, resolve_data_dir

console = Console()


def parse_mask_ratio(text: str) -> tuple[float, float]:
    """`0.75` (fixed t) or `0.05:0.95` (t drawn per step)."""
    try:
        parts = [float(part) for part in text.split(":")]
    except ValueError as exc:
        raise InputError(
            f"--mask-ratio {text!r} is not a number or LO:HI range, e.g. 0.75 or 0.05:0.95"
        ) from exc
    if len(parts) not in (1, 2):
        raise InputError(f"--mask-ratio {text!r}: give one value (fixed t) or LO:HI")
    return (parts[0], parts[-1])


def parse_epochs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise InputError(f"--eval-at {text!r} must be comma-separated epochs, e.g. 0,1,2,4,8") from exc


def train(
    dataset: str = typer.Option("namedesc", help="namedesc, bio, wiki, or a bring-your-own folder."),
    method: str = typer.Option("masked", help="ar, masked, masked-random or dllm."),
    model: str = typer.Option(..., help="Model folder or hub id (from_pretrained)."),
    lr: float = typer.Option(None, help="Peak learning rate [default: the paper's for the method]."),
    epochs: int = typer.Option(128, help="Passes over the documents."),
    eval_at: str = typer.Option(
        None, help="Epochs to evaluate at, e.g. 0,1,2,4 [default: geometric to --epochs]."
    ),
    mask_ratio: str = typer.Option("0.05:0.95", help="Fixed t (0.75) or a LO:HI range drawn per step."),
    seed: int = typer.Option(0),
    paraphrase: str = typer.Option("none", help="none, same-order or permute-order."),
    batch_size: int = typer.Option(16, help="Documents per worker per step."),
    workers: int = typer.Option(1, help="Ray Train workers (one GPU each on a GPU cluster)."),
    gpus_per_worker: float = typer.Option(None, help="0 = CPU/gloo [default: 1 if the cluster has GPUs]."),
    precision: str = typer.Option("bf16", help="bf16 (FSDP2 mixed precision) or fp32."),
    mask_token: str = typer.Option(None, help="Mask token or id [default: the model's own]."),
    eval_limit: int = typer.Option(None, help="Evaluate on the first N questions only."),
    max_new_tokens: int = typer.Option(128, help="Answer length at evaluation."),
    scoring: str = typer.Option(
        "authors",
        help="ROUGE-1 recall rule: authors (default: the authors' code, which computed the paper's Table 3)"
        " or rouge-score (case-folded, repeats counted).",
    ),
    trust_remote_code: bool = typer.Option(False, help="Allow the model's own code (LLaDA needs it)."),
    data_dir: Path = typer.Option(None, help="Dataset folder [default: $MFT_DATA_DIR or the user cache]."),
    experiment: str = typer.Option(None, help="MLflow experiment [default: mft-<dataset>]."),
    tracking_uri: str = typer.Option(
        None, help="MLflow URI [default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db]."
    ),
    storage: Path = typer.Option(
        Path("mft-runs"), help="Where Ray Train keeps checkpoints (shared on a cluster)."
    ),
    address: str = typer.Option(None, help="Ray cluster address [default: $RAY_ADDRESS, else a local Ray]."),
) -> None:
    """Fine-tune one model on one knowledge set: one Ray Train trial, tracked in MLflow.

    Example: mft train --dataset namedesc --method masked --model ./tiny --epochs 8 --workers 2
    """
    # Workers resolve paths in their own directories: hand them absolute ones.
    folder = byo_folder(dataset)
    config = TrialConfig(
        model=str(Path(model).resolve()) if Path(model).exists() else model,
        dataset=str(folder.resolve()) if folder else dataset,
        paraphrase=paraphrase,
        data_dir=str(resolve_data_dir(data_dir).resolve()),
        method=method,
        lr=lr,
        epochs=epochs,
        eval_at=parse_epochs(eval_at) if eval_at else default_eval_epochs(epochs),
        mask_ratio=parse_mask_ratio(mask_ratio),
        seed=seed,
        batch_size=batch_size,
        workers=workers,
        gpus_per_worker=gpus_per_worker or 0.0,
        precision=precision,
        mask_token=mask_token,
        trust_remote_code=trust_remote_code,
        eval_limit=eval_limit,
        max_new_tokens=max_new_tokens,
        scoring=scoring,
    )
    checked = preflight(config)
    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(client, experiment or f"mft-{checked.knowledge.name}")
    connect_ray(address)
    if gpus_per_worker is None:
        config = config.replace(
            gpus_per_worker=1.0 if ray.cluster_resources().get("GPU", 0) >= workers else 0.0
        )
    check_resources(config)
    storage_path = storage.resolve() if "://" not in str(storage) else storage
    name = trial_name(config)
    run_id = start_trial_run(
        client,
        experiment_id,
        config,
        name,
        trial_id=f"{name}-{uuid_suffix()}",
        tags={STORAGE_TAG: str(storage_path)},
    )
    config = config.replace(run_id=run_id)
    console.print(f"[bold]trial[/] {name}  [dim]MLflow run {run_id} at {uri}[/]")
    with live_trials(client, {run_id: name}, console):
        run_trial(config, tracking_uri=uri, name=f"trial-{run_id}", storage=storage_path)
    print_summary(client, run_id)


def default_eval_epochs(epochs: int) -> tuple[int, ...]:
    """0, then doubling epochs, then the last one: the shape of the paper's schedules."""
    points, epoch = [0], 1
    while epoch < epochs:
        points.append(epoch)
        epoch *= 2
    return (*points, epochs)


def trial_name(config: TrialConfig) -> str:
    lo, hi = config.mask_ratio
    ratio = f"t{lo:g}" if config.fixed_mask_ratio else f"t{lo:g}-{hi:g}"
    parts = [config.method, Path(config.dataset).name, config.paraphrase, f"lr{config.lr:g}"]
    if config.method != "ar":
        parts.append(ratio)
    return "_".join([*parts, f"seed{config.seed}"])


def uuid_suffix() -> str:
    return uuid.uuid4().hex[:8]


def print_summary(client: MlflowClient, run_id: str) -> None:
    """The best checkpoint's accuracies, per category, as logged."""
    run = client.get_run(run_id)
    best = {k.removeprefix("best/acc_"): v for k, v in run.data.metrics.items() if k.startswith("best/acc_")}
    table = Table(title=f"best checkpoint: step {run.data.metrics.get('best/step', 0):g}")
    for key in best:
        table.add_column(key, justify="right")
    table.add_row(*(f"{value:.3f}" for value in best.values()))
    console.print(table)
    console.print(f"status {run.info.status}; export with: mft export {run_id} --out DIR")


def export(
    run_id: str = typer.Argument(..., help="The trial's MLflow run id."),
    out: Path = typer.Option(..., help="Folder to write the Hugging Face model to."),
    tracking_uri: str = typer.Option(
        None, help="MLflow URI [default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db]."
    ),
) -> None:
    """Write a trial's best checkpoint as a model folder that `from_pretrained` (and `mft eval`) loads.

    Example: mft export 3f2a... --out ./best-model
    """
    client = MlflowClient(resolve_tracking_uri(tracking_uri))
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise InputError(f"no MLflow run {run_id!r} in this tracking store; check --tracking-uri") from exc
    location = run.data.tags.get(BEST_CHECKPOINT_TAG)
    if not location or not Path(location).is_dir():
        raise InputError(
            f"run {run_id} has no best checkpoint on disk (tag {BEST_CHECKPOINT_TAG}={location!r})"
        )
    export_checkpoint(Path(location), out)
    console.print(f"exported step {run.data.metrics.get('best/step', 0):g} of run {run_id} to {out}")
