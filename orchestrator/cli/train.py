"""`mft train`: one trial on Ray Train, tracked in MLflow (driver side, thin: parse, check, launch)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from orchestrator.cli import options
from orchestrator.storage import resolve_storage
from orchestrator.tracking.store import resolve_tracking_uri
from orchestrator.trial.settings import FIELD_NAMES, build_trial_config, parse_flags
from orchestrator.trial.trial_file import config_values, trial_yaml

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
        None,
        help="Model folder, hub id (from_pretrained) or .gguf file (converted once, cached)"
        " \\[default: --config's; required without it].",
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
    mask_token: str = typer.Option(
        None,
        help="Mask token or id, or `add`: a new special token <|mft_mask|>, embeddings grown by one"
        " mean-initialised row \\[default: the model's own].",
    ),
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
        False,
        help="Run every check, print the resolved trial configuration (a --config file); start nothing.",
    ),
    experiment: str = typer.Option(None, help="MLflow experiment \\[default: `mft-<dataset>`]."),
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
    options.require_name("--experiment", experiment)
    values = {**config_values(config_file, tracking_uri), **parse_flags(given)}
    config = build_trial_config(values)
    gpus_if_any = "gpus_per_worker" not in values
    from orchestrator.gguf_models import is_gguf, local_model
    from orchestrator.trial.checks import check_trial

    uri, location = resolve_tracking_uri(tracking_uri), resolve_storage(storage)
    # A GGUF file is converted once on this machine; the workers load the folder.
    runnable = config.replace(model=local_model(config.model)) if is_gguf(config.model) else config
    checked = check_trial(  # a dry run checks exactly what a start checks, and creates nothing either
        runnable, tracking_uri=uri, storage=location, address=address, gpus_if_any=gpus_if_any
    )
    if dry_run:
        if gpus_if_any:  # left out, so that the file keeps meaning "a GPU each if the cluster has them"
            typer.echo("# gpus_per_worker not given: 1 per worker when the Ray cluster has GPUs, else 0")
        typer.echo(trial_yaml(config, leave_out=("gpus_per_worker",) if gpus_if_any else ()), nl=False)
        return
    from orchestrator.trial.launch import launch_trial  # Ray and the training loop: after every check

    notes = []
    if config.global_batch_size != PAPER_GLOBAL_BATCH:
        notes.append(
            f"[yellow]note:[/] global batch {config.global_batch_size} ({config.workers} workers x"
            f" {config.batch_size}); the paper's is {PAPER_GLOBAL_BATCH} (4 x 16)"
        )
    launch_trial(
        checked,
        tracking_uri=uri,
        experiment=experiment,
        storage=location,
        address=address,
        console=console,
        gpus_if_any=gpus_if_any,
        notes=notes,
    )
