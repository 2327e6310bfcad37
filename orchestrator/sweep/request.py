"""What `mft sweep run` asks for, checked as a whole before anything starts (driver side, pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.sweep.expansion import PlannedTrial
from training.errors import InputError, excerpt

EARLY_STOPPING = (None, "asha")
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""A sweep's name is a folder in storage and an MLflow run name: one path component."""


@dataclass(frozen=True, kw_only=True)
class SweepRequest:
    """One sweep to start: its trials and where it runs, tracks and keeps its checkpoints."""

    kind: str
    trials: tuple[PlannedTrial, ...]
    name: str
    tracking_uri: str
    storage: str
    experiment: str | None = None
    """MLflow experiment; None: `mft-DATASET`, or `mft-sweeps` for several datasets."""
    address: str | None = None
    early_stop: str | None = None
    """None, or asha: stop weak trials early on acc/total."""
    grace_period: int = 2
    """ASHA's grace period, in evaluation points."""
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if not SWEEP_NAME.fullmatch(self.name) or self.name.endswith("."):
            raise InputError(
                f"--name {self.name[:100]!r}: a sweep name is letters, digits, '.', '_' and '-'"
                " (it names a folder in --storage), e.g. lr-namedesc-1"
            )
        if self.early_stop not in EARLY_STOPPING:
            raise InputError(f"--early-stop must be asha, got {excerpt(self.early_stop)}")
        if self.grace_period < 1:
            raise InputError(f"--grace-period must be >= 1 evaluation point, got {self.grace_period}")
        points = max_eval_points(self.trials)
        if self.early_stop == "asha" and self.grace_period > points:
            raise InputError(
                f"--grace-period {self.grace_period} is more than the {points} evaluation points of the"
                f" longest trial: ASHA could never stop a trial; use 1..{points}"
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise InputError(f"--max-concurrent must be >= 1, got {self.max_concurrent}")


def max_eval_points(trials: tuple[PlannedTrial, ...]) -> int:
    """The most evaluation points of any trial: ASHA's time budget (one Tune result per point)."""
    return max((len(trial.config.eval_at) for trial in trials), default=1)
