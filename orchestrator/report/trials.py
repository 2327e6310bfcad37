"""Trials as the report sees them: one MLflow run's params, status and accuracy curves (driver side).

Everything downstream (grouping, fits, tables, figures) works on these frozen records, never on
MLflow objects, so it can be tested with hand-made curves and reads the store exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlflow.entities import Metric, Run
from mlflow.tracking import MlflowClient

from orchestrator.tracking.names import (
    ACCURACY_PREFIX,
    EARLY_STOP_TAG,
    ERROR_TAG,
    EXACT_MATCH_PREFIX,
    STOPPED,
    SWEEP_TAG,
)
from training.knowledge import order_categories
from training.method_registry import method_info, method_names

SUMMARY = ("fwd", "bwd", "total")
"""The direction macro averages and their mean, after the per-category columns."""
DEFAULT_SCORING = "rouge-score"
"""Runs logged before the `scoring` param existed were scored with `rouge-score`."""
REPORTED_STATUSES = ("FINISHED", "RUNNING")
"""Statuses whose runs enter tables; RUNNING ones with what they have so far, marked."""


@dataclass(frozen=True)
class Curve:
    """One metric's evaluations, by optimizer step (one value per step, the last one logged)."""

    points: tuple[tuple[int, float], ...]

    @property
    def steps(self) -> tuple[int, ...]:
        return tuple(step for step, _ in self.points)

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(value for _, value in self.points)

    def at(self, step: int) -> float | None:
        return next((value for s, value in self.points if s == step), None)


@dataclass(frozen=True)
class Trial:
    """One fine-tuning run: its configuration (MLflow params), status, `acc/*` and `em/*` curves."""

    run_id: str
    name: str
    status: str
    params: Mapping[str, str]
    curves: Mapping[str, Curve] = field(default_factory=dict)
    """Recall (`acc/*`, the paper's accuracy) by metric name: categories, fwd, bwd, total."""
    sweep: str = ""
    error: str = ""
    exact: Mapping[str, Curve] = field(default_factory=dict)
    """Exact match (`em/*`) by the same names; empty for runs logged before it existed."""

    @property
    def evaluated(self) -> bool:
        return bool(self.curves.get("total") and self.curves["total"].points)

    @property
    def reported(self) -> bool:
        """Enters the tables: evaluated at least once and neither failed nor killed."""
        return self.evaluated and self.status in REPORTED_STATUSES

    @property
    def seed(self) -> str:
        return self.params.get("seed", "")

    @property
    def categories(self) -> tuple[str, ...]:
        """Per-category metrics beyond fwd/bwd/total, in the paper's column order."""
        return order_categories(name for name in self.curves if name not in SUMMARY)

    @property
    def best_step(self) -> int:
        """The step with the highest `acc/total`; ties go to the later step, as training keeps it."""
        return max(self.curves["total"].points, key=lambda point: (point[1], point[0]))[0]

    def best(self) -> dict[str, float | None]:
        """Every metric at the best step (None where a metric was not logged there)."""
        step = self.best_step
        return {name: curve.at(step) for name, curve in self.curves.items()}

    def best_exact(self) -> dict[str, float | None]:
        """Exact match at the best step (chosen by recall, as the paper chooses it)."""
        step = self.best_step
        return {name: curve.at(step) for name, curve in self.exact.items()}

    @property
    def last_step(self) -> int | None:
        return self.curves["total"].points[-1][0] if self.evaluated else None


def curve_from(history: Iterable[Metric]) -> Curve:
    """Sorted by step; a step logged twice keeps its latest value."""
    by_step: dict[int, tuple[int, float]] = {}
    for metric in history:
        previous = by_step.get(metric.step)
        if previous is None or metric.timestamp >= previous[0]:
            by_step[metric.step] = (metric.timestamp, metric.value)
    return Curve(tuple((step, by_step[step][1]) for step in sorted(by_step)))


def trial_params(run: Run) -> dict[str, str]:
    """The run's params as today's runs log them: defaults for fields added since, and none its
    method never reads (older runs logged a mask ratio for `ar` too)."""
    params = dict(run.data.params)
    params.setdefault("scoring", DEFAULT_SCORING)
    params.setdefault("prompt_style", "chat")  # runs from before the setting were all asked as chat
    method = params.get("method", "")
    unused = method_info(method).unused_fields if method in method_names() else ()
    return {name: value for name, value in params.items() if name not in unused}


def load_curves(client: MlflowClient, run: Run, prefix: str) -> dict[str, Curve]:
    """The run's `prefix*` histories by metric name (one request per metric)."""
    return {
        key.removeprefix(prefix): curve_from(client.get_metric_history(run.info.run_id, key))
        for key in sorted(run.data.metrics)
        if key.startswith(prefix)
    }


def load_trial(client: MlflowClient, run: Run) -> Trial:
    """Read one run's recall (`acc/*`) and exact-match (`em/*`) histories."""
    tags = run.data.tags
    stopped = EARLY_STOP_TAG in tags  # by the sweep's scheduler: left out, as stopped, not failed
    return Trial(
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id,
        status=STOPPED if stopped else run.info.status,
        params=trial_params(run),
        curves=load_curves(client, run, ACCURACY_PREFIX),
        sweep=tags.get(SWEEP_TAG, ""),
        error=tags.get(EARLY_STOP_TAG) or tags.get(ERROR_TAG, ""),
        exact=load_curves(client, run, EXACT_MATCH_PREFIX),
    )
