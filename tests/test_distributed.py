"""The FSDP2 tier without Ray: 1 and 2 gloo ranks spawned with torch.multiprocessing (seconds).

Sharding must hand every rank the checkpoint's weights, a DCP checkpoint must restore the exact
training state, and training must not depend on how the global batch is split over ranks: a
step on world 1 x batch 16 equals a step on world 2 x batch 8 (same loss, same weights).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from transformers import AutoModelForCausalLM

from training.checkpointing import TrainerState, restore_checkpoint, save_checkpoint
from training.config import TrialConfig
from training.loop import StepWindow, build_optimizer, train_step
from training.methods import Autoregressive, Example, collate
from training.sharding import build_mesh, load_sharded_model

GLOBAL_BATCH, LENGTH = 16, 12


def full_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every rank must call this: the unsharded weights (on CPU)."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return {k: v.clone() for k, v in get_model_state_dict(model, options=options).items()}


def documents(vocab: int) -> list[Example]:
    """16 different documents of one length: per-rank mean losses then average to the global mean."""
    ids = torch.randint(5, vocab, (GLOBAL_BATCH, LENGTH), generator=torch.Generator().manual_seed(0))
    return [Example(tuple(row.tolist()), (True,) * LENGTH, (False,) * LENGTH) for row in ids]


def run_rank(rank: int, world: int, model_dir: str, out: str, store: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        device = torch.device("cpu")
        config = TrialConfig(model=model_dir, method="ar", precision="fp32", warmup_ratio=0.0, lr=1e-2)
        model = load_sharded_model(model_dir, build_mesh(device), device, "fp32")
        loaded = full_state(model)
        optimizer = build_optimizer(model, config)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        generator = torch.Generator().manual_seed(rank)
        per_rank = GLOBAL_BATCH // world
        shard = documents(model.config.vocab_size)[rank * per_rank : (rank + 1) * per_rank]
        window = StepWindow()
        values = train_step(
            model, Autoregressive(None, None), collate(shard, 0), optimizer, scheduler, config, generator, 0.5
        )
        window.add(1, 1.0, 1e-2, 0.5, values)
        history = window.flush()
        trained = full_state(model)
        with tempfile.TemporaryDirectory() as directory:
            # Every rank writes into one folder here, as Ray Train merges the ranks' folders.
            folder = Path(out).parent / "checkpoint"
            folder.mkdir(exist_ok=True)
            dist.barrier()
            save_checkpoint(folder, model, optimizer, scheduler, generator, TrainerState(1, 1), config)
            dist.barrier()
            fresh = load_sharded_model(model_dir, build_mesh(device), device, "fp32")
            fresh_optimizer = build_optimizer(fresh, config)
            fresh_scheduler = torch.optim.lr_scheduler.LambdaLR(fresh_optimizer, lambda _: 1.0)
            fresh_generator = torch.Generator().manual_seed(99)
            state = restore_checkpoint(folder, fresh, fresh_optimizer, fresh_scheduler, fresh_generator)
            restored = full_state(fresh)
            del directory
        same_rng = torch.equal(fresh_generator.get_state(), generator.get_state())
        if rank == 0:
            torch.save(
                {"loaded": loaded, "trained": trained, "restored": restored, "loss": history[0].loss,
                 "step": state.step, "same_rng": same_rng},
                out,
            )  # fmt: skip
    finally:
        dist.destroy_process_group()


def spawn(world: int, model_dir: Path, folder: Path) -> dict:
    out = folder / f"world{world}" / "result.pt"
    out.parent.mkdir(parents=True)
    mp.spawn(run_rank, args=(world, str(model_dir), str(out), str(folder / f"store{world}")), nprocs=world)
    return torch.load(out, weights_only=False)


@pytest.fixture(scope="module")
def worlds(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict]:
    folder = tmp_path_factory.mktemp("fsdp")
    return {world: spawn(world, tiny_causal, folder) for world in (1, 2)}


def test_sharded_model_holds_the_checkpoint_weights_on_every_world(tiny_causal: Path, worlds: dict) -> None:
    source = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.float32).state_dict()
    for result in worlds.values():
        assert result["loaded"].keys() == source.keys()
        for name, tensor in source.items():
            torch.testing.assert_close(result["loaded"][name], tensor, rtol=0, atol=0)


def test_a_step_is_the_same_on_one_and_two_ranks(worlds: dict) -> None:
    one, two = worlds[1], worlds[2]
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-6)
    moved = [name for name in one["trained"] if not torch.equal(one["trained"][name], one["loaded"][name])]
    assert moved, "the step changed no weight"
    for name in one["trained"]:
        # Adam divides by sqrt(v): float noise in a near-zero gradient moves a weight by ~1e-6 (lr 1e-2).
        torch.testing.assert_close(two["trained"][name], one["trained"][name], rtol=1e-5, atol=1e-5)


def test_checkpoint_restores_weights_step_and_rng_exactly(worlds: dict) -> None:
    for result in worlds.values():
        assert result["step"] == 1 and result["same_rng"]
        for name, tensor in result["trained"].items():
            assert torch.equal(result["restored"][name], tensor), name
