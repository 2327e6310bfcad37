"""The Ray cluster a command runs on (driver side): its size, joining it, fitting trials onto it.

A local run is sized from this machine without starting Ray (the local Ray then gets exactly
that), so a trial that cannot fit is refused before anything starts; a named cluster
(`--address`, `$RAY_ADDRESS`) is only known once joined. Ray itself is imported by `connect_ray`.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from orchestrator.credentials import secrets_from_environment, with_secrets
from training.errors import InputError, excerpt

if TYPE_CHECKING:
    from training.config import TrialConfig

# Passed to every Ray worker so remote nodes find the same models and data. Never secrets: Ray logs
# env_vars in plain text; credentials go through orchestrator.credentials instead.
FORWARDED_ENV = (
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "MFT_DATA_DIR",
    "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL",  # the pace of each node's system metrics (seconds)
)
# Workers' chatter (download bars, per-report dumps) stays in Ray's log files, not the terminal.
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}
# MLflow's own HTTP retries would wait minutes per write; the Train callback retries on top of these.
STORE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
CONNECT_TIMEOUT_S = 5.0


def names_cluster(address: str | None) -> bool:
    """True when a Ray cluster is named (flag or $RAY_ADDRESS): its size is only known from Ray."""
    return bool(address or os.environ.get("RAY_ADDRESS"))


def local_cluster() -> tuple[float, float]:
    """(GPUs, CPUs) of this machine as a local Ray would see them, without importing torch or Ray.

    GPUs: CUDA_VISIBLE_DEVICES when set, else the NVIDIA device files (/dev/nvidia0, ...).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([device for device in visible.split(",") if device.strip() not in ("", "-1")])
    else:
        devices = os.listdir("/dev") if os.path.isdir("/dev") else []
        gpus = len([entry for entry in devices if entry.removeprefix("nvidia").isdigit()])
    return float(gpus), float(os.cpu_count() or 1)


def check_cluster_answers(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A named Ray cluster (`host:port`, `ray://host:port`) accepts a connection within seconds;
    else one line. Ray's own join retries for minutes before it gives up."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
            return
    except (OSError, ValueError) as exc:
        reason = "not host:port" if isinstance(exc, ValueError) else (exc.strerror or type(exc).__name__)
        raise InputError(
            f"no Ray cluster answers at {excerpt(address)} ({reason}, waited {timeout_s:g} s); start it"
            " (ray start --head) or check --address and $RAY_ADDRESS"
        ) from exc


def connect_ray(address: str | None, tracking_uri: str | None = None) -> None:
    """Join `address` (or $RAY_ADDRESS), else start a local Ray instance; workers get `tracking_uri`."""
    import ray

    if ray.is_initialized():
        return
    check_cluster_answers(address)
    env = {
        **QUIET_ENV,
        **STORE_ENV,
        **{name: os.environ[name] for name in FORWARDED_ENV if name in os.environ},
        **({"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {}),
    }
    ray.init(
        address=address or os.environ.get("RAY_ADDRESS"),
        runtime_env=with_secrets({"env_vars": env}, secrets_from_environment()),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


def cluster_size(address: str | None, tracking_uri: str | None = None) -> tuple[float, float]:
    """(GPUs, CPUs) of the named cluster (joined to ask), else of this machine without starting Ray."""
    if not names_cluster(address):
        return local_cluster()
    import ray

    connect_ray(address, tracking_uri)
    resources = ray.cluster_resources()
    return resources.get("GPU", 0.0), resources.get("CPU", 0.0)


def fit_trial(config: TrialConfig, gpus: float, cpus: float, gpus_if_any: bool, local: bool) -> TrialConfig:
    """The trial on a cluster of `gpus` and `cpus` (this machine when `local`), or one line saying
    why it can never run there. `gpus_if_any`: one GPU per worker when there are enough."""
    if gpus_if_any and gpus >= config.workers:
        config = config.replace(gpus_per_worker=1.0)
    where = "this machine" if local else "this Ray cluster"
    needed = config.workers * config.gpus_per_worker
    if config.gpus_per_worker > 0 and gpus < needed:
        cluster_hint = ", or --address to use a Ray cluster" if local else ""
        raise InputError(
            f"the trial needs {needed:g} GPUs (--workers {config.workers} x --gpus-per-worker"
            f" {config.gpus_per_worker:g}) but {where} has {gpus:g}; use --gpus-per-worker 0 for CPU"
            f" workers{cluster_hint}"
        )
    if config.gpus_per_worker == 0 and cpus < config.workers:
        raise InputError(
            f"--workers {config.workers} needs {config.workers} CPUs but {where} has {cpus:g};"
            f" use --workers {int(cpus)} or less" + (", or --address to use a Ray cluster" if local else "")
        )
    return config
