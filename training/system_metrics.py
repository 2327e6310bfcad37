"""System metrics of the nodes a trial trains on, into its MLflow run (worker side, local rank 0).

CPU, memory, disk and network (psutil), and each GPU's utilisation, memory and power where NVML
sees one (nvidia-ml-py): what shows an idle or memory-bound GPU. Sampled by MLflow's own monitor
in a background thread on one worker per node, since only a process on the node sees its GPUs;
these samples are the one thing workers write to MLflow (training metrics go through the driver's
callback). `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` (seconds, default 10) sets the pace.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ray.train


def node_label() -> str | None:
    """`node<k>` when the trial spans several nodes (metrics then read `system/node<k>/...`), else None."""
    context = ray.train.get_context()
    if context.get_world_size() == context.get_local_world_size():
        return None
    return f"node{context.get_node_rank()}"


@contextmanager
def node_system_metrics(run_id: str) -> Iterator[None]:
    """Sample this node's system metrics into `run_id` while the body runs, from local rank 0 only.

    The monitor stops by itself once the run is no longer RUNNING; a resumed trial continues its
    steps. Nothing is sampled without a run or a tracking URI (the driver passes it to workers).
    """
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not run_id or not tracking_uri or ray.train.get_context().get_local_rank() != 0:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(
        run_id, node_id=node_label(), resume_logging=True, tracking_uri=tracking_uri
    )
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


WorkerFn = Callable[[dict[str, Any]], Any]


def with_system_metrics(train_fn: WorkerFn) -> WorkerFn:
    """A worker function (taking a `TrialConfig` dict) that samples its node into the trial's run;
    it returns what `train_fn` returns (the driver reads rank 0's)."""

    @functools.wraps(train_fn)
    def sampled(config_dict: dict[str, Any]) -> Any:  # noqa: ANN401 (whatever train_fn returns)
        with node_system_metrics(config_dict.get("run_id", "")):
            return train_fn(config_dict)

    return sampled
