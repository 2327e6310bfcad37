"""`mft bench ...`: throughput benchmarks that print figures (driver side; `training` launches Ray).

Examples: mft bench answering --model DIR --sampler ar --questions 64 --batch-size 32 --max-new-tokens 32
          mft bench training --model DIR --workers 2 --batch-size 4 --epochs 3
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table
from transformers import AutoModelForCausalLM, AutoTokenizer

from evaluation.greedy_decoding import answer_greedy
from evaluation.llada_sampling import answer_llada
from orchestrator.training_bench import (
    WARMUP_STEPS,
    Figures,
    measure_training,
    peak_flops_per_gpu,
    training_flops_per_token,
)
from training.config import TrialConfig
from training.errors import InputError
from training.knowledge import byo_folder, resolve_data_dir

bench_app = typer.Typer(
    help="Benchmarks that print figures: answering, training throughput.", no_args_is_help=True
)
console, err_console = Console(), Console(stderr=True)
LLADA_BLOCK_LENGTH = 4  # the paper's block length for LLaDA's sampler


class Sampler(str, Enum):
    ar = "ar"
    llada = "llada"


@dataclass(frozen=True)
class Timing:
    mode: str
    questions: int
    seconds: float


Answerer = Callable[[list[str], int], list[str]]


class AnswersDiffer(RuntimeError):
    """Batched answering changed an answer: padding or batching leaks into the outputs."""


def build_answerer(model_dir: Path, sampler: Sampler, max_new_tokens: int, device: str) -> Answerer:
    """Load the checkpoint once; return `answer(questions, batch_size)` for the chosen sampler."""
    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir} holds no config.json; pass a save_pretrained model folder to --model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()
    if sampler is Sampler.ar:
        return lambda questions, batch_size: answer_greedy(
            model, tokenizer, questions, batch_size=batch_size, max_new_tokens=max_new_tokens
        )
    if max_new_tokens % LLADA_BLOCK_LENGTH:
        raise InputError(
            f"--max-new-tokens {max_new_tokens} must be a multiple of {LLADA_BLOCK_LENGTH} "
            "(the LLaDA block length)"
        )
    if tokenizer.mask_token_id is None:
        raise InputError(f"the tokenizer in {model_dir} has no mask token, which --sampler llada needs")
    return lambda questions, batch_size: answer_llada(
        model,
        tokenizer,
        questions,
        mask_id=tokenizer.mask_token_id,
        gen_length=max_new_tokens,
        block_length=LLADA_BLOCK_LENGTH,
        batch_size=batch_size,
    )


def time_answering(answer: Answerer, questions: list[str], batch_size: int) -> list[Timing]:
    """Time batched and one-at-a-time answering; raise AnswersDiffer if any answer differs."""
    answer(questions[:1], 1)  # warm-up: first-call costs (allocations, kernel choice) are not throughput
    start = time.perf_counter()
    batched = answer(questions, batch_size)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    single = answer(questions, 1)
    single_s = time.perf_counter() - start
    for question, many, one in zip(questions, batched, single, strict=True):
        if many != one:
            raise AnswersDiffer(f"for {question!r} batched gave {many!r}, one at a time gave {one!r}")
    n = len(questions)
    return [Timing(f"batched ({batch_size})", n, batched_s), Timing("one at a time", n, single_s)]


def render(timings: list[Timing], title: str) -> Table:
    """One row per mode; speed-up is relative to the last row (one question at a time)."""
    table = Table(title=title)
    for column in ("mode", "questions", "seconds", "questions/s", "speed-up"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    baseline = timings[-1].seconds
    for timing in timings:
        table.add_row(
            timing.mode,
            str(timing.questions),
            f"{timing.seconds:.3f}",
            f"{timing.questions / timing.seconds:.1f}",
            f"{baseline / timing.seconds:.2f}x",
        )
    return table


@bench_app.command("answering")
def answering(
    model: Annotated[Path, typer.Option(help="Model folder (save_pretrained layout) with its tokenizer.")],
    sampler: Annotated[
        Sampler, typer.Option(help="ar: greedy decoding; llada: block-wise mask sampling.")
    ] = Sampler.ar,
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
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    answer = build_answerer(model, sampler, max_new_tokens, device)
    # Synthetic, deterministic questions: the benchmark needs no dataset.
    texts = [f"Who is person number {i}?" for i in range(questions)]
    try:
        timings = time_answering(answer, texts, batch_size)
    except AnswersDiffer as exc:
        err_console.print(f"[bold red]outputs differ:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(render(timings, f"answering: {model.name}, sampler {sampler.value}, {device}"))
    console.print(f"outputs: identical ({questions} answers, batched == one at a time)")


def render_training(
    rows: list[Figures], title: str, flops_per_token: float | None = None, peak_per_gpu: float | None = None
) -> Table:
    """One row per setup; tokens/s relative to the bare loop, eval speed relative to 1 worker;
    MFU where the GPU's peak is known (tokens/s x FLOPs per token / (GPUs x peak))."""
    table = Table(title=title)
    columns = (
        "setup",
        "workers",
        "batch/worker",
        "tokens/s",
        "vs bare loop",
        "MFU",
        "eval s/checkpoint",
        "eval speed-up",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "setup" else "right")
    bare = rows[0].tokens_per_s
    single_eval = next(row.eval_seconds for row in rows if row.eval_seconds is not None)
    for row in rows:
        evaluated = row.eval_seconds is not None
        known = flops_per_token is not None and peak_per_gpu is not None and row.gpus > 0
        mfu = f"{row.tokens_per_s * flops_per_token / (row.gpus * peak_per_gpu):.1%}" if known else "-"
        table.add_row(
            row.setup,
            str(row.workers),
            str(row.batch_size),
            f"{row.tokens_per_s:.0f}",
            f"{row.tokens_per_s / bare:.2f}x",
            mfu,
            f"{row.eval_seconds:.2f}" if evaluated else "-",
            f"{single_eval / row.eval_seconds:.2f}x" if evaluated else "-",
        )
    return table


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
        Path | None, typer.Option(help="Dataset folder [default: $MFT_DATA_DIR or the user cache].")
    ] = None,
    peak_tflops: Annotated[
        float | None,
        typer.Option(min=0, help="GPU dense bf16 peak for MFU [default: known for H100, H200, A100]."),
    ] = None,
) -> None:
    """Training tokens/s with W Ray Train workers vs a bare loop, and eval seconds with W vs 1 worker.

    All setups train the same model with the same method at the same global batch (W x --batch-size).
    On GPUs the table adds MFU: model FLOPs per second over the GPUs' dense bf16 peak.
    """
    folder = byo_folder(dataset)
    config = TrialConfig(
        model=str(model.resolve()),
        dataset=str(folder.resolve()) if folder else dataset,
        data_dir=str(resolve_data_dir(data_dir).resolve()),
        method=method,
        epochs=epochs,
        eval_at=(0, epochs),
        batch_size=batch_size,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        precision=precision,
        trust_remote_code=trust_remote_code,
        eval_limit=eval_limit,
        max_new_tokens=max_new_tokens,
    )
    # Read from the config before the long run, so a model it cannot describe fails first.
    flops = training_flops_per_token(config)
    peak = peak_tflops * 1e12 if peak_tflops else peak_flops_per_gpu()
    rows = measure_training(config, lambda stage: console.print(f"[dim]running: {stage}[/]"))
    device = torch.cuda.get_device_name() if gpus_per_worker > 0 else "cpu"
    title = f"training: {model.name}, {method}, {dataset}, {device}, global batch {config.global_batch_size}"
    console.print(render_training(rows, title, flops, peak))
    print_setting(config, flops, peak)


def print_setting(config: TrialConfig, flops_per_token: float, peak_per_gpu: float | None) -> None:
    """What the figures depend on: the command, the cores and threads, and how they were taken."""
    per_worker = f"{config.gpus_per_worker:g} GPU" if config.gpus_per_worker > 0 else "1 CPU"
    peak = f"{peak_per_gpu / 1e12:g} TFLOP/s per GPU" if peak_per_gpu else "no known GPU peak (--peak-tflops)"
    lines = (
        f"command: {shlex.join(['mft', *sys.argv[1:]])}",
        f"cores: {os.cpu_count()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')};"
        f" torch threads in the bare loop: {torch.get_num_threads()}; Ray workers: {per_worker} each,"
        " with as many torch threads as OMP_NUM_THREADS, which Ray sets to their CPUs (min 1) when unset",
        "bare loop: this process, plain from_pretrained model, no Ray, no FSDP"
        + (", bf16 autocast" if config.precision == "bf16" else ""),
        f"tokens/s: non-padding tokens of the global batch per second of an optimizer step, median after"
        f" {WARMUP_STEPS} warm-up steps; eval: mean `eval/seconds` at epochs 0 and {config.epochs},"
        f" {config.eval_limit} questions",
        f"MFU: {flops_per_token / 6:.3g} parameters in matrix products x 6 FLOPs per token (attention"
        f" scores left out), over {peak}",
    )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
