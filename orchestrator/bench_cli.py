"""`mft bench ...`: throughput benchmarks that print figures (driver side, one process).

Example: mft bench answering --model DIR --sampler ar --questions 64 --batch-size 32 --max-new-tokens 32
"""

from __future__ import annotations

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
from training.errors import InputError

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
