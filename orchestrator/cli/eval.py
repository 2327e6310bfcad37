"""`mft eval`: answer a knowledge set's questions with any model and score them (driver side).

Run on a base model this is the paper's "before fine-tuning" row; on an exported checkpoint it
re-scores what training logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evaluation.decoding import SAMPLERS, Decoding, uses_llada
from evaluation.questions import PROMPT_STYLES, QAItem, describe_selection, select_questions
from evaluation.scoring import SCORINGS
from orchestrator.cli import options
from orchestrator.cli.outputs import FORCE, Interrupted, check_output_file, open_output
from training.errors import InputError, excerpt
from training.knowledge import byo_folder, load_knowledge_set, resolve_data_dir
from training.limits import MAX_BATCH, MAX_NEW_TOKENS, check_range

console = Console()
DTYPES = ("auto", "bf16", "fp32")
SCORING_HELP = (
    "ROUGE-1 recall rule: authors (default: the authors' code, which computed the paper's Table 3;"
    " case-sensitive, each distinct answer word once) or rouge-score (case-folded, repeats counted)."
)


def evaluate_model(
    model: str = typer.Option(
        ..., help="Model folder, hub id (from_pretrained), or a .gguf file (converted once, cached)."
    ),
    dataset: str = typer.Option("namedesc", help="namedesc, bio, wiki, or a bring-your-own folder."),
    sampler: str = typer.Option("auto", help="ar (greedy), llada, or auto (llada for bidirectional models)."),
    limit: int = typer.Option(
        None,
        help="Only N questions: an equal share of every category, the same N each time (seed 0)"
        " \\[default: all].",
    ),
    out: str = typer.Option(
        None,
        help="JSONL of every generation, written to OUT.partial as answered"
        " \\[default: `generations-<dataset>.jsonl`].",
    ),
    batch_size: int = typer.Option(100, help="Questions per forward batch."),
    max_new_tokens: int = typer.Option(128, help="Answer length (LLaDA: gen_length)."),
    block_length: int = typer.Option(4, help="LLaDA sampler block length."),
    steps: int = typer.Option(None, help="LLaDA sampler steps \\[default: max-new-tokens]."),
    mask_token: str = typer.Option(None, help="LLaDA mask token or id \\[default: the model's own]."),
    dtype: str = typer.Option("auto", help="auto (as saved), bf16 or fp32."),
    trust_remote_code: bool = typer.Option(False, help="Allow the model's own code (LLaDA needs it)."),
    data_dir: Path = options.DATA_DIR,
    scoring: str = typer.Option("authors", help=SCORING_HELP),
    prompt_style: str = typer.Option(
        None,
        help="chat (the paper's: a user turn) or completion (the question text as is, for cloze sets)"
        " \\[default: the dataset's own: dataset.yaml in a folder, else chat].",
    ),
    force: bool = FORCE,
) -> None:
    """Answer a knowledge set's questions with a model and score them per category (ROUGE-1 recall).

    Scoring defaults to the authors' rule (case-sensitive, each distinct answer word once), with which
    the paper's Table 3 was computed; --scoring rouge-score gives the case-folded rouge-score rule.

    Example: mft eval --model ./tiny --dataset namedesc --limit 40 --out gen.jsonl
    """
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {excerpt(sampler)}")
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {excerpt(dtype)}")
    if scoring not in SCORINGS:
        raise InputError(f"--scoring must be one of {', '.join(SCORINGS)}, got {excerpt(scoring)}")
    if prompt_style not in (None, *PROMPT_STYLES):
        raise InputError(
            f"--prompt-style must be one of {', '.join(PROMPT_STYLES)}, got {excerpt(prompt_style)}"
        )
    from orchestrator.cli.options import require_positive
    from orchestrator.trial.checks import check_model, load_model_config, load_tokenizer

    require_positive(
        {"--limit": limit, "--batch-size": batch_size, "--max-new-tokens": max_new_tokens,
         "--block-length": block_length, "--steps": steps}
    )  # fmt: skip
    check_range("--batch-size", batch_size, 1, MAX_BATCH, "questions per forward batch")
    check_range("--max-new-tokens", max_new_tokens, 1, MAX_NEW_TOKENS, "answers are a few words")
    import torch
    from transformers import AutoModelForCausalLM

    from evaluation.answering import answer_questions
    from evaluation.llada_sampling import commit_schedule
    from evaluation.prompting import prompt_ids
    from evaluation.scoring import summarize
    from orchestrator.gguf_models import local_model
    from training.methods import resolve_mask_id

    model = local_model(model)
    check_model(model)
    knowledge = load_knowledge_set(dataset, data_dir=data_dir)
    reads = [Path(model), byo_folder(dataset) or resolve_data_dir(data_dir)]
    out_path = check_output_file(
        out or f"generations-{knowledge.name}.jsonl", "--out", force=force, reads=reads
    )
    items = select_questions(knowledge.questions, limit)
    prompt_style = prompt_style or knowledge.prompt_style
    config = load_model_config(model, trust_remote_code)
    use_llada = uses_llada(sampler, config)
    tokenizer = load_tokenizer(model, trust_remote_code)
    decoding = Decoding(
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        mask_id=resolve_mask_id(tokenizer, mask_token) if use_llada else None,
        block_length=block_length,
        steps=steps,
        prompt_style=prompt_style,
    )
    if use_llada:
        try:
            commit_schedule(max_new_tokens, block_length, steps)
        except ValueError as exc:
            raise InputError(
                f"LLaDA sampler settings (--max-new-tokens, --block-length, --steps): {exc}"
            ) from exc
    handle = open_output(out_path, "--out")  # before the model loads: a bad path costs nothing
    partial = Path(handle.name)
    try:
        with handle:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            net = AutoModelForCausalLM.from_pretrained(
                model,
                dtype={"bf16": torch.bfloat16, "fp32": torch.float32}.get(dtype, "auto"),
                trust_remote_code=trust_remote_code,
            )
            net.to(device).eval()
            shown = repr(tokenizer.decode(prompt_ids(tokenizer, items[0].question, prompt_style)))
            console.print(
                f"{prompt_style} prompt, as the model sees it: {shown}", markup=False, highlight=False
            )
            answer = lambda chunk: answer_questions(net, tokenizer, chunk, decoding)  # noqa: E731
            scores = _answer_into(handle, items, answer, batch_size, scoring)
    except BaseException:
        if partial.is_file() and partial.stat().st_size == 0:
            partial.unlink()  # nothing answered: no trace of the run
        raise
    partial.replace(out_path)
    console.print(f"generations written to {out_path}", soft_wrap=True)
    console.print(f"{knowledge.name}: {describe_selection(items, len(knowledge.questions))}", highlight=False)
    console.print(f"{decoding.sampler} sampler, {prompt_style} prompts, {scoring} scoring", highlight=False)
    _print_metrics(summarize(items, scores), knowledge.name)


def _answer_into(
    handle: TextIO,
    items: Sequence[QAItem],
    answer: Callable[[list[str]], list[str]],
    batch_size: int,
    scoring: str,
) -> list[float]:
    """Answer `items` a batch at a time, each batch's rows written and flushed once scored, so
    Ctrl-C keeps every answer so far in OUT.partial and says where; returns the scores."""
    from evaluation.scoring import rouge1_recall

    scores: list[float] = []
    try:
        with _progress() as progress:
            task = progress.add_task("answering", total=len(items))
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                predictions = answer([item.question for item in chunk])
                for item, prediction in zip(chunk, predictions, strict=True):
                    scores.append(rouge1_recall(prediction, item.answers, scoring))
                    handle.write(json.dumps(_row(item, prediction, scores[-1]), ensure_ascii=False) + "\n")
                handle.flush()
                progress.advance(task, len(chunk))
    except KeyboardInterrupt:
        handle.close()
        kept = f"{len(scores)} of {len(items)} answers are in {handle.name}" if scores else "no answer yet"
        raise Interrupted(f"mft eval interrupted (Ctrl-C): {kept}") from None
    return scores


def _row(item: QAItem, prediction: str, score: float) -> dict[str, object]:
    return {
        "question": item.question,
        "answer": list(item.answers),
        "prediction": prediction,
        "score": score,
        "category": item.category,
    }


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _print_metrics(metrics: dict[str, float], title: str) -> None:
    table = Table(title=title)
    table.add_column("category")
    table.add_column("accuracy (ROUGE-1 recall)", justify="right")
    for key, value in metrics.items():
        table.add_row(key.removeprefix("acc/"), f"{value:.3f}")
    console.print(table)
