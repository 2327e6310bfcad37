"""The lab's data and base models, written once and cached (driver side, in-process).

`prepare_lab` writes the synthetic knowledge set and the two base models: a ~1 M-parameter causal
Llama pre-trained from scratch on the seen people (for ar, masked, masked-random), and a
bidirectional one adapted from it (for dllm): full attention, the same weights, more steps under
the dLLM objective (AR-to-dLLM adaptation, as Dream and DiffuLLaMA do; from scratch the
bidirectional model never learns the seen facts at this size, see docs/lab-dllm-findings.md). The
default recipe's weights ship with the package (`orchestrator.lab.prebuilt`: milliseconds); any
other recipe, or `--rebuild-base`, pre-trains them here (a few CPU minutes). Everything lives under
`<data folder>/lab/<recipe>/` and is reused while the recipe is the same; the models are saved
like exports (`save_model_folder`), so trials load them like any checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from orchestrator.lab.prebuilt import BUILD_THREADS, differing_from_shipped, shipped_folder, shipped_weights
from orchestrator.lab.pretraining import causal_examples, diffusion_examples, pretrain
from orchestrator.lab.progress import step_lines
from orchestrator.lab.synthetic import SEEN_FOLDER, vocabulary_texts, write_lab_set
from orchestrator.lab.word_tokenizer import build_word_tokenizer
from orchestrator.tiny_models import END_OF_TURN, EOS
from training.knowledge import KnowledgeSet, load_knowledge_set, resolve_data_dir
from training.methods import DiffusionFineTuning, MaskedFineTuning, resolve_mask_id
from training.model_folder import save_model_folder

RECIPE_FILE = "lab-recipe.json"
LAYOUT = 2
"""The lab folder's layout, in its marker beside the recipe: 2 = reporting and tuning people apart."""
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
    """The lab's folders under `root`, writing what is missing (everything, with `rebuild`).

    Base models come from the shipped weights when the recipe has them; otherwise, or with
    `rebuild`, they are pre-trained here (minutes), and a rebuild of a shipped recipe is compared
    with the shipped weights byte for byte.
    """
    console = console or Console(stderr=True)
    folder = root / recipe.folder_name
    paths = LabPaths(folder / PEOPLE_FOLDER, folder / "base-causal", folder / "base-bidirectional")
    marker = folder / RECIPE_FILE
    expected = {**asdict(recipe), "layout": LAYOUT}
    if not rebuild and marker.is_file() and json.loads(marker.read_text()) == expected:
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    write_lab_set(paths.people, recipe.people, recipe.seed)
    tokenizer = build_word_tokenizer(vocabulary_texts())
    shipped = shipped_folder(asdict(recipe), recipe.folder_name)
    built = {"base-causal": paths.causal, "base-bidirectional": paths.bidirectional}
    if shipped is not None and not rebuild:
        for base, out in built.items():
            model = new_model(recipe, tokenizer, causal=out == paths.causal)
            model.load_state_dict(shipped_weights(shipped, base))
            save_model_folder(model, tokenizer, out)
        shipped_line = (
            f"base models: the shipped ones ({recipe.folder_name}); mft lab --rebuild-base builds them"
        )
        console.print(shipped_line, soft_wrap=True)
    else:
        with torch_threads(BUILD_THREADS):
            build_both(recipe, tokenizer, paths, console)
        if shipped is not None:
            differ = differing_from_shipped(shipped, built)
            console.print(
                f"[yellow]rebuilt {', '.join(differ)} differ from the shipped weights in their last bits"
                " (this CPU's float kernels): numbers will differ from the README's[/]"
                if differ
                else "rebuilt base models: bit-identical to the shipped ones",
                soft_wrap=True,
            )
    marker.write_text(json.dumps(expected, indent=2))
    return paths


def build_both(
    recipe: LabRecipe, tokenizer: PreTrainedTokenizerFast, paths: LabPaths, console: Console
) -> None:
    """Pre-train the causal base, then adapt it into the bidirectional one, with progress shown."""
    seen = load_knowledge_set(paths.people / SEEN_FOLDER, "same-order")
    causal, adapted = "base model (causal)", "base model (bidirectional, adapted)"
    if not console.is_terminal:
        build_base_model(recipe, seen, tokenizer, paths.causal, step_lines(console, causal, recipe.steps))
        adapt_on_step = step_lines(console, adapted, recipe.adapt_steps)
        adapt_base_model(recipe, seen, tokenizer, paths.causal, paths.bidirectional, adapt_on_step)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:

        def bar(description: str, total: int) -> Callable[[int, float], None]:
            task = progress.add_task(description, total=total, loss=0.0)
            return lambda step, loss: progress.update(task, completed=step, loss=loss)

        build_base_model(recipe, seen, tokenizer, paths.causal, bar(causal, recipe.steps))
        adapt_on_step = bar(adapted, recipe.adapt_steps)
        adapt_base_model(recipe, seen, tokenizer, paths.causal, paths.bidirectional, adapt_on_step)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to `count` inside, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
        use_cache=False,  # training forwards build no key/value cache: less Python per step, same numbers
    )
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = stops
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.use_cache = True  # greedy answers decode token by token from the cache
    return model
