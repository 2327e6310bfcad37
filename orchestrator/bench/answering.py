"""`mft bench answering`: batched vs one-at-a-time answering, with identical answers (driver side)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from rich.table import Table
from transformers import AutoModelForCausalLM, AutoTokenizer

from evaluation.answering import answer_questions
from evaluation.decoding import Decoding, uses_llada
from training.errors import InputError
from training.methods import resolve_mask_id

LLADA_BLOCK_LENGTH = 4  # the paper's block length for LLaDA's sampler


@dataclass(frozen=True)
class Timing:
    mode: str
    questions: int
    seconds: float


Answerer = Callable[[list[str], int], list[str]]


class AnswersDiffer(RuntimeError):
    """Batched answering changed an answer: padding or batching leaks into the outputs."""


def build_answerer(model_dir: Path, sampler: str, max_new_tokens: int, device: str) -> Answerer:
    """Load the checkpoint once; return `answer(questions, batch_size)` for the chosen sampler."""
    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir} holds no config.json; pass a save_pretrained model folder to --model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()
    mask_id = None
    if uses_llada(sampler, model.config):
        if max_new_tokens % LLADA_BLOCK_LENGTH:
            raise InputError(
                f"--max-new-tokens {max_new_tokens} must be a multiple of {LLADA_BLOCK_LENGTH} "
                "(the LLaDA block length)"
            )
        mask_id = resolve_mask_id(tokenizer)
    decoding = Decoding(max_new_tokens=max_new_tokens, mask_id=mask_id, block_length=LLADA_BLOCK_LENGTH)
    return lambda questions, batch_size: answer_questions(
        model, tokenizer, questions, replace(decoding, batch_size=batch_size)
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
