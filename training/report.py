"""What a worker tells the driver: one typed record per `ray.train.report` (every rank builds it).

The record travels inside the metrics dict Ray Train carries, under `REPORT_KEY`, beside the few
flat scalars Ray itself reads (`acc/total` scores checkpoints, Tune's callback forwards scalars).
The driver's MLflow callback reads it back field by field with `WorkerReport.from_metrics`, so a
new bookkeeping field is one more attribute here, never a value the callback must guess the type of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

REPORT_KEY = "mft_report"


@dataclass(frozen=True)
class StepMetrics:
    """One optimizer step, averaged over ranks."""

    step: int
    epoch: float
    """Fractional: epochs done when the step ended."""
    loss: float
    lr: float
    tokens_per_s: float
    """Throughput of the report window the step was in (all ranks' tokens / wall seconds)."""
    mask_ratio: float
    """The t every rank used at this step."""


@dataclass(frozen=True)
class WorkerReport:
    """One report: the steps since the last one, and at evaluation points the scores."""

    step: int
    epoch: int
    history: tuple[StepMetrics, ...] = ()
    evaluation: dict[str, float] | None = None
    """`acc/<category>`, `acc/fwd`, `acc/bwd`, `acc/total`, `eval/seconds`; None between evaluations."""
    generations: tuple[dict[str, Any], ...] = ()
    """Question, answer, prediction, score (recall), exact (1.0 or 0.0) and category per question
    (rank 0's report only)."""
    resumed_from_step: int | None = None
    """The step of the checkpoint this worker group started from; None for a fresh start."""
    checkpoint_fallback: str | None = None
    """How the resume skipped a corrupt newest checkpoint, in words."""
    corrupt_checkpoints: tuple[str, ...] = ()
    diverged_step: int | None = None
    """The first step whose loss was not finite: training stopped there on every rank."""
    diverged_loss: float | None = None
    failure: str | None = None
    """A deterministic error that stopped training on every rank, in one line (not retried:
    `training.failures`); the driver marks the run FAILED with it."""

    def to_metrics(self) -> dict[str, Any]:
        """The dict `ray.train.report` takes: the record plus the evaluation's flat scalars."""
        return {**(self.evaluation or {}), "step": self.step, REPORT_KEY: asdict(self)}

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> WorkerReport:
        """The record inside what a worker reported (the inverse of `to_metrics`)."""
        values = dict(metrics[REPORT_KEY])
        history = tuple(StepMetrics(**row) for row in values.pop("history"))
        return cls(
            history=history,
            generations=tuple(values.pop("generations")),
            corrupt_checkpoints=tuple(values.pop("corrupt_checkpoints")),
            **values,
        )
