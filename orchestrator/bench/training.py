"""What `mft bench training` measures (driver side, one process plus the Ray trials it launches).

Training speed, in every setting: non-padding tokens of the global batch per second of one
optimizer step, median over the steps after the first WARMUP_STEPS (trials report every step
here, so their `train/tokens_per_s` window is one step). Settings: a bare loop in this process
(no Ray, no FSDP), then real `run_trial` runs with 1 and with W workers at the same global batch,
logged into a throwaway MLflow store. Evaluation speed is each trial's `eval/seconds` (ranks
answer interleaved shards of the questions), mean over its checkpoints at epoch 0 and at the end.
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import count, islice
from pathlib import Path
from typing import Any

import torch
from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, get_constant_schedule_with_warmup

from orchestrator.cluster import connect_ray, fit_trial, local_cluster
from orchestrator.tracking.names import TRAIN_TOKENS_PER_S
from orchestrator.tracking.runs import ensure_experiment, start_trial_run
from orchestrator.trial.checks import check_data_and_model
from orchestrator.trial.driver import run_trial
from training.config import TrialConfig
from training.errors import InputError
from training.loop import build_optimizer, draw_mask_ratio, mask_ratio_generator, to_device, train_step
from training.methods import build_method, collate

WARMUP_STEPS = 2  # the first steps pay for allocations and kernel choice: not throughput
EXPERIMENT = "mft-bench"
# Dense bf16 tensor-core peak per GPU (no sparsity), FLOP/s, by a fragment of the device name;
# the first fragment that matches wins, so the PCIe H100 comes before the SXM one.
PEAK_BF16_FLOPS = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))


@dataclass(frozen=True)
class LoopFigures:
    """The bare loop's steady tokens/s and its per-step losses (to check that it really trains)."""

    tokens_per_s: float
    losses: tuple[float, ...]


@dataclass(frozen=True)
class Figures:
    """One row of the benchmark: a setup, its training speed and (trials only) evaluation speed."""

    setup: str
    workers: int
    batch_size: int
    tokens_per_s: float
    eval_seconds: float | None = None
    gpus: float = 0.0
    """GPUs the setup trains on (0 on CPU): the denominator of its MFU."""


class Autocast(nn.Module):
    """Runs the forward pass under bf16 autocast and leaves backward outside it (PyTorch's advice).

    Stands in for FSDP2's bf16 policy in the bare loop: bf16 compute over fp32 master weights.
    """

    def __init__(self, model: nn.Module, device_type: str) -> None:
        super().__init__()
        self.model = model
        self.device_type = device_type

    def forward(self, **inputs: Any) -> Any:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.model(**inputs)


def steady_median(values: Sequence[float]) -> float:
    """Median after the warm-up steps; refuses runs too short to have any steady steps."""
    if len(values) <= WARMUP_STEPS:
        raise InputError(f"only {len(values)} optimizer steps, all warm-up ({WARMUP_STEPS}); raise --epochs")
    return statistics.median(values[WARMUP_STEPS:])


def bare_loop_tokens_per_s(
    config: TrialConfig, documents: Sequence[str], steps: int | None = None
) -> LoopFigures:
    """The trial's model, method, optimizer and global batch in this process: no Ray, no FSDP.

    `steps` defaults to the trial's (epochs x batches per epoch); the device is the workers' kind.
    """
    device = torch.device("cuda" if config.gpus_per_worker > 0 else "cpu")
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    method = build_method(config.method, tokenizer, config.mask_token)
    examples = [method.encode(tokenizer, text) for text in documents]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loader = DataLoader(
        examples,
        batch_size=config.global_batch_size,
        shuffle=True,
        collate_fn=partial(collate, pad_id=pad_id),
    )
    model: nn.Module = AutoModelForCausalLM.from_pretrained(
        config.model, dtype=torch.float32, trust_remote_code=config.trust_remote_code
    ).to(device)
    if config.precision == "bf16":
        model = Autocast(model, device.type)
    model.train()
    optimizer = build_optimizer(model, config)
    total = steps or config.epochs * len(loader)
    scheduler = get_constant_schedule_with_warmup(optimizer, round(config.warmup_ratio * total))
    generator = torch.Generator().manual_seed(config.seed)
    mask_ratios = mask_ratio_generator(config.seed)
    batches = (batch for _ in count() for batch in loader)  # epoch after epoch, reshuffled
    tokens_per_s, losses = [], []
    for batch in islice(batches, total):
        start = time.perf_counter()
        on_device = to_device(batch, device)
        t = draw_mask_ratio(config, mask_ratios)
        values = train_step(model, method, on_device, optimizer, scheduler, config, generator, t)
        loss, tokens = values.tolist()
        tokens_per_s.append(tokens / (time.perf_counter() - start))  # tolist() waited for the device
        losses.append(loss)
    return LoopFigures(steady_median(tokens_per_s), tuple(losses))


def training_flops_per_token(config: TrialConfig) -> float:
    """6 FLOPs (2 forward, 4 backward) per parameter a token meets in a matrix product.

    Every parameter but the input embedding (a lookup) counts. Attention's score and value
    products are left out: at the paper's document lengths (a few hundred tokens at most) they add
    a few per cent, so the MFU printed is a slight underestimate.
    """
    model_config = AutoConfig.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config, trust_remote_code=config.trust_remote_code)
    embedding = model.get_input_embeddings().weight.numel()
    return 6.0 * (sum(p.numel() for p in model.parameters()) - embedding)


def peak_flops_per_gpu() -> float | None:
    """This machine's GPU's dense bf16 peak, if it is one we know."""
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for fragment, peak in PEAK_BF16_FLOPS if fragment in name), None)


def check_steps(config: TrialConfig, documents: int) -> None:
    """Refuse, before anything launches, a run whose every step would be warm-up.

    The bare loop and the 1-worker trial take the fewest steps: one per global batch.
    """
    steps = config.epochs * -(-documents // config.global_batch_size)
    if steps <= WARMUP_STEPS:
        raise InputError(
            f"{documents} documents x --epochs {config.epochs} at a global batch of"
            f" {config.global_batch_size} make {steps} steps, all warm-up ({WARMUP_STEPS});"
            " raise --epochs or lower --batch-size"
        )


def trial_figures(config: TrialConfig, client: MlflowClient, storage: Path) -> tuple[float, float]:
    """One real `run_trial` into the throwaway store; returns (tokens/s, mean eval seconds)."""
    experiment_id = ensure_experiment(client, EXPERIMENT)
    name = f"bench-{config.workers}-workers"
    trial_id = f"{name}-{uuid.uuid4().hex[:8]}"
    run_id = start_trial_run(client, experiment_id, config, name, trial_id=trial_id, tags={})
    # max_failures=0: a benchmark that retried a failed trial would time the retry.
    run_trial(
        config.replace(run_id=run_id),
        tracking_uri=client.tracking_uri,
        name=trial_id,
        storage=storage,
        max_failures=0,
    )
    steps = sorted(client.get_metric_history(run_id, TRAIN_TOKENS_PER_S), key=lambda metric: metric.step)
    evals = [metric.value for metric in client.get_metric_history(run_id, "eval/seconds")]
    return steady_median([metric.value for metric in steps]), statistics.fmean(evals)


def measure_training(config: TrialConfig, progress: Callable[[str], None]) -> list[Figures]:
    """Bare loop, 1-worker trial, W-worker trial (W > 1), all at the global batch of `config`."""
    documents = check_data_and_model(config).knowledge.documents
    check_steps(config, len(documents))
    fit_trial(config, *local_cluster(), gpus_if_any=False, local=True)
    config = config.replace(log_every=1)  # one report per step: per-step throughput
    single = config.replace(workers=1, batch_size=config.global_batch_size)
    # The bare loop runs before Ray starts, so Ray's start-up and idle processes cannot slow it.
    progress("bare loop: one process, no Ray, no FSDP")
    bare = bare_loop_tokens_per_s(config, documents)
    on_gpu = config.gpus_per_worker > 0
    if on_gpu:
        torch.cuda.empty_cache()  # hand the bare loop's cached memory back before workers share the GPU
    rows = [Figures("bare loop", 1, config.global_batch_size, bare.tokens_per_s, gpus=float(on_gpu))]
    connect_ray(None)
    trials = (single, config) if config.workers > 1 else (single,)
    with tempfile.TemporaryDirectory(prefix="mft-bench-", ignore_cleanup_errors=True) as directory:
        client = MlflowClient(f"sqlite:///{Path(directory) / 'mlflow.db'}")
        for trial in trials:
            progress(f"Ray Train + FSDP2 trial: {trial.workers} worker(s) x batch {trial.batch_size}")
            tokens_per_s, eval_seconds = trial_figures(trial, client, Path(directory) / "runs")
            gpus = trial.workers * trial.gpus_per_worker
            rows.append(
                Figures(
                    "Ray Train + FSDP2", trial.workers, trial.batch_size, tokens_per_s, eval_seconds, gpus
                )
            )
    return rows


def render_training(
    rows: list[Figures], title: str, flops_per_token: float | None = None, peak_per_gpu: float | None = None
) -> Table:
    """One row per setup; tokens/s relative to the bare loop, eval speed relative to 1 worker;
    MFU where the GPU's peak is known (tokens/s x FLOPs per token / (GPUs x peak))."""
    table = Table(title=title)
    columns = (
        "setup",
        "workers",
        "batch/worker",
        "tokens/s",
        "vs bare loop",
        "MFU",
        "eval s/checkpoint",
        "eval speed-up",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "setup" else "right")
    bare = rows[0].tokens_per_s
    single_eval = next(row.eval_seconds for row in rows if row.eval_seconds is not None)
    for row in rows:
        evaluated = row.eval_seconds is not None
        known = flops_per_token is not None and peak_per_gpu is not None and row.gpus > 0
        mfu = f"{row.tokens_per_s * flops_per_token / (row.gpus * peak_per_gpu):.1%}" if known else "-"
        table.add_row(
            row.setup,
            str(row.workers),
            str(row.batch_size),
            f"{row.tokens_per_s:.0f}",
            f"{row.tokens_per_s / bare:.2f}x",
            mfu,
            f"{row.eval_seconds:.2f}" if evaluated else "-",
            f"{single_eval / row.eval_seconds:.2f}x" if evaluated else "-",
        )
    return table


def print_setting(
    config: TrialConfig, flops_per_token: float, peak_per_gpu: float | None, console: Console
) -> None:
    """What the figures depend on: the command, the cores and threads, and how they were taken."""
    per_worker = f"{config.gpus_per_worker:g} GPU" if config.gpus_per_worker > 0 else "1 CPU"
    peak = f"{peak_per_gpu / 1e12:g} TFLOP/s per GPU" if peak_per_gpu else "no known GPU peak (--peak-tflops)"
    lines = (
        f"command: {shlex.join(['mft', *sys.argv[1:]])}",
        f"cores: {os.cpu_count()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')};"
        f" torch threads in the bare loop: {torch.get_num_threads()}; Ray workers: {per_worker} each,"
        " with as many torch threads as OMP_NUM_THREADS, which Ray sets to their CPUs (min 1) when unset",
        "bare loop: this process, plain from_pretrained model, no Ray, no FSDP"
        + (", bf16 autocast" if config.precision == "bf16" else ""),
        f"tokens/s: non-padding tokens of the global batch per second of an optimizer step, median after"
        f" {WARMUP_STEPS} warm-up steps; eval: mean `eval/seconds` at epochs 0 and {config.epochs},"
        f" {config.eval_limit} questions",
        f"MFU: {flops_per_token / 6:.3g} parameters in matrix products x 6 FLOPs per token (attention"
        f" scores left out), over {peak}",
    )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
