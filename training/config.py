"""`TrialConfig`: the only object that crosses from the driver to the Ray Train workers.

Frozen, JSON round-trippable, validated on construction so a bad value fails on the driver with
one line naming the flag to change, before anything is launched. Defaults are the paper's.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from evaluation.questions import PROMPT_STYLES
from evaluation.scoring import SCORINGS
from training.errors import InputError
from training.knowledge import PARAPHRASES
from training.limits import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_EVAL_POINTS,
    MAX_NEW_TOKENS,
    MAX_WORKERS,
    check_range,
    check_seed,
)
from training.method_registry import method_info

PRECISIONS = ("bf16", "fp32")


@dataclass(frozen=True, kw_only=True)
class TrialConfig:
    """One fine-tuning run, exactly as the paper's protocol describes it."""

    model: str
    """Local folder or hub id loaded through `from_pretrained`."""
    dataset: str = "namedesc"
    """A registered knowledge set (namedesc, bio, wiki) or a bring-your-own folder."""
    paraphrase: str = "none"
    """Training texts: none, same-order or permute-order paraphrases (--paraphrase)."""
    data_dir: str | None = None
    """Where the dataset files live (--data-dir; default: $MFT_DATA_DIR or the user cache)."""
    method: str = "masked"
    """A registered method: ar, masked, masked-random or dllm (--method)."""
    lr: float | None = None
    """Peak learning rate; None takes the paper's value for the method (--lr)."""
    epochs: int = 128
    """Passes over the documents (--epochs)."""
    eval_at: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64, 96, 128)
    """Epochs after which to evaluate and checkpoint; 0 = before any update (--eval-at)."""
    mask_ratio: tuple[float, float] = (0.05, 0.95)
    """t drawn per optimizer step from U(lo, hi), the same on every rank; lo == hi: fixed (--mask-ratio)."""
    seed: int = 0
    batch_size: int = 16
    """Documents per device per step; global batch = batch_size x workers (--batch-size)."""
    workers: int = 1
    """Ray Train workers, one process (and GPU) each (--workers)."""
    gpus_per_worker: float = 0.0
    """0 trains on CPU with gloo; >= 1 on CUDA with nccl (--gpus-per-worker)."""
    precision: str = "bf16"
    """bf16: FSDP2 MixedPrecisionPolicy(param bf16, reduce fp32); fp32: no mixed precision (--precision)."""
    mask_token: str | None = None
    """Mask token string or id; None picks the model's own (--mask-token)."""
    trust_remote_code: bool = False
    """Needed for LLaDA's modeling code (--trust-remote-code)."""
    weight_decay: float = 0.1
    """AdamW weight decay on matrices; none on biases and norm weights (--weight-decay)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas (--betas)."""
    grad_clip: float = 1.0
    """Gradient-norm clip (--grad-clip)."""
    warmup_ratio: float = 0.02
    """Share of all update steps spent warming up to the peak lr, constant after (--warmup-ratio)."""
    max_new_tokens: int = 128
    """Answer length at evaluation (both samplers)."""
    block_length: int = 4
    """LLaDA sampler block length (--block-length)."""
    eval_batch_size: int = 100
    """Questions per forward batch at evaluation (--eval-batch-size)."""
    eval_limit: int | None = None
    """Evaluate on N questions, an equal seeded share of each category (quick checks; None = all)."""
    scoring: str = "authors"
    """ROUGE-1 recall rule: authors (the authors' code, which computed Table 3) or rouge-score (--scoring)."""
    prompt_style: str | None = None
    """chat (the paper's) or completion (cloze sets); None = the dataset's own (--prompt-style)."""
    log_every: int = 20
    """Optimizer steps between training-metric reports (--log-every)."""
    run_id: str = ""
    """MLflow run that tracks this trial; set by the driver."""
    extra_tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        info = method_info(self.method)
        if self.lr is None:
            object.__setattr__(self, "lr", info.default_lr)
        _check(math.isfinite(self.lr) and 0 < self.lr <= 1, f"--lr must be > 0 and <= 1, got {self.lr}")
        gpus = self.gpus_per_worker
        _check(math.isfinite(gpus) and gpus >= 0, f"--gpus-per-worker must be a number >= 0, got {gpus}")
        _check(math.isfinite(self.weight_decay) and self.weight_decay >= 0, "--weight-decay must be >= 0")
        _check(all(0 <= beta < 1 for beta in self.betas), f"--betas must lie in [0, 1), got {self.betas}")
        _check(math.isfinite(self.grad_clip) and self.grad_clip > 0, "--grad-clip must be a number > 0")
        _check(0 <= self.warmup_ratio < 1, f"--warmup-ratio must lie in [0, 1), got {self.warmup_ratio}")
        _check(self.paraphrase in PARAPHRASES, f"--paraphrase must be one of {', '.join(PARAPHRASES)}")
        _check(self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}")
        _check(self.scoring in SCORINGS, f"--scoring must be one of {', '.join(SCORINGS)}")
        _check(
            self.prompt_style in (None, *PROMPT_STYLES),
            f"--prompt-style must be one of {', '.join(PROMPT_STYLES)}, got {self.prompt_style!r}",
        )
        check_range("--epochs", self.epochs, 1, MAX_EPOCHS, "26x the paper's longest schedule")
        check_range("--batch-size", self.batch_size, 1, MAX_BATCH, "documents per device per step")
        check_range("--workers", self.workers, 1, MAX_WORKERS, "workers of one trial")
        check_seed("--seed", self.seed)
        lo, hi = self.mask_ratio
        _check(0 <= lo <= hi <= 1, f"--mask-ratio must satisfy 0 <= lo <= hi <= 1, got {lo}:{hi}")
        _check(
            not (info.needs_positive_t and lo == 0),
            f"{self.method} divides its loss by t, so t must be > 0: give --mask-ratio a lower bound above 0",
        )
        _check(len(self.eval_at) > 0, "--eval-at needs at least one epoch")
        _check(
            list(self.eval_at) == sorted(set(self.eval_at)), "--eval-at must list distinct epochs in order"
        )
        outside = [epoch for epoch in self.eval_at if not 0 <= epoch <= self.epochs]
        if outside:
            raise InputError(f"--eval-at epochs must lie in 0..{self.epochs} (--epochs), got {outside[0]}")
        check_range(
            "the number of --eval-at epochs",
            len(self.eval_at),
            1,
            MAX_EVAL_POINTS,
            "points; each writes a checkpoint",
        )
        _check(self.eval_limit is None or self.eval_limit >= 1, "--eval-limit must be >= 1")
        check_range("--max-new-tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS, "answers are a few words")
        check_range("--block-length", self.block_length, 1, self.max_new_tokens, "at most --max-new-tokens")
        _check(self.log_every >= 1, "--log-every must be >= 1")
        check_range("--eval-batch-size", self.eval_batch_size, 1, MAX_BATCH, "questions per forward batch")

    @property
    def fixed_mask_ratio(self) -> bool:
        return self.mask_ratio[0] == self.mask_ratio[1]

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.workers

    def replace(self, **changes: Any) -> TrialConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(
                f"unknown trial field(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        tuples = {"eval_at", "mask_ratio", "betas"}
        return cls(**{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def from_json(cls, text: str) -> TrialConfig:
        return cls.from_dict(json.loads(text))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(message)
