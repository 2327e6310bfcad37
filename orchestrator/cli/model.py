"""`mft model tiny`: build a tiny random-init Llama model for CPU runs and tests (driver side)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from orchestrator.cli.outputs import FORCE, check_output_folder, staged_folder
from training.errors import InputError, excerpt
from training.limits import check_range, check_seed

model_app = typer.Typer(help="Models: build tiny ones for CPU experiments and tests.", no_args_is_help=True)
console = Console()
MIN_VOCAB = 300  # the byte-level alphabet (256) plus the special tokens, with room for merges
MAX_VOCAB = 262_144  # the largest vocabularies in use (Gemma 3's)
MAX_PARAMETERS = 4e9  # 16 GB of fp32 weights to initialise on a CPU: past that, not a tiny model


@model_app.command("tiny")
def tiny(
    out: str = typer.Option(..., help="Folder to write the model and tokenizer to (new or empty)."),
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
    force: bool = FORCE,
) -> None:
    """Random-init Llama (or bidirectional Llama) + locally trained byte-level BPE tokenizer.

    Example: mft model tiny --out ./tiny --corpus ~/.cache/mft/datasets/ND_train_no_paraphrase.json
    """
    from orchestrator.cli.options import require_positive

    require_positive(
        {"--vocab-size": vocab_size, "--hidden-size": hidden_size, "--layers": layers, "--heads": heads}
    )
    if vocab_size < MIN_VOCAB:
        raise InputError(f"--vocab-size must be >= {MIN_VOCAB} (bytes + special tokens), got {vocab_size}")
    check_range("--vocab-size", vocab_size, MIN_VOCAB, MAX_VOCAB, "the largest vocabularies in use")
    if hidden_size % heads:
        raise InputError(f"--hidden-size ({hidden_size}) must be a multiple of --heads ({heads})")
    parameters = 12 * layers * hidden_size**2 + 2 * vocab_size * hidden_size  # blocks + embeddings
    if parameters > MAX_PARAMETERS:
        raise InputError(
            f"--hidden-size {hidden_size} x --layers {layers} is ~{parameters / 1e9:.0f} B parameters;"
            f" a tiny model has at most {MAX_PARAMETERS / 1e9:.0f} B (16 GB to initialise on a CPU)"
        )
    check_seed("--seed", seed)
    from orchestrator.tiny_models import ARCHS, build_tiny_model, read_corpus

    if arch not in ARCHS:
        raise InputError(f"--arch must be one of {', '.join(ARCHS)}, got {excerpt(arch)}")
    folder = check_output_folder(out, "--out", force=force)
    try:
        texts = read_corpus(corpus or [])
    except InputError:
        raise  # already one line naming the file
    except (ValueError, RecursionError) as exc:  # malformed or absurdly nested JSON, binary files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"--corpus: cannot read it as text/JSON/JSONL ({reason})") from exc
    with staged_folder(folder) as stage:
        build_tiny_model(
            stage,
            arch=arch,
            corpus=texts,
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            layers=layers,
            heads=heads,
            seed=seed,
        )
    console.print(
        f"tiny {arch} model written to {folder} (tokenizer trained on {len(texts)} texts)", soft_wrap=True
    )
