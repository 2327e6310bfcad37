"""What a sweep's trials report to Tune when a scheduler reads it (runs in each trial's Ray Train controller).

Its own small module: the controller unpickles this callback by reference, and importing it from
`orchestrator.sweep.tuning` would load the whole driver stack there (the trial launcher,
transformers, the worker loop) once per trial.
"""

from __future__ import annotations

from typing import Any

from ray.tune.integration.ray_train import TuneReportCallback

from orchestrator.tracking.names import TOTAL_ACCURACY


class EvalReportsToTune(TuneReportCallback):
    """Forward only evaluation reports, as scalars: Tune (and ASHA) see one result per eval point."""

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        report = metrics[0]
        if TOTAL_ACCURACY not in report:
            return
        scalars = {k: v for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        super().after_report(run_context, [scalars], checkpoint)
