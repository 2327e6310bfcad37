"""The function Ray Train runs on every worker, importable without torch or transformers.

The Train controller unpickles the train function before handing it to the workers; pickled by
reference, `training.loop` itself would make every trial's controller import the whole worker
stack (torch, transformers, evaluation) for nothing. This module defers that import to the worker.
"""

from __future__ import annotations

from typing import Any


def run_worker(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Every worker: `training.loop.train_fn_per_worker` on a `TrialConfig.to_dict()`; rank 0's
    return value is how training ended (`training.report.WorkerReport`)."""
    from training.loop import train_fn_per_worker

    return train_fn_per_worker(config_dict)
