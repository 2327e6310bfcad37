"""The lab's data and base models, built once and cached (driver side, in-process, a few CPU minutes).

`prepare_lab` writes the synthetic knowledge set and pre-trains a ~1 M-parameter causal Llama from
scratch on its seen people (for ar, masked, masked-random), then adapts it into a bidirectional one
(for dllm): full attention, the same weights, more steps under the dLLM objective (AR-to-dLLM
adaptation, as Dream and DiffuLLaMA do; from scratch the bidirectional model never learns the seen
facts at this size, see docs/lab-dllm-findings.md). Everything lives under
`<data folder>/lab/<recipe>/` and is reused while the recipe is the same; the models are saved
like exports (`save_model_folder`), so trials load them like any checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from orchestrator.lab.pretraining import causal_examples, diffusion_examples, pretrain
from orchestrator.lab.synthetic import SEEN_FOLDER, vocabulary_texts, write_lab_set
from orchestrator.lab.word_tokenizer import build_word_tokenizer
from orchestrator.tiny_models import END_OF_TURN, EOS
from training.knowledge import KnowledgeSet, load_knowledge_set, resolve_data_dir
from training.methods import DiffusionFineTuning, MaskedFineTuning, resolve_mask_id
from training.model_folder import save_model_folder

RECIPE_FILE = "lab-recipe.json"
PEOPLE_FOLDER = "people"  # sweeps/lab.yaml's dataset
SHORT_EXAMPLE_TOKENS = 32
"""Statements and questions are at most ~25 tokens, mask-recovery examples 40-55: the causal base
runs them apart (a third faster on 2 CPU cores, the same loss and gradient)."""


@dataclass(frozen=True)
class LabRecipe:
    """Everything the cached data and base models depend on; another recipe is another folder."""

    people: int = 100
    """New people (the fine-tuning set); three times as many seen people build the base models."""
    seed: int = 0
    steps: int = 1500
    """Pre-training steps of the causal base model."""
    adapt_steps: int = 1200
    """dLLM-objective steps that turn the trained causal base into the bidirectional one."""
    adapt_lr: float = 1e-3
    batch_size: int = 64
    lr: float = 2e-3
    answer_length: int = 8
    """Answer tokens at evaluation (sweeps/lab.yaml's max_new_tokens; the dLLM base's answer region):
    the longest answer, a description, is 6 words and its end of turn."""
    hidden_size: int = 128
    layers: int = 3
    heads: int = 4

    @property
    def folder_name(self) -> str:
        return f"people{self.people}-seed{self.seed}-steps{self.steps}"


@dataclass(frozen=True)
class LabPaths:
    people: Path
    """The new people: the bring-your-own folder trials fine-tune on (the report's dataset name)."""
    causal: Path
    bidirectional: Path


def lab_root(data_dir: Path | None = None) -> Path:
    """`<data folder>/lab`: beside the paper's datasets (`--data-dir`, `$MFT_DATA_DIR` or the cache)."""
    return resolve_data_dir(data_dir) / "lab"


def prepare_lab(
    recipe: LabRecipe, root: Path, *, rebuild: bool = False, console: Console | None = None
) -> LabPaths:
    """The lab's folders under `root`, building what is missing (everything, with `rebuild`)."""
    folder = root / recipe.folder_name
    paths = LabPaths(folder / PEOPLE_FOLDER, folder / "base-causal", folder / "base-bidirectional")
    marker = folder / RECIPE_FILE
    if not rebuild and marker.is_file() and json.loads(marker.read_text()) == asdict(recipe):
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    write_lab_set(paths.people, recipe.people, recipe.seed)
    tokenizer = build_word_tokenizer(vocabulary_texts())
    seen = load_knowledge_set(paths.people / SEEN_FOLDER, "same-order")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as progress:

        def bar(description: str, total: int) -> Callable[[int, float], None]:
            task = progress.add_task(description, total=total, loss=0.0)
            return lambda step, loss: progress.update(task, completed=step, loss=loss)

        build_base_model(recipe, seen, tokenizer, paths.causal, bar("base model (causal)", recipe.steps))
        adapted = bar("base model (bidirectional, adapted)", recipe.adapt_steps)
        adapt_base_model(recipe, seen, tokenizer, paths.causal, paths.bidirectional, adapted)
    marker.write_text(json.dumps(asdict(recipe), indent=2))
    return paths


def build_base_model(
    recipe: LabRecipe,
    seen: KnowledgeSet,
    tokenizer: PreTrainedTokenizerFast,
    out: Path,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Pre-train the causal base model on the seen people (`seen`) and save it with its tokenizer to `out`."""
    mask_id = resolve_mask_id(tokenizer)
    model = new_model(recipe, tokenizer, causal=True)
    pretrain(
        model,
        causal_examples(tokenizer, seen, mask_id),
        MaskedFineTuning(tokenizer, mask_id),
        pad_id=tokenizer.pad_token_id,
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        mask_ratio=(0.05, 0.95),
        seed=recipe.seed,
        split_longer_than=SHORT_EXAMPLE_TOKENS,
        on_step=on_step,
    )
    save_model_folder(model, tokenizer, out)
    return out


def adapt_base_model(
    recipe: LabRecipe,
    seen: KnowledgeSet,
    tokenizer: PreTrainedTokenizerFast,
    causal_base: Path,
    out: Path,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """The causal base's weights under full attention, trained on the seen people under the dLLM objective."""
    mask_id = resolve_mask_id(tokenizer)
    model = new_model(recipe, tokenizer, causal=False)
    model.load_state_dict(LlamaForCausalLM.from_pretrained(causal_base).state_dict())
    pretrain(
        model,
        diffusion_examples(tokenizer, seen, mask_id, recipe.answer_length),
        DiffusionFineTuning(tokenizer, mask_id),
        pad_id=tokenizer.pad_token_id,
        steps=recipe.adapt_steps,
        batch_size=recipe.batch_size,
        lr=recipe.adapt_lr,
        mask_ratio=(0.05, 1.0),
        seed=recipe.seed,
        on_step=on_step,
    )
    save_model_folder(model, tokenizer, out)
    return out


def new_model(recipe: LabRecipe, tokenizer: PreTrainedTokenizerFast, causal: bool) -> LlamaForCausalLM:
    """A seeded random-init Llama of the recipe's shape; `causal=False` gives full attention (dLLM)."""
    stops = [tokenizer.convert_tokens_to_ids(EOS), tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=4 * recipe.hidden_size,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stops,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        is_causal=causal,
    )
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = stops
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
