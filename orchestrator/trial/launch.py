"""Launching one trial (driver side): preflight checks, Ray, the TorchTrainer, the MLflow run.

`run_trial` is the Train driver function; `mft train` calls it through `launch_trial` and a
sweep's Tune trainable calls it once per trial, so both log into the same kind of MLflow run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ray
import typer
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, UserCallback
from ray.train.torch import TorchConfig, TorchTrainer
from rich.console import Console
from rich.markup import escape
from transformers import AutoTokenizer

from evaluation.answering import is_bidirectional
from orchestrator.credentials import secrets_from_environment, with_secrets
from orchestrator.tracking.runs import (
    DIVERGED_TAG,
    STORAGE_TAG,
    MlflowTrialCallback,
    ensure_experiment,
    find_trial_run,
    print_best,
    start_trial_run,
)
from orchestrator.tracking.store import open_tracking_store
from orchestrator.trial.checks import (
    check_document_lengths,
    check_storage,
    check_tracking_store,
    fit_local_resources,
    load_model_config,
    names_cluster,
)
from orchestrator.trial.failures import FAILURE_TAG, clear_failure, record_failure, resume_command
from orchestrator.trial.live_view import live_trials
from orchestrator.trial.repair import repair_run_folder
from orchestrator.trial.settings import trial_id, trial_name
from training.config import TrialConfig
from training.errors import InputError
from training.knowledge import KnowledgeSet, load_knowledge_set
from training.method_registry import method_info
from training.methods import build_method
from training.worker_entry import run_worker

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Passed to every Ray worker so remote nodes find the same models and data. Never secrets: Ray logs
# env_vars in plain text; credentials go through orchestrator.credentials instead.
FORWARDED_ENV = ("HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MFT_DATA_DIR")
# Workers' chatter (download bars, per-report dumps) stays in Ray's log files, not the terminal.
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}
# MLflow's own HTTP retries would wait minutes per write; MlflowTrialCallback retries on top of these.
STORE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


REPAIR_TAG = "mft.repaired"


class TrialFailed(RuntimeError):
    """A trial that ran but failed for a reason the user can act on; the message is one line."""


@dataclass(frozen=True)
class Preflight:
    knowledge: KnowledgeSet
    notes: tuple[str, ...] = ()


def check_model(model: str) -> None:
    """A local folder that exists, or something shaped like a hub id."""
    if Path(model).exists():
        return
    if not HUB_ID.match(model) or model.startswith((".", "/", "~")):
        raise InputError(f"model {model!r} not found: pass an existing folder or a hub id such as org/name")


def preflight(config: TrialConfig) -> Preflight:
    """Everything that can be checked before launching: data, model, tokenizer, mask token."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    knowledge = load_knowledge_set(config.dataset, config.paraphrase, data_dir)
    check_model(config.model)
    model_config = load_model_config(config.model, config.trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load model {config.model!r}: {str(exc).splitlines()[0]}") from exc
    info = method_info(config.method)
    method = build_method(config.method, tokenizer, config.mask_token)  # refuses a missing mask token
    context = getattr(model_config, "max_position_embeddings", None)
    note = check_document_lengths(knowledge.documents, lambda text: method.encode(tokenizer, text), context)
    if info.bidirectional and not is_bidirectional(model_config):
        raise InputError(
            f"method {config.method} needs a bidirectional model (LLaDA, or"
            f" `mft model tiny --arch bidirectional`); {config.model} is causal"
        )
    if info.bidirectional and config.max_new_tokens % config.block_length:
        raise InputError("--max-new-tokens must be a multiple of --block-length for the LLaDA sampler")
    return Preflight(knowledge, (f"[yellow]note:[/] {note}",) if note else ())


def connect_ray(address: str | None, tracking_uri: str | None = None) -> None:
    """Join `address` (or $RAY_ADDRESS), else start a local Ray instance; workers get `tracking_uri`."""
    if ray.is_initialized():
        return
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


def check_resources(config: TrialConfig) -> None:
    """Refuse what the cluster can never run, instead of waiting forever for it."""
    resources = ray.cluster_resources()
    gpus, cpus = resources.get("GPU", 0), resources.get("CPU", 0)
    if config.gpus_per_worker > 0 and gpus < config.workers * config.gpus_per_worker:
        raise InputError(
            f"the trial needs {config.workers * config.gpus_per_worker:g} GPUs but this Ray cluster has"
            f" {gpus:g}; use --gpus-per-worker 0 to train on CPU workers"
        )
    if config.gpus_per_worker == 0 and cpus < config.workers:
        raise InputError(
            f"the trial needs {config.workers} CPU workers but this Ray cluster has {cpus:g} CPUs"
        )


def build_trainer(
    config: TrialConfig, name: str, storage: Path | str, callbacks: list[UserCallback], max_failures: int
) -> TorchTrainer:
    """One TorchTrainer for one trial: gloo on CPU, nccl on GPU; best + latest checkpoint kept."""
    use_gpu = config.gpus_per_worker > 0
    per_worker = {"GPU": config.gpus_per_worker} if use_gpu else {"CPU": 1}
    return TorchTrainer(
        run_worker,
        train_loop_config=config.to_dict(),
        scaling_config=ScalingConfig(
            num_workers=config.workers, use_gpu=use_gpu, resources_per_worker=per_worker
        ),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=name,
            storage_path=str(storage),
            # num_to_keep=2 scored by acc/total: Ray keeps the two best and, besides them, the latest,
            # so a corrupt newest checkpoint always leaves an older whole one to resume from.
            checkpoint_config=CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute="acc/total", checkpoint_score_order="max"
            ),
            failure_config=FailureConfig(max_failures=max_failures),
            callbacks=callbacks,
        ),
    )


def run_trial(
    config: TrialConfig,
    *,
    tracking_uri: str,
    name: str,
    storage: Path | str,
    callbacks: Sequence[UserCallback] = (),
    max_failures: int = 2,
) -> None:
    """Fit one trial into its MLflow run (config.run_id) and mark the run as it really ended."""
    client = MlflowClient(tracking_uri)
    client.update_run(config.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    notes = repair_run_folder(str(storage), name)
    if notes:
        client.set_tag(config.run_id, REPAIR_TAG, "; ".join(notes))
    clear_failure(client, config.run_id)
    tracker = MlflowTrialCallback(tracking_uri, config.run_id)
    trainer = build_trainer(config, name, storage, [tracker, *callbacks], max_failures)
    status = RunStatus.FAILED
    try:
        trainer.fit()
        diverged = client.get_run(config.run_id).data.tags.get(DIVERGED_TAG)
        if diverged:
            client.set_tag(config.run_id, FAILURE_TAG, diverged)
            raise TrialFailed(f"{diverged}; lower --lr (the run is marked FAILED)")
        status = RunStatus.FINISHED
    except KeyboardInterrupt:
        status = RunStatus.KILLED
        raise
    finally:
        try:
            client.set_terminated(config.run_id, status=RunStatus.to_string(status))
        except Exception:  # the store may be the fault: report the error that ended the trial
            if status == RunStatus.FINISHED:
                raise


def launch_trial(
    config: TrialConfig,
    *,
    tracking_uri: str,
    experiment: str | None,
    storage: str,
    address: str | None,
    console: Console,
    gpus_if_any: bool = False,
    notes: Sequence[str] = (),
) -> str:
    """`mft train`: check, create (or find again) the trial's MLflow run, fit it with a live view.

    `gpus_if_any`: one GPU per worker when the cluster has enough, else CPU workers. `notes` are
    printed once every check has passed.
    The run is found again by the trial id (configuration + storage): rerunning the same command
    after a crash continues the run from its checkpoints; rerunning a finished one shows its result.
    """
    checked = preflight(config)
    check_tracking_store(tracking_uri)
    name, key = trial_name(config), trial_id(config, storage)
    local = not names_cluster(address)
    config = fit_local_resources(config, address, gpus_if_any)
    check_storage(storage)
    for note in (*checked.notes, *notes):
        console.print(note)
    client = open_tracking_store(tracking_uri)
    experiment_id = ensure_experiment(client, experiment or f"mft-{checked.knowledge.name}")
    found = find_trial_run(client, experiment_id, key)
    if found is not None and found.info.status == "FINISHED":
        console.print(
            f"this trial already finished in MLflow run {found.info.run_id}; change --seed or --storage"
            " to train it again"
        )
        print_best(client, found.info.run_id, console)
        return found.info.run_id
    connect_ray(address, tracking_uri)
    if not local and gpus_if_any and ray.cluster_resources().get("GPU", 0) >= config.workers:
        config = config.replace(gpus_per_worker=1.0)
    check_resources(config)
    run_id = start_trial_run(client, experiment_id, config, name, trial_id=key, tags={STORAGE_TAG: storage})
    config = config.replace(run_id=run_id)
    verb = "continuing" if found is not None else "trial"
    console.print(f"[bold]{verb}[/] {name}  [dim]MLflow run {run_id} at {tracking_uri}[/]")
    try:
        with live_trials(client, {name: run_id}, console):
            run_trial(config, tracking_uri=tracking_uri, name=f"trial-{run_id}", storage=storage)
    except TrialFailed as exc:
        console.print(f"[bold red]failed:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    except Exception as exc:  # a fault while running: one line here, the traceback in a log file
        reason, log = record_failure(client, run_id, exc)
        repair_run_folder(storage, f"trial-{run_id}")  # no partial checkpoint is left behind
        console.print(f"[bold red]failed:[/] {escape(reason)}", highlight=False, soft_wrap=True)
        console.print(f"full traceback: {log}", highlight=False, soft_wrap=True)
        hint = f"continue from the last checkpoint with: {resume_command(storage)}"
        console.print(hint, highlight=False, soft_wrap=True, markup=False)  # one line, to copy whole
        raise typer.Exit(1) from exc
    print_best(client, run_id, console)
    return run_id
