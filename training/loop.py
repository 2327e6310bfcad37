"""`train_fn_per_worker`: one trial's fine-tuning loop, run by every Ray Train worker.

Order: config → data → model (meta + broadcast, sharded) → optimizer → restore → for each epoch:
steps, then at scheduled epochs evaluate + checkpoint + report. Every rank runs the same number
of steps and calls `ray.train.report` at the same points (a report is a barrier).
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from transformers import AutoTokenizer, get_constant_schedule_with_warmup

from training.checkpointing import TrainerState, restore_checkpoint, save_checkpoint
from training.config import TrialConfig
from training.evaluating import evaluate
from training.knowledge import load_knowledge_set
from training.method_registry import method_info
from training.methods import Batch, build_method, collate, resolve_mask_id
from training.sharding import build_mesh, load_sharded_model


def build_optimizer(model: torch.nn.Module, config: TrialConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (none on biases and norm weights), as the reference."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


def draw_mask_ratio(config: TrialConfig, generator: torch.Generator) -> float:
    """This batch's t: fixed, or uniform in [lo, hi] from the rank's seeded generator."""
    lo, hi = config.mask_ratio
    return lo + (hi - lo) * torch.rand((), generator=generator).item()


def to_device(batch: Batch, device: torch.device) -> Batch:
    return Batch(**{name: tensor.to(device) for name, tensor in vars(batch).items()})


def train_fn_per_worker(config_dict: dict[str, Any]) -> None:
    """Ray Train entry point; `config_dict` is a `TrialConfig.to_dict()`."""
    config = TrialConfig.from_dict(config_dict)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed)

    tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    tokenizer.padding_side = "left"
    data_dir = Path(config.data_dir) if config.data_dir else None
    knowledge = load_knowledge_set(config.dataset, config.paraphrase, data_dir)
    questions = knowledge.questions[: config.eval_limit]
    method = build_method(config.method, tokenizer, config.mask_token)
    bidirectional = method_info(config.method).bidirectional
    llada_mask_id = resolve_mask_id(tokenizer, config.mask_token) if bidirectional else None
    examples = [method.encode(tokenizer, text) for text in knowledge.documents]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    sampler = DistributedSampler(examples, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
    loader = DataLoader(
        examples, batch_size=config.batch_size, sampler=sampler, collate_fn=partial(collate, pad_id=pad_id)
    )

    model = load_sharded_model(
        config.model, build_mesh(device), device, config.precision, config.trust_remote_code
    )
    model.train()
    optimizer = build_optimizer(model, config)
    total_steps = config.epochs * len(loader)
    scheduler = get_constant_schedule_with_warmup(optimizer, round(config.warmup_ratio * total_steps))
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + rank)

    state = TrainerState()
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = restore_checkpoint(Path(directory), model, optimizer, scheduler, generator)
    resumed_from = state.step

    def report(history: list[dict[str, float]], evaluation: bool) -> None:
        """Every rank: optional eval + checkpoint, then one report carrying the step history."""
        metrics: dict[str, Any] = {"step": state.step, "epoch": state.epoch, "history": history}
        if resumed_from:
            metrics["resumed_from_step"] = resumed_from
        if not evaluation:
            ray.train.report(metrics)
            return
        result = evaluate(model, tokenizer, questions, config, llada_mask_id)
        metrics.update(result.metrics)
        if rank == 0:
            metrics["generations"] = result.generations
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(Path(directory), model, optimizer, scheduler, generator, state, config)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))

    if checkpoint is None and 0 in config.eval_at:
        report([], evaluation=True)
    history: list[dict[str, float]] = []
    for epoch in range(state.epoch, config.epochs):
        sampler.set_epoch(epoch)
        for index, batch in enumerate(loader):
            metrics = train_step(
                model, method, to_device(batch, device), optimizer, scheduler, config, generator
            )
            state.step += 1
            history.append({**metrics, "step": state.step, "epoch": epoch + (index + 1) / len(loader)})
            if state.step % config.log_every == 0:
                report(history, evaluation=False)
                history = []
        state.epoch = epoch + 1
        if state.epoch in config.eval_at:
            report(history, evaluation=True)
            history = []
    if history:
        report(history, evaluation=False)


def train_step(
    model: torch.nn.Module,
    method: Any,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrialConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """One optimizer step; returns the step's metrics averaged over ranks (a collective)."""
    start = time.perf_counter()
    t = draw_mask_ratio(config, generator)
    corrupted = method.corrupt(batch, t, generator)
    logits = model(input_ids=corrupted.input_ids, attention_mask=corrupted.attention_mask).logits
    loss = method.loss(logits.float(), corrupted, t)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    totals = torch.tensor([loss.item(), float(batch.attention_mask.sum()), t], device=batch.input_ids.device)
    dist.all_reduce(totals)
    world = dist.get_world_size()
    return {
        "train/loss": totals[0].item() / world,
        "train/lr": lr,
        "train/tokens_per_s": totals[1].item() / (time.perf_counter() - start),
        "train/mask_ratio": totals[2].item() / world,
    }
