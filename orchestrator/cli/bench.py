"""`mft bench`: commands that print throughput figures (driver side, thin; the work is in
`orchestrator.bench.answering` and `orchestrator.bench.training`, imported when a bench runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.trial.settings import build_trial_config
from training.errors import InputError, excerpt
from training.limits import MAX_BATCH, MAX_NEW_TOKENS, check_range

bench_app = typer.Typer(
    help="Benchmarks that print figures: answering, training throughput.", no_args_is_help=True
)
console, err_console = Console(), Console(stderr=True)
MAX_BENCH_QUESTIONS = 100_000


@bench_app.command("answering")
def answering(
    model: Annotated[Path, typer.Option(help="Model folder (save_pretrained layout) with its tokenizer.")],
    sampler: Annotated[
        str,
        typer.Option(
            help="ar: greedy decoding; llada: block-wise mask sampling; auto: llada for bidirectional models."
        ),
    ] = "ar",
    questions: Annotated[int, typer.Option(min=1, help="How many synthetic questions to answer.")] = 64,
    batch_size: Annotated[int, typer.Option(min=1, help="Questions per batch in batched mode.")] = 32,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Answer length cap (LLaDA: answer region).")
    ] = 32,
    device: Annotated[
        str, typer.Option(help="Torch device; 'auto' = cuda when available, else cpu.")
    ] = "auto",
) -> None:
    """Time batched vs one-question-at-a-time answering and check both give identical answers."""
    import torch

    from evaluation.decoding import SAMPLERS
    from orchestrator.bench.answering import AnswersDiffer, build_answerer, render, time_answering

    if sampler not in SAMPLERS:
        raise InputError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {excerpt(sampler)}")
    check_range("--questions", questions, 1, MAX_BENCH_QUESTIONS, "each is answered twice, batched and alone")
    check_range("--batch-size", batch_size, 1, MAX_BATCH, "questions per forward batch")
    check_range("--max-new-tokens", max_new_tokens, 1, MAX_NEW_TOKENS, "answers are a few words")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"--device {excerpt(device)} is not a torch device; use auto, cpu or cuda") from exc
    answer = build_answerer(model, sampler, max_new_tokens, device)
    # Synthetic, deterministic questions: the benchmark needs no dataset.
    texts = [f"Who is person number {i}?" for i in range(questions)]
    try:
        timings = time_answering(answer, texts, batch_size)
    except AnswersDiffer as exc:
        err_console.print(f"[bold red]outputs differ:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(render(timings, f"answering: {model.name}, sampler {sampler}, {device}"))
    console.print(f"outputs: identical ({questions} answers, batched == one at a time)")


@bench_app.command("training")
def training(
    model: Annotated[Path, typer.Option(help="Model folder (save_pretrained layout) with its tokenizer.")],
    dataset: Annotated[
        str, typer.Option(help="namedesc, bio, wiki, or a bring-your-own folder.")
    ] = "namedesc",
    method: Annotated[str, typer.Option(help="ar, masked, masked-random or dllm.")] = "masked",
    workers: Annotated[
        int, typer.Option(min=1, help="Ray Train workers of the parallel trial (1: no parallel trial).")
    ] = 2,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per worker per step.")] = 4,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the documents per setup.")] = 3,
    eval_limit: Annotated[int, typer.Option(min=1, help="Questions answered per checkpoint.")] = 40,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Answer length at evaluation.")] = 32,
    gpus_per_worker: Annotated[float, typer.Option(min=0, help="0 = CPU/gloo; 1 = a GPU each (nccl).")] = 0.0,
    precision: Annotated[
        str, typer.Option(help="bf16 (FSDP2 policy; autocast in the bare loop) or fp32.")
    ] = "bf16",
    trust_remote_code: Annotated[bool, typer.Option(help="Allow the model's own code (LLaDA).")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Dataset folder \\[default: $MFT_DATA_DIR or the user cache].")
    ] = None,
    peak_tflops: Annotated[
        float | None,
        typer.Option(min=0, help="GPU dense bf16 peak for MFU \\[default: known for H100, H200, A100]."),
    ] = None,
) -> None:
    """Training tokens/s with W Ray Train workers vs a bare loop, and eval seconds with W vs 1 worker.

    All setups train the same model with the same method at the same global batch (W x --batch-size).
    On GPUs the table adds MFU: model FLOPs per second over the GPUs' dense bf16 peak.
    """
    config = build_trial_config(
        {
            "model": str(model),
            "dataset": dataset,
            "data_dir": data_dir,
            "method": method,
            "epochs": epochs,
            "eval_at": (0, epochs),
            "batch_size": batch_size,
            "workers": workers,
            "gpus_per_worker": gpus_per_worker,
            "precision": precision,
            "trust_remote_code": trust_remote_code,
            "eval_limit": eval_limit,
            "max_new_tokens": max_new_tokens,
        }
    )
    from orchestrator.trial.checks import check_model, load_model_config

    check_model(config.model)  # a model it cannot read: one line now, not a traceback after minutes
    load_model_config(config.model, config.trust_remote_code)
    import torch

    from orchestrator.bench.training import (
        measure_training,
        peak_flops_per_gpu,
        print_setting,
        render_training,
        training_flops_per_token,
    )

    # Read from the config before the long run, so a model it cannot describe fails first.
    flops = training_flops_per_token(config)
    peak = peak_tflops * 1e12 if peak_tflops else peak_flops_per_gpu()
    rows = measure_training(config, lambda stage: console.print(f"[dim]running: {stage}[/]"))
    device = torch.cuda.get_device_name() if gpus_per_worker > 0 else "cpu"
    title = f"training: {model.name}, {method}, {dataset}, {device}, global batch {config.global_batch_size}"
    console.print(render_training(rows, title, flops, peak))
    print_setting(config, flops, peak, console)
