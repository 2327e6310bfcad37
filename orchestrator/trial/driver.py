"""The Train driver function: one trial's `TorchTrainer`, fitted into its MLflow run (driver side).

`run_trial` is what `mft train` (through `orchestrator.trial.launch`) and every Tune trial of a
sweep (`orchestrator.sweep.tuning`) call, so both log into the same kind of run. It reads how
training ended from `fit()`'s Result: what rank 0's worker function returned says whether the loss
diverged or a deterministic error stopped every rank (`training.failures`: not retried, unlike a
dead worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from ray.train import CheckpointConfig, FailureConfig, Result, RunConfig, ScalingConfig, UserCallback
from ray.train.torch import TorchConfig, TorchTrainer
from transformers import AutoConfig, AutoTokenizer

from orchestrator.tracking.callback import MlflowTrialCallback
from orchestrator.tracking.names import FAILURE_TAG, MASK_TOKEN_TAG, REPAIR_TAG, TOTAL_ACCURACY
from orchestrator.tracking.runs import log_best
from orchestrator.trial.failures import clear_failure, repair_run_folder
from orchestrator.trial.rendering import mask_token_summary
from training.config import TrialConfig
from training.mask_token import prepare_tokenizer
from training.method_registry import method_info
from training.report import REPORT_KEY, WorkerReport
from training.worker_entry import run_worker


class TrialFailed(RuntimeError):
    """A trial that ran but failed for a reason the user can act on; the message is one line."""


def build_trainer(
    config: TrialConfig, name: str, storage: Path | str, callbacks: list[UserCallback], max_failures: int
) -> TorchTrainer:
    """One TorchTrainer for one trial: gloo on CPU, nccl on GPU; the best and the latest checkpoints kept."""
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
                num_to_keep=2, checkpoint_score_attribute=TOTAL_ACCURACY, checkpoint_score_order="max"
            ),
            failure_config=FailureConfig(max_failures=max_failures),
            callbacks=callbacks,
        ),
    )


def log_mask_token(client: MlflowClient, config: TrialConfig) -> None:
    """Tag the run with the token a masking trial masks with (added or the model's own)."""
    if not method_info(config.method).uses_mask_token:
        return
    remote = config.trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=remote)
    prepare_tokenizer(tokenizer, config.method, config.mask_token)
    vocab_size = AutoConfig.from_pretrained(config.model, trust_remote_code=remote).vocab_size
    client.set_tag(config.run_id, MASK_TOKEN_TAG, mask_token_summary(config, tokenizer, vocab_size))


def ending(result: Result) -> WorkerReport | None:
    """How training ended, as rank 0's `train_fn_per_worker` returned it; None when it never
    returned (a worker group that failed)."""
    value = result.return_value
    return WorkerReport.from_metrics(value) if isinstance(value, dict) and REPORT_KEY in value else None


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
    log_mask_token(client, config)
    tracker = MlflowTrialCallback(tracking_uri, config.run_id, method_info(config.method).uses_mask_ratio)
    trainer = build_trainer(config, name, storage, [tracker, *callbacks], max_failures)
    status = RunStatus.FAILED
    try:
        final = ending(trainer.fit())
        if final is not None and final.diverged_step is not None:
            diverged = f"the loss diverged at step {final.diverged_step}: {final.diverged_loss}"
            client.set_tag(config.run_id, FAILURE_TAG, diverged)
            raise TrialFailed(f"{diverged}; lower --lr (the run is marked FAILED)")
        if final is not None and final.failure is not None:
            client.set_tag(config.run_id, FAILURE_TAG, final.failure)
            raise TrialFailed(f"{final.failure} (not retried: it would fail again; the run is marked FAILED)")
        status = RunStatus.FINISHED
    except (KeyboardInterrupt, SystemExit):
        # Ctrl-C; or Ray Train's own Ctrl-C handler, which aborts the run and then calls sys.exit.
        status = RunStatus.KILLED
        raise
    finally:
        try:
            log_best(client, config.run_id)
            client.set_terminated(config.run_id, status=RunStatus.to_string(status))
        except Exception:  # the store may be the fault: report the error that ended the trial
            if status == RunStatus.FINISHED:
                raise
