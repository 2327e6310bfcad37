"""MLflow bookkeeping for trials (driver side and the Ray Train controller, never the workers).

One run per trial. Workers only `ray.train.report`; `MlflowTrialCallback` runs on the Train
controller and turns each report into MLflow metrics, the generations table and the best-
checkpoint tags. It never logs a step twice, so a trial resumed after a failure (even with a
new controller) continues its curves instead of duplicating them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray.train import Checkpoint, UserCallback
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.trial.trial_file import LOGGED_FILE, trial_yaml
from training.config import TrialConfig
from training.fingerprint import data_fingerprint
from training.knowledge import knowledge_files

TRIAL_ID_TAG = "mft.trial_id"
BEST_CHECKPOINT_TAG = "mft.best_checkpoint"
LATEST_CHECKPOINT_TAG = "mft.latest_checkpoint"
STORAGE_TAG = "mft.storage"
RESUMED_TAG = "mft.resumed_from_step"
# MLflow 3's UI reads this experiment tag to choose its "Machine learning" or "GenAI" layout.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
ML_EXPERIMENT_KIND = "custom_model_development"
DIVERGED_TAG = "mft.diverged"
FALLBACK_TAG = "mft.checkpoint_fallback"
CORRUPT_BEST_TAG = "mft.best_checkpoint_corrupt"
STORE_ATTEMPTS = 4  # tries per report; waits of 2, 4, 8 s in between
STORE_RETRY_S = 2.0
# Keys of a worker report that are bookkeeping, not metrics.
NON_METRIC_KEYS = {
    "step",
    "epoch",
    "history",
    "generations",
    "resumed_from_step",
    "diverged_step",
    "diverged_loss",
}


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, creating it (artifacts beside a sqlite file) if needed.

    Tagged as a machine-learning experiment, so MLflow 3's UI opens it on runs and metric
    charts rather than on GenAI traces; a kind the user set is left alone.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if EXPERIMENT_KIND_TAG not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, ML_EXPERIMENT_KIND)
        return experiment.experiment_id
    location = None
    uri = client.tracking_uri
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return client.create_experiment(
        name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: ML_EXPERIMENT_KIND}
    )


def flatten_params(config: TrialConfig) -> dict[str, str]:
    """Every TrialConfig field as an MLflow param (tuples joined, nested dicts dotted)."""
    params: dict[str, str] = {}
    for key, value in config.to_dict().items():
        if key in ("run_id", "extra_tags"):
            continue
        params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return params


def data_params(config: TrialConfig) -> dict[str, str]:
    """The data fingerprint of the files the trial reads (folder, files with line counts, SHA-256)."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    return data_fingerprint(knowledge_files(config.dataset, config.paraphrase, data_dir))


def find_trial_run(client: MlflowClient, experiment_id: str, trial_id: str) -> Run | None:
    """The run tagged with `trial_id`, if any: a resumed trial logs into its first run."""
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{TRIAL_ID_TAG}` = '{trial_id}'", max_results=1
    )
    return found[0] if found else None


def start_trial_run(
    client: MlflowClient,
    experiment_id: str,
    config: TrialConfig,
    name: str,
    trial_id: str,
    tags: dict[str, str],
) -> str:
    """Create the trial's run (or find it again by trial id) and log its params; returns the run id."""
    found = find_trial_run(client, experiment_id, trial_id)
    if found is not None:
        client.update_run(found.info.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return found.info.run_id
    run = client.create_run(experiment_id, run_name=name, tags={TRIAL_ID_TAG: trial_id, **tags})
    params = {**flatten_params(config), **data_params(config)}
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    client.log_text(run.info.run_id, trial_yaml(config), LOGGED_FILE)  # `mft train --config` reruns it
    return run.info.run_id


class TrackingStoreError(RuntimeError):
    """The tracking store kept failing while a trial ran; the message is one line."""


class MlflowTrialCallback(UserCallback):
    """Logs what rank 0 reports into the trial's run (runs in the Train controller process)."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self._last_train_step: int | None = None
        self._last_eval_step = -1
        self._best_total = float("-inf")

    def _load_progress(self, client: MlflowClient) -> None:
        """On first use, pick up where an earlier controller left off."""
        run = client.get_run(self.run_id)
        self._last_train_step = max(
            (m.step for m in client.get_metric_history(self.run_id, "train/loss")), default=0
        )
        self._last_eval_step = max(
            (m.step for m in client.get_metric_history(self.run_id, "acc/total")), default=-1
        )
        self._best_total = run.data.metrics.get("best/acc_total", float("-inf"))

    def after_report(
        self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Checkpoint | None
    ) -> None:
        """Log one report, retrying a failing store; then stop training with one clear line.

        An error raised here stops the Train run (its checkpoints stay, so rerunning continues it);
        a store that is briefly locked, full or restarting costs a few seconds, not the trial.
        """
        progress = (self._last_train_step, self._last_eval_step, self._best_total)
        for attempt in range(STORE_ATTEMPTS):
            try:
                self._log_report(metrics[0], checkpoint)
                return
            except (MlflowException, OSError, SQLAlchemyError) as exc:
                self._last_train_step, self._last_eval_step, self._best_total = progress
                if attempt == STORE_ATTEMPTS - 1:
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise TrackingStoreError(
                        f"the MLflow store at {self.tracking_uri} failed {STORE_ATTEMPTS} times at step"
                        f" {metrics[0].get('step')}: {reason}"
                    ) from exc
                time.sleep(STORE_RETRY_S * 2**attempt)

    def _log_report(self, report: dict[str, Any], checkpoint: Checkpoint | None) -> None:
        client = MlflowClient(self.tracking_uri)
        if self._last_train_step is None:
            self._load_progress(client)
        now = int(time.time() * 1000)
        logged: list[Metric] = []
        for entry in report.get("history", []):
            step = int(entry["step"])
            if step > self._last_train_step:
                logged += [Metric(k, float(v), now, step) for k, v in entry.items() if k != "step"]
                self._last_train_step = step
        step = int(report["step"])
        if "acc/total" in report and step > self._last_eval_step:
            self._last_eval_step = step
            logged += [Metric(k, float(v), now, step) for k, v in report.items() if k not in NON_METRIC_KEYS]
            self._log_generations(client, report, step)
            # Ties go to the later step, as Ray's checkpoint manager keeps the later one.
            if report["acc/total"] >= self._best_total:
                self._log_best(client, report, step, checkpoint, now, logged)
        if checkpoint is not None:
            client.set_tag(self.run_id, LATEST_CHECKPOINT_TAG, checkpoint_location(checkpoint))
        if "resumed_from_step" in report:
            client.set_tag(self.run_id, RESUMED_TAG, str(report["resumed_from_step"]))
        if "checkpoint_fallback" in report:
            self._drop_corrupt_best(client, report)
        if "diverged_step" in report:
            message = f"the loss diverged at step {report['diverged_step']}: {report['diverged_loss']}"
            client.set_tag(self.run_id, DIVERGED_TAG, message)
        for start in range(0, len(logged), 900):  # MLflow caps a batch at 1000 metrics
            client.log_batch(self.run_id, metrics=logged[start : start + 900])

    def _drop_corrupt_best(self, client: MlflowClient, report: dict[str, Any]) -> None:
        """Say which checkpoint training resumed from; a best tag naming a corrupt one is removed,
        so the next evaluation names the best again (and export never reads a corrupt folder)."""
        client.set_tag(self.run_id, FALLBACK_TAG, report["checkpoint_fallback"])
        best = client.get_run(self.run_id).data.tags.get(BEST_CHECKPOINT_TAG, "")
        corrupt = report.get("corrupt_checkpoints", [])
        if best and any(best.rstrip("/").endswith(path.rstrip("/")) for path in corrupt):
            client.set_tag(self.run_id, CORRUPT_BEST_TAG, best)
            client.delete_tag(self.run_id, BEST_CHECKPOINT_TAG)
            self._best_total = float("-inf")

    def _log_generations(self, client: MlflowClient, report: dict[str, Any], step: int) -> None:
        rows = report.get("generations") or []
        if rows:
            table = {key: [row[key] for row in rows] for key in rows[0]}
            client.log_table(self.run_id, data=table, artifact_file=f"generations/step_{step:07d}.json")

    def _log_best(
        self,
        client: MlflowClient,
        report: dict[str, Any],
        step: int,
        checkpoint: Checkpoint | None,
        now: int,
        logged: list[Metric],
    ) -> None:
        self._best_total = report["acc/total"]
        logged.append(Metric("best/step", float(step), now, step))
        logged.append(Metric("best/epoch", float(report["epoch"]), now, step))
        for key, value in report.items():
            if key.startswith("acc/"):
                logged.append(Metric("best/acc_" + key.removeprefix("acc/"), float(value), now, step))
        if checkpoint is not None:
            client.set_tag(self.run_id, BEST_CHECKPOINT_TAG, checkpoint_location(checkpoint))


def print_best(client: MlflowClient, run_id: str, console: Console) -> None:
    """The best checkpoint's accuracies, per category, as logged."""
    run = client.get_run(run_id)
    best = {k.removeprefix("best/acc_"): v for k, v in run.data.metrics.items() if k.startswith("best/acc_")}
    table = Table(title=f"best checkpoint: step {run.data.metrics.get('best/step', 0):g}")
    for key in best:
        table.add_column(key, justify="right")
    table.add_row(*(f"{value:.3f}" for value in best.values()))
    console.print(table)
    if FALLBACK_TAG in run.data.tags:
        console.print(f"[yellow]note:[/] {run.data.tags[FALLBACK_TAG]}", highlight=False)
    console.print(f"status {run.info.status}; export with: mft export {run_id} --out DIR")


def checkpoint_location(checkpoint: Checkpoint) -> str:
    """Where a checkpoint lives, as `mft export` can open it: a local path, or a URI for a bucket.

    Ray gives the path inside its storage filesystem; pyarrow names GCS "gcs", URIs say "gs".
    """
    kind = checkpoint.filesystem.type_name
    if kind == "local":
        return checkpoint.path
    return f"{ {'gcs': 'gs'}.get(kind, kind) }://{checkpoint.path}"
