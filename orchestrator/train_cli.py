"""`mft train` (one trial on Ray Train) and `mft export` (a checkpoint → HF folder). Driver side, thin."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from orchestrator import options
from orchestrator.storage import resolve_storage
from orchestrator.tracking_uri import resolve_tracking_uri
from orchestrator.trial_settings import build_trial_config, parse_epochs, parse_mask_ratio
from training.errors import InputError

console = Console()
PAPER_GLOBAL_BATCH = 64  # 4 GPUs x 16 documents (paper appendix A.4)


def train(
    dataset: str = typer.Option("namedesc", help="namedesc, bio, wiki, or a bring-your-own folder."),
    method: str = typer.Option("masked", help="ar, masked, masked-random or dllm."),
    model: str = typer.Option(..., help="Model folder or hub id (from_pretrained)."),
    lr: float = typer.Option(None, help="Peak learning rate [default: the paper's for the method]."),
    epochs: int = typer.Option(
        None, help="Passes over the documents [default: the paper's schedule for dataset x paraphrase]."
    ),
    eval_at: str = typer.Option(
        None, help="Epochs to evaluate at, e.g. 0,1,2,4 [default: the paper's, or doubling to --epochs]."
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
    data_dir: Path = options.DATA_DIR,
    experiment: str = typer.Option(None, help="MLflow experiment [default: mft-<dataset>]."),
    tracking_uri: str = options.TRACKING_URI,
    storage: str = options.STORAGE,
    address: str = options.ADDRESS,
) -> None:
    """Fine-tune one model on one knowledge set: one Ray Train trial, tracked in MLflow.

    Example: mft train --dataset namedesc --method masked --model ./tiny --epochs 8 --workers 2
    """
    config = build_trial_config(
        {
            "model": model,
            "dataset": dataset,
            "paraphrase": paraphrase,
            "data_dir": data_dir,
            "method": method,
            "lr": lr,
            "epochs": epochs,
            "eval_at": parse_epochs(eval_at) if eval_at else None,
            "mask_ratio": parse_mask_ratio(mask_ratio),
            "seed": seed,
            "batch_size": batch_size,
            "workers": workers,
            "gpus_per_worker": gpus_per_worker,
            "precision": precision,
            "mask_token": mask_token,
            "trust_remote_code": trust_remote_code,
            "eval_limit": eval_limit,
            "max_new_tokens": max_new_tokens,
            "scoring": scoring,
        }
    )
    from orchestrator.preflight import check_tracking_store, fit_local_resources

    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_store(uri)  # the quick checks before the slow imports below
    fit_local_resources(config, address, gpus_if_any=gpus_per_worker is None)
    from orchestrator.trial import launch_trial

    notes = []
    if config.global_batch_size != PAPER_GLOBAL_BATCH:
        notes.append(
            f"[yellow]note:[/] global batch {config.global_batch_size} ({config.workers} workers x"
            f" {config.batch_size}); the paper's is {PAPER_GLOBAL_BATCH} (4 x 16)"
        )
    launch_trial(
        config,
        tracking_uri=uri,
        experiment=experiment,
        storage=resolve_storage(storage),
        address=address,
        console=console,
        gpus_if_any=gpus_per_worker is None,
        notes=notes,
    )


def export(
    run_id: str = typer.Argument(..., help="The trial's MLflow run id."),
    out: Path = typer.Option(..., help="Folder to write the Hugging Face model to."),
    tracking_uri: str = options.TRACKING_URI,
) -> None:
    """Write a trial's best checkpoint as a model folder that `from_pretrained` (and `mft eval`) loads.

    Example: mft export 3f2a... --out ./best-model
    """
    from mlflow.tracking import MlflowClient

    from orchestrator.preflight import require_store
    from orchestrator.storage import local_copy
    from orchestrator.tracking import BEST_CHECKPOINT_TAG
    from training.checkpointing import export_checkpoint

    uri = resolve_tracking_uri(tracking_uri)
    require_store(uri)  # reading never creates a store
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise InputError(f"no MLflow run {run_id!r} in this tracking store; check --tracking-uri") from exc
    location = run.data.tags.get(BEST_CHECKPOINT_TAG)
    if not location:
        raise InputError(f"run {run_id} has no best checkpoint (no tag {BEST_CHECKPOINT_TAG})")
    copy = local_copy(location)
    folder = Path(copy.name) if copy else Path(location)
    if not folder.is_dir():
        raise InputError(f"run {run_id}'s best checkpoint {location} is not on disk any more")
    try:
        export_checkpoint(folder, out)
    finally:
        if copy:
            copy.cleanup()
    console.print(f"exported step {run.data.metrics.get('best/step', 0):g} of run {run_id} to {out}")
