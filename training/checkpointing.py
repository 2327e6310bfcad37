"""Trial checkpoints: sharded model + optimizer via DCP, plus the small state to resume exactly.

Save/restore run on every Ray Train worker (all ranks must call them together); each rank writes
its DCP shard and its RNG state into its own directory, which Ray Train merges into one
checkpoint in storage. `export_checkpoint` runs in a single process (driver) to turn a
checkpoint into a Hugging Face model folder.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from training.config import TrialConfig
from training.mask_token import ADDED_MASK_TOKEN, prepare_tokenizer
from training.model_folder import save_model_folder

STATE_FILE = "trainer_state.json"
CONFIG_FILE = "trial_config.json"
TOKENIZER_FOLDER = "tokenizer"
"""The trial's tokenizer, kept in a checkpoint only when training changed it (`--mask-token add`)."""


@dataclass
class TrainerState:
    """Where the loop stands; checkpoints are taken at epoch boundaries."""

    step: int = 0
    epoch: int = 0
    scheduler: dict | None = None


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    state: TrainerState,
    config: TrialConfig,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> None:
    """Every rank: write its shard of the full training state into `directory` (rank 0 adds the
    state, the config and a tokenizer that holds an added mask token)."""
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(directory))
    rank = dist.get_rank()
    torch.save({"generator": generator.get_state()}, directory / f"rng_rank{rank}.pt")
    if rank == 0:
        state.scheduler = scheduler.state_dict()
        (directory / STATE_FILE).write_text(json.dumps(asdict(state)))
        (directory / CONFIG_FILE).write_text(config.to_json())
        if tokenizer is not None and ADDED_MASK_TOKEN in tokenizer.get_vocab():
            tokenizer.save_pretrained(directory / TOKENIZER_FOLDER)


def restore_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> TrainerState:
    """Every rank: load model, optimizer, scheduler and this rank's mask-position generator from
    `directory` (the steps' t stream is rebuilt from the step, `training.loop.mask_ratio_generator`)."""
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=str(directory))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    rng_file = directory / f"rng_rank{dist.get_rank()}.pt"
    generator.set_state(torch.load(rng_file, weights_only=True)["generator"])
    trainer_state = TrainerState(**json.loads((directory / STATE_FILE).read_text()))
    if trainer_state.scheduler is not None:
        scheduler.load_state_dict(trainer_state.scheduler)
    return trainer_state


def checkpoint_problem(directory: Path) -> str | None:
    """Why the checkpoint in `directory` cannot be restored (a missing or truncated file), or None.

    Cheap: reads DCP's index and compares each shard file's size with the bytes it must hold,
    so a checkpoint cut short by a full disk or a dying node is caught before loading it.
    """
    for name in (STATE_FILE, CONFIG_FILE, ".metadata"):
        if not (directory / name).is_file():
            return f"{name} is missing"
    try:
        json.loads((directory / STATE_FILE).read_text())
        storage = dcp.FileSystemReader(str(directory)).read_metadata().storage_data
    except Exception as exc:  # any unreadable index is a corrupt checkpoint
        return f"unreadable index ({type(exc).__name__})"
    needed: dict[str, int] = {}
    for info in storage.values():
        needed[info.relative_path] = max(needed.get(info.relative_path, 0), info.offset + info.length)
    for name, size in sorted(needed.items()):
        path = directory / name
        if not path.is_file() or path.stat().st_size < size:
            return f"{name} is truncated"
    return None


def export_checkpoint(directory: Path, out: Path) -> Path:
    """Write the checkpoint's weights as a `from_pretrained`-loadable folder (+ tokenizer).

    Weights are saved in the dtype the trial evaluated in (bf16 under the bf16 policy), so
    evaluating the export reproduces the accuracy logged for this checkpoint. A mask token added
    by `--mask-token add` comes with it: the checkpoint's tokenizer, the grown embeddings.
    """
    config = TrialConfig.from_json((directory / CONFIG_FILE).read_text())
    saved = directory / TOKENIZER_FOLDER
    source = str(saved) if saved.is_dir() else config.model
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
    vocab_size = prepare_tokenizer(tokenizer, config.method, config.mask_token)
    model_config = AutoConfig.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    if vocab_size is not None and vocab_size > model_config.vocab_size:
        model_config.vocab_size = vocab_size
    model = AutoModelForCausalLM.from_config(
        model_config, dtype=torch.float32, trust_remote_code=config.trust_remote_code
    )
    state = {"model": model.state_dict()}
    with warnings.catch_warnings():  # torch warns that it loads in one process even when asked to
        warnings.filterwarnings("ignore", "torch.distributed is disabled", UserWarning)
        dcp.load(state, checkpoint_id=str(directory), no_dist=True)
    model.load_state_dict(state["model"])
    if config.precision == "bf16":
        model = model.to(torch.bfloat16)
    return save_model_folder(model, tokenizer, out)
