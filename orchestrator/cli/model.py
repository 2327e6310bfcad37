"""`mft model tiny`: build a tiny random-init Llama model for CPU runs and tests (driver side)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from training.errors import InputError

model_app = typer.Typer(help="Models: build tiny ones for CPU experiments and tests.", no_args_is_help=True)
console = Console()
MIN_VOCAB = 300  # the byte-level alphabet (256) plus the special tokens, with room for merges


@model_app.command("tiny")
def tiny(
    out: Path = typer.Option(..., help="Folder to write the model and tokenizer to."),
    arch: str = typer.Option("causal", help="causal (AR stand-in) or bidirectional (dLLM stand-in)."),
    corpus: list[Path] = typer.Option(
        None,
        help="Text/JSON/JSONL files (repeatable) to train the BPE tokenizer on, besides a few built-in"
        " sentences (the prompts' scaffolding) \\[default: none].",
    ),
    vocab_size: int = typer.Option(512, help="BPE vocabulary size (at most)."),
    hidden_size: int = typer.Option(64),
    layers: int = typer.Option(2),
    heads: int = typer.Option(4),
    seed: int = typer.Option(0),
) -> None:
    """Random-init Llama (or bidirectional Llama) + locally trained byte-level BPE tokenizer.

    Example: mft model tiny --out ./tiny --corpus ~/.cache/mft/datasets/ND_train_no_paraphrase.json
    """
    from orchestrator.cli.options import require_positive
    from orchestrator.storage import make_folder

    require_positive(
        {"--vocab-size": vocab_size, "--hidden-size": hidden_size, "--layers": layers, "--heads": heads}
    )
    if vocab_size < MIN_VOCAB:
        raise InputError(f"--vocab-size must be >= {MIN_VOCAB} (bytes + special tokens), got {vocab_size}")
    if hidden_size % heads:
        raise InputError(f"--hidden-size ({hidden_size}) must be a multiple of --heads ({heads})")
    from orchestrator.tiny_models import ARCHS, build_tiny_model, read_corpus

    if arch not in ARCHS:
        raise InputError(f"--arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    try:
        texts = read_corpus(corpus or [])
    except (ValueError, UnicodeDecodeError) as exc:  # malformed JSON, binary files
        raise InputError(f"--corpus: cannot read it as text/JSON/JSONL ({str(exc).splitlines()[0]})") from exc
    make_folder(out, "--out")
    build_tiny_model(
        out,
        arch=arch,
        corpus=texts,
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        layers=layers,
        heads=heads,
        seed=seed,
    )
    console.print(f"tiny {arch} model written to {out} (tokenizer trained on {len(texts)} texts)")
