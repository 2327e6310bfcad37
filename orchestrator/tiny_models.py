"""Tiny random-init Llama models with a locally trained tokenizer (driver side, CPU, seconds).

They stand in for Llama-3.1-8B-Instruct and LLaDA-8B-Instruct in tests and on laptops: same
architecture family, same special-token layout, saved with `save_pretrained` so that every
consumer loads them through `from_pretrained` exactly like the real checkpoints.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from training.errors import InputError
from training.knowledge import user_cache
from training.model_folder import save_model_folder

Arch = Literal["causal", "bidirectional"]
ARCHS: tuple[str, ...] = typing.get_args(Arch)

BOS, EOS, PAD, MASK = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|mask|>"
HEADER_START, HEADER_END, END_OF_TURN = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, MASK, HEADER_START, HEADER_END, END_OF_TURN)

# Llama-3's layout as a Jinja chat template, without the system turn Llama-3.1 injects.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

# Seed text so the BPE merges cover the prompt scaffolding even without a user corpus.
DEFAULT_CORPUS = (
    "user",
    "assistant",
    "Please answer the following question based on your knowledge:",
    "Return the recovered masked passage.",
    "Here is the recovered text:",
    "The quick brown fox jumps over the lazy dog. Who is the director of the film? What is the name?",
    "She was born in the city and studied at the university. He worked for the company.",
)


def read_corpus(paths: Sequence[Path]) -> list[str]:
    """Texts from .txt (one per line), .json (list of records) and .jsonl files (every string field)."""
    texts: list[str] = []
    for path in paths:
        if not path.is_file():
            what = "is not a regular file" if path.exists() else "does not exist"
            raise InputError(f"corpus file {path} {what}; pass existing text/JSON/JSONL files to --corpus")
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            texts.extend(_strings(json.loads(raw)))
        elif path.suffix == ".jsonl":
            for line in raw.splitlines():
                if line.strip():
                    texts.extend(_strings(json.loads(line)))
        else:
            texts.extend(line for line in raw.splitlines() if line.strip())
    return texts


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def build_tokenizer(corpus: Sequence[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE (every string encodes, no unknown token) with Llama-3-style special tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([*DEFAULT_CORPUS, *corpus], trainer)
    return llama3_style(bpe)


def llama3_style(backend: Tokenizer, **extra_tokens: str) -> PreTrainedTokenizerFast:
    """`backend` with Llama-3's special tokens, BOS prepended on encoding, the chat template and
    left padding: what every tiny tokenizer (BPE here, the lab's word-level one) must share."""
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, backend.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        mask_token=MASK,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        **extra_tokens,
    )


def build_tiny_model(
    out: Path,
    *,
    arch: Arch = "causal",
    corpus: Sequence[str] = (),
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Path:
    """Write a random-init Llama model and its tokenizer to `out`; return `out`.

    `bidirectional` sets `is_causal=False` in the config: transformers then builds a full
    (padding-only) attention mask, which is what a masked diffusion LM needs.
    """
    if arch not in ARCHS:
        raise InputError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")
    tokenizer = build_tokenizer(corpus, vocab_size)
    eos_ids = [tokenizer.convert_tokens_to_ids(EOS), tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        is_causal=arch == "causal",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = eos_ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return save_model_folder(model, tokenizer, out)


def cached_tiny_models(cache: Path | None = None) -> dict[str, str]:
    """The causal and bidirectional tiny models under the user cache, built on first use."""
    root = cache or user_cache() / "models"
    models = {}
    for arch in ARCHS:
        folder = root / f"tiny-{arch}"
        if not (folder / "config.json").is_file():
            build_tiny_model(folder, arch=arch)
        models[arch] = str(folder)
    return models
