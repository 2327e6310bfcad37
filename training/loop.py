"""`train_fn_per_worker`: one trial's fine-tuning loop, run by every Ray Train worker.

Reads top to bottom: set up (config → data → model, sharded → optimizer → restore), then for
each epoch: optimizer steps, then at the scheduled epochs evaluate + checkpoint + report. Every
rank runs the same number of steps and calls `ray.train.report` at the same points (a report is
a barrier). Step metrics stay on the device until a logging step: one host sync per report.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from transformers import AutoTokenizer, PreTrainedTokenizerBase, get_constant_schedule_with_warmup

from evaluation.questions import QAItem, select_questions
from training.checkpointing import TrainerState, save_checkpoint
from training.config import TrialConfig
from training.evaluating import evaluate
from training.failures import TrialError, agreed
from training.knowledge import load_knowledge_set
from training.mask_token import prepare_tokenizer
from training.methods import Batch, Method, build_method, collate
from training.report import StepMetrics, WorkerReport
from training.resuming import Resumption, newest_checkpoint_in_run, restore_newest_whole
from training.sharding import build_mesh, load_sharded_model
from training.system_metrics import with_system_metrics


@dataclass
class StepWindow:
    """The steps since the last report: per-step values kept on the device until `flush`."""

    steps: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    mask_ratios: list[float] = field(default_factory=list)
    """Per step: the t every rank used (drawn on the host from the shared stream)."""
    values: list[torch.Tensor] = field(default_factory=list)
    """Per step: (loss, non-padding tokens) on the device."""
    started: float = field(default_factory=time.perf_counter)

    def add(self, step: int, epoch: float, lr: float, t: float, values: torch.Tensor) -> None:
        self.steps.append(step)
        self.epochs.append(epoch)
        self.lrs.append(lr)
        self.mask_ratios.append(t)
        self.values.append(values)

    def flush(self) -> tuple[StepMetrics, ...]:
        """Every rank (a collective): the window's per-step metrics averaged over ranks; the window
        is then empty, its clock restarted.

        `tokens_per_s` is the window's throughput (all ranks' tokens over its wall time),
        measured after the all-reduce so that queued device work is counted.
        """
        if not self.steps:
            return ()
        totals = torch.stack(self.values)
        dist.all_reduce(totals)
        rows = totals.tolist()
        world = dist.get_world_size()
        tokens_per_s = sum(row[1] for row in rows) / (time.perf_counter() - self.started)
        history = tuple(
            StepMetrics(step, epoch, loss / world, lr, tokens_per_s, t)
            for step, epoch, lr, t, (loss, _) in zip(
                self.steps, self.epochs, self.lrs, self.mask_ratios, rows, strict=True
            )
        )
        for values in (self.steps, self.epochs, self.lrs, self.mask_ratios, self.values):
            values.clear()
        self.started = time.perf_counter()
        return history


@dataclass
class WorkerRun:
    """Everything one rank trains with; built once by `set_up`."""

    config: TrialConfig
    tokenizer: PreTrainedTokenizerBase
    method: Method
    questions: list[QAItem]
    sampler: DistributedSampler
    loader: DataLoader
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    """This rank's mask positions (and random tokens): a stream per rank."""
    mask_ratios: torch.Generator
    """The steps' t: one stream, the same on every rank (see `mask_ratio_generator`)."""
    device: torch.device
    state: TrainerState
    resumed_from: int | None
    """The step of the checkpoint this rank started from (a restarted worker group); None: fresh."""
    resumption: Resumption | None = None
    """How it resumed, with the corrupt checkpoints it skipped."""


def build_optimizer(model: torch.nn.Module, config: TrialConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (none on biases and norm weights), as the reference.

    `foreach` on every device: CUDA picks it anyway, CPU would loop over the parameters one by one
    (a fifth of a tiny model's step); the updates are the same to the bit.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, foreach=True)


def mask_ratio_generator(seed: int, step: int = 0) -> torch.Generator:
    """The stream of t values: seeded with the trial's seed alone, so every rank draws the same t.

    One draw per optimizer step, as the authors' scripts (whatever the number of workers); the
    stream after `step` steps is rebuilt on resume by skipping that many draws (nothing to save).
    """
    generator = torch.Generator().manual_seed(seed)
    torch.rand(step, generator=generator)
    return generator


def draw_mask_ratio(config: TrialConfig, generator: torch.Generator) -> float:
    """This step's t: uniform in [lo, hi] (lo == hi: fixed); one draw from `mask_ratio_generator`."""
    lo, hi = config.mask_ratio
    return lo + (hi - lo) * torch.rand((), generator=generator).item()


def to_device(batch: Batch, device: torch.device) -> Batch:
    return Batch(**{name: tensor.to(device) for name, tensor in vars(batch).items()})


def read_inputs(config: TrialConfig) -> tuple[TrialConfig, PreTrainedTokenizerBase, Method, list, list]:
    """This rank's local set-up (no collectives): tokenizer (with `--mask-token add` applied), data,
    method, encoded documents and the questions to evaluate."""
    tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    tokenizer.padding_side = "left"
    prepare_tokenizer(tokenizer, config.method, config.mask_token)
    data_dir = Path(config.data_dir) if config.data_dir else None
    knowledge = load_knowledge_set(config.dataset, config.paraphrase, data_dir)
    if config.prompt_style is None:
        config = config.replace(prompt_style=knowledge.prompt_style)
    method = build_method(config.method, tokenizer, config.mask_token)
    examples = [method.encode(tokenizer, text) for text in knowledge.documents]
    questions = list(select_questions(knowledge.questions, config.eval_limit))
    return config, tokenizer, method, examples, questions


def set_up(config: TrialConfig) -> WorkerRun:
    """Every rank: data, method, sharded model, optimizer, schedule; restored from the latest
    checkpoint when Ray Train hands one over (a restarted worker group)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed)
    with agreed():  # a bad template or document fails every rank at once, and is not retried
        config, tokenizer, method, examples, questions = read_inputs(config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    sampler = DistributedSampler(examples, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
    loader = DataLoader(
        examples, batch_size=config.batch_size, sampler=sampler, collate_fn=partial(collate, pad_id=pad_id)
    )
    model = load_sharded_model(
        config.model, build_mesh(device), device, config.precision, config.trust_remote_code,
        vocab_size=prepare_tokenizer(tokenizer, config.method, config.mask_token),
    )  # fmt: skip
    model.train()
    optimizer = build_optimizer(model, config)
    total_steps = config.epochs * len(loader)
    scheduler = get_constant_schedule_with_warmup(optimizer, round(config.warmup_ratio * total_steps))
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + rank)
    resumption = None
    checkpoint = ray.train.get_checkpoint() or newest_checkpoint_in_run()
    if checkpoint is not None:
        resumption = restore_newest_whole(checkpoint, model, optimizer, scheduler, generator)
    state = resumption.state if resumption else TrainerState()
    return WorkerRun(
        config=config,
        tokenizer=tokenizer,
        method=method,
        questions=questions,
        sampler=sampler,
        loader=loader,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=generator,
        mask_ratios=mask_ratio_generator(config.seed, state.step),
        device=device,
        state=state,
        resumed_from=state.step if checkpoint is not None else None,
        resumption=resumption,
    )


class Diverged(Exception):
    """The loss went non-finite; raised on every rank at the same report (values are all-reduced)."""

    def __init__(self, record: WorkerReport) -> None:
        super().__init__(f"the loss diverged at step {record.diverged_step}")
        self.record = record


def check_finite(history: tuple[StepMetrics, ...]) -> StepMetrics | None:
    """The first step whose loss is NaN or infinite, if any."""
    return next((row for row in history if not math.isfinite(row.loss)), None)


@with_system_metrics
def train_fn_per_worker(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Ray Train entry point; `config_dict` is a `TrialConfig.to_dict()`. Returns how training ended
    as a `WorkerReport` (rank 0's is `fit()`'s `Result.return_value`, which the driver reads).

    A diverged loss, or a deterministic error every rank agreed on (`training.failures`), ends the
    loop on every rank after reporting it (no evaluation, no checkpoint): the driver marks the
    trial FAILED; retrying from a checkpoint would only fail again.
    """
    try:
        run = set_up(TrialConfig.from_dict(config_dict))
    except TrialError as exc:
        return end_with(WorkerReport(step=0, epoch=0, failure=str(exc)))
    config, window = run.config, StepWindow()
    try:
        if run.resumed_from is None and 0 in config.eval_at:
            report(run, window, evaluation=True)
        for epoch in range(run.state.epoch, config.epochs):
            train_epoch(run, epoch, window)
            run.state.epoch = epoch + 1
            if run.state.epoch in config.eval_at:
                report(run, window, evaluation=True)
        if window.steps:
            report(run, window, evaluation=False)
    except Diverged as exc:
        return exc.record.to_metrics()
    except TrialError as exc:
        history = window.flush()
        return end_with(WorkerReport(run.state.step, run.state.epoch, history, failure=str(exc)))
    return WorkerReport(step=run.state.step, epoch=run.state.epoch).to_metrics()


def end_with(record: WorkerReport) -> dict[str, Any]:
    """Every rank: report the record that ends training (its history and reason get logged), and
    return it for the driver."""
    ray.train.report(record.to_metrics())
    return record.to_metrics()


def train_epoch(run: WorkerRun, epoch: int, window: StepWindow) -> None:
    """One pass over this rank's shard of the documents; reports every `log_every` steps."""
    run.sampler.set_epoch(epoch)
    batches = len(run.loader)
    for index, batch in enumerate(run.loader):
        lr = run.scheduler.get_last_lr()[0]
        t = draw_mask_ratio(run.config, run.mask_ratios)
        values = train_step(
            run.model, run.method, to_device(batch, run.device), run.optimizer, run.scheduler, run.config,
            run.generator, t,
        )  # fmt: skip
        run.state.step += 1
        window.add(run.state.step, epoch + (index + 1) / batches, lr, t, values)
        if run.state.step % run.config.log_every == 0:
            report(run, window, evaluation=False)


def report(run: WorkerRun, window: StepWindow, evaluation: bool) -> None:
    """Every rank: the window's step metrics, then (at eval points) evaluate + checkpoint, in one report."""
    skipped = run.resumption.skipped if run.resumption else ()
    record = WorkerReport(
        step=run.state.step,
        epoch=run.state.epoch,
        history=window.flush(),
        resumed_from_step=run.resumed_from,
        checkpoint_fallback=run.resumption.note if skipped else None,
        corrupt_checkpoints=tuple(skipped),
    )
    diverged = check_finite(record.history)
    if diverged is not None:
        record = replace(record, diverged_step=diverged.step, diverged_loss=diverged.loss)
        ray.train.report(record.to_metrics())
        raise Diverged(record)
    if not evaluation:
        ray.train.report(record.to_metrics())
        return
    result = evaluate(run.model, run.tokenizer, run.questions, run.config)
    generations = tuple(result.generations) if dist.get_rank() == 0 else ()
    record = replace(record, evaluation=result.metrics, generations=generations)
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(
            Path(directory), run.model, run.optimizer, run.scheduler, run.generator, run.state, run.config,
            run.tokenizer,
        )  # fmt: skip
        ray.train.report(record.to_metrics(), checkpoint=ray.train.Checkpoint.from_directory(directory))


def train_step(
    model: torch.nn.Module,
    method: Method,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrialConfig,
    generator: torch.Generator,
    t: float,
) -> torch.Tensor:
    """One optimizer step at mask ratio `t`, corrupting with this rank's `generator`; returns
    (loss, non-padding tokens) on the device, not yet synced."""
    corrupted = method.corrupt(batch, t, generator)
    logits = model(input_ids=corrupted.input_ids, attention_mask=corrupted.attention_mask).logits
    loss = method.loss(logits.float(), corrupted, t)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return torch.stack([loss.detach(), batch.attention_mask.sum().to(loss.dtype)])
