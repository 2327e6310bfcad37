"""`mft train` (one trial on Ray Train) and `mft export` (a checkpoint → HF folder). Driver side, thin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from orchestrator.cli import options
from orchestrator.storage import resolve_storage
from orchestrator.sweep.fields import FIELD_NAMES
from orchestrator.tracking.uri import resolve_tracking_uri
from orchestrator.trial.settings import build_trial_config, parse_betas, parse_epochs, parse_mask_ratio
from orchestrator.trial.trial_file import load_trial_file, trial_yaml
from training.errors import InputError

console = Console()
PAPER_GLOBAL_BATCH = 64  # 4 GPUs x 16 documents (paper appendix A.4)


def train(
    ctx: typer.Context,
    config_file: str = typer.Option(
        None,
        "--config",
        help="A trial YAML file (what --dry-run prints), or a run's logged one as runs:/RUN_ID/trial.yaml;"
        " flags given override its values \\[default: none, flags only].",
    ),
    dataset: str = typer.Option("namedesc", help="namedesc, bio, wiki, or a bring-your-own folder."),
    method: str = typer.Option("masked", help="ar, masked, masked-random or dllm."),
    model: str = typer.Option(
        None, help="Model folder or hub id (from_pretrained) \\[default: --config's; required without it]."
    ),
    lr: float = typer.Option(None, help="Peak learning rate \\[default: the paper's for the method]."),
    epochs: int = typer.Option(
        None, help="Passes over the documents \\[default: the paper's schedule for dataset x paraphrase]."
    ),
    eval_at: str = typer.Option(
        None, help="Epochs to evaluate at, e.g. 0,1,2,4 \\[default: the paper's, or doubling to --epochs]."
    ),
    mask_ratio: str = typer.Option("0.05:0.95", help="Fixed t (0.75) or a LO:HI range drawn per step."),
    seed: int = typer.Option(0),
    paraphrase: str = typer.Option("none", help="none, same-order or permute-order."),
    batch_size: int = typer.Option(16, help="Documents per worker per step."),
    workers: int = typer.Option(1, help="Ray Train workers (one GPU each on a GPU cluster)."),
    gpus_per_worker: float = typer.Option(None, help="0 = CPU/gloo \\[default: 1 if the cluster has GPUs]."),
    precision: str = typer.Option("bf16", help="bf16 (FSDP2 mixed precision) or fp32."),
    mask_token: str = typer.Option(None, help="Mask token or id \\[default: the model's own]."),
    weight_decay: float = typer.Option(0.1, help="AdamW weight decay (none on biases and norm weights)."),
    betas: str = typer.Option("0.9,0.95", help="AdamW betas as B1,B2."),
    grad_clip: float = typer.Option(1.0, help="Gradient-norm clip."),
    warmup_ratio: float = typer.Option(
        0.02, help="Share of all update steps spent warming up to the peak lr."
    ),
    log_every: int = typer.Option(20, help="Optimizer steps between training-metric reports."),
    eval_limit: int = typer.Option(
        None, help="Evaluate on N questions only: an equal share of every category (seed 0) \\[default: all]."
    ),
    eval_batch_size: int = typer.Option(100, help="Questions per forward batch at evaluation."),
    max_new_tokens: int = typer.Option(128, help="Answer length at evaluation."),
    block_length: int = typer.Option(4, help="LLaDA sampler block length at evaluation (dllm)."),
    scoring: str = typer.Option(
        "authors",
        help="ROUGE-1 recall rule: authors (the authors' code, which computed the paper's Table 3)"
        " or rouge-score (case-folded, repeats counted).",
    ),
    prompt_style: str = typer.Option(
        None, help="chat or completion (cloze sets) \\[default: the dataset's own, else chat]."
    ),
    trust_remote_code: bool = typer.Option(False, help="Allow the model's own code (LLaDA needs it)."),
    data_dir: Path = options.DATA_DIR,
    dry_run: bool = typer.Option(
        False, help="Print the resolved trial configuration (a --config file) and run nothing."
    ),
    experiment: str = typer.Option(None, help="MLflow experiment \\[default: mft-<dataset>]."),
    tracking_uri: str = options.TRACKING_URI,
    storage: str = options.STORAGE,
    address: str = options.ADDRESS,
) -> None:
    """Fine-tune one model on one knowledge set: one Ray Train trial, tracked in MLflow.

    Example: mft train --dataset namedesc --method masked --model ./tiny --epochs 8 --workers 2

    Rerun a logged run, changing a setting: mft train --config runs:/RUN_ID/trial.yaml --seed 1
    """
    # Every flag named after a TrialConfig field, if given on the command line (ctx.params holds
    # them all): the ones left out take the --config file's value, else TrialConfig's default.
    given = {
        key: value
        for key, value in ctx.params.items()
        if key in FIELD_NAMES and ctx.get_parameter_source(key).name != "DEFAULT"
    }
    values = {**config_values(config_file, tracking_uri), **parse_flags(given)}
    config = build_trial_config(values)
    gpus_if_any = "gpus_per_worker" not in values
    if dry_run:
        if gpus_if_any:  # left out, so that the file keeps meaning "a GPU each if the cluster has them"
            typer.echo("# gpus_per_worker not given: 1 per worker when the Ray cluster has GPUs, else 0")
        typer.echo(trial_yaml(config, leave_out=("gpus_per_worker",) if gpus_if_any else ()), nl=False)
        return
    from orchestrator.trial.checks import check_tracking_store, fit_local_resources

    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_store(uri)  # the quick checks before the slow imports below
    fit_local_resources(config, address, gpus_if_any=gpus_if_any)
    from orchestrator.trial.launch import launch_trial

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
        gpus_if_any=gpus_if_any,
        notes=notes,
    )


def config_values(source: str | None, tracking_uri: str | None) -> dict[str, Any]:
    """The values of --config: a local trial file, or a run's logged one (runs:/RUN_ID/trial.yaml)."""
    if not source:
        return {}
    if not source.startswith("runs:/"):
        return load_trial_file(Path(source))
    from mlflow.artifacts import download_artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file: no bar
    try:
        path = download_artifacts(artifact_uri=source, tracking_uri=resolve_tracking_uri(tracking_uri))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"--config {source}: cannot fetch it ({first}); check the run id and --tracking-uri"
        ) from exc
    return load_trial_file(Path(path))


def parse_flags(given: dict[str, Any]) -> dict[str, Any]:
    """The flags written as text (--eval-at, --mask-ratio, --betas) as TrialConfig values."""
    parsers = {"eval_at": parse_epochs, "mask_ratio": parse_mask_ratio, "betas": parse_betas}
    return {key: parsers[key](value) if key in parsers else value for key, value in given.items()}


def export(
    run_id: str = typer.Argument(..., help="The trial's MLflow run id."),
    out: Path = typer.Option(..., help="Folder to write the Hugging Face model to."),
    latest: bool = typer.Option(
        False, "--latest", help="Export the latest checkpoint \\[default: the best]."
    ),
    step: int = typer.Option(
        None, help="Export the checkpoint of this optimizer step, if still kept \\[default: the best]."
    ),
    tracking_uri: str = options.TRACKING_URI,
) -> None:
    """Write a trial's checkpoint (the best by default) as a model folder that `from_pretrained` loads.

    Ray keeps the best and the latest checkpoint of a trial, so --step finds one of those.

    Example: mft export 3f2a... --out ./best-model
    """
    if latest and step is not None:
        raise InputError("give --latest or --step, not both")
    from mlflow.tracking import MlflowClient

    from orchestrator.storage import local_copy
    from orchestrator.trial.checkpoints import choose_checkpoint
    from orchestrator.trial.checks import require_store
    from training.checkpointing import export_checkpoint

    uri = resolve_tracking_uri(tracking_uri)
    require_store(uri)  # reading never creates a store
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise InputError(f"no MLflow run {run_id!r} in this tracking store; check --tracking-uri") from exc
    chosen = choose_checkpoint(run, latest=latest, step=step)
    copy = local_copy(chosen.location)
    folder = Path(copy.name) if copy else Path(chosen.location)
    if not folder.is_dir():
        raise InputError(f"run {run_id}'s checkpoint {chosen.location} is not on disk any more")
    try:
        export_checkpoint(folder, out)
    finally:
        if copy:
            copy.cleanup()
    console.print(f"exported the {chosen.which} checkpoint (step {chosen.step}) of run {run_id} to {out}")
    note = diffusion_note(run.data.params, out)
    if note:
        console.print(note, highlight=False, soft_wrap=True)  # a command to copy: never wrapped


def diffusion_note(params: dict[str, str], out: Path) -> str | None:
    """For a dLLM export: HF `generate` decodes left to right, which is not how this model answers."""
    from training.method_registry import method_info, method_names

    method = params.get("method", "")
    if method not in method_names() or not method_info(method).bidirectional:
        return None
    remote = " --trust-remote-code" if params.get("trust_remote_code") == "True" else ""
    settings = (
        f"--block-length {params.get('block_length', 4)} --max-new-tokens {params.get('max_new_tokens', 128)}"
    )
    return (
        f"[yellow]note:[/] {out} is a diffusion LLM ({method}): Hugging Face `generate` decodes left to"
        " right and does not answer as this model was evaluated. Sample it with LLaDA's sampler, as"
        f" training evaluated it: mft eval --model {out} --dataset {params.get('dataset', 'DATASET')}"
        f" --sampler llada {settings}{remote}"
    )
