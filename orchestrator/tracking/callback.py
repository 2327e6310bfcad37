"""`MlflowTrialCallback`: what workers report, logged into the trial's run (the Ray Train controller).

Workers only `ray.train.report` a `WorkerReport`; this callback reads it field by field and turns
it into MLflow metrics, the generations table and the checkpoint tags. It never logs a step
twice, so a trial resumed after a failure (even with a new controller) continues its curves
instead of duplicating them.
"""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray.train import Checkpoint, UserCallback
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.tracking import names
from training.report import StepMetrics, WorkerReport

STORE_ATTEMPTS = 4  # tries per report; waits of 2, 4, 8 s in between
STORE_RETRY_S = 2.0
METRICS_PER_BATCH = 900  # MLflow caps a batch at 1000 metrics


class TrackingStoreError(RuntimeError):
    """The tracking store kept failing while a trial ran; the message is one line."""


def step_metrics(row: StepMetrics, timestamp: int, mask_ratio: bool = True) -> list[Metric]:
    """One optimizer step's MLflow metrics; `mask_ratio` False for a method that never reads t."""
    values = {
        names.TRAIN_LOSS: row.loss,
        names.TRAIN_LR: row.lr,
        names.TRAIN_TOKENS_PER_S: row.tokens_per_s,
        **({names.TRAIN_MASK_RATIO: row.mask_ratio} if mask_ratio else {}),
        names.EPOCH: row.epoch,
    }
    return [Metric(key, float(value), timestamp, row.step) for key, value in values.items()]


class MlflowTrialCallback(UserCallback):
    """Logs what rank 0 reports into the trial's run (runs in the Train controller process).

    `mask_ratio`: whether the trial's method reads t (workers draw it either way, so every method
    keeps the same random streams; `ar` has nothing masked to log).
    """

    def __init__(self, tracking_uri: str, run_id: str, mask_ratio: bool = True) -> None:
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.mask_ratio = mask_ratio
        self._last_train_step: int | None = None
        self._last_eval_step = -1
        self._best_total = float("-inf")

    def _load_progress(self, client: MlflowClient) -> None:
        """On first use, pick up where an earlier controller left off (the best: its step's tag)."""
        run = client.get_run(self.run_id)
        self._last_train_step = max(
            (m.step for m in client.get_metric_history(self.run_id, names.TRAIN_LOSS)), default=0
        )
        totals = {m.step: m.value for m in client.get_metric_history(self.run_id, names.TOTAL_ACCURACY)}
        self._last_eval_step = max(totals, default=-1)
        best_step = run.data.tags.get(names.BEST_STEP_TAG)
        if best_step is not None and int(best_step) in totals:
            self._best_total = totals[int(best_step)]

    def after_report(
        self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Checkpoint | None
    ) -> None:
        """Log one report, retrying a failing store; then stop training with one clear line.

        An error raised here stops the Train run (its checkpoints stay, so rerunning continues it);
        a store that is briefly locked, full or restarting costs a few seconds, not the trial.
        """
        report = WorkerReport.from_metrics(metrics[0])
        progress = (self._last_train_step, self._last_eval_step, self._best_total)
        for attempt in range(STORE_ATTEMPTS):
            try:
                self._log_report(report, checkpoint)
                return
            except (MlflowException, OSError, SQLAlchemyError) as exc:
                self._last_train_step, self._last_eval_step, self._best_total = progress
                if attempt == STORE_ATTEMPTS - 1:
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise TrackingStoreError(
                        f"the MLflow store at {self.tracking_uri} failed {STORE_ATTEMPTS} times at step"
                        f" {report.step}: {reason}"
                    ) from exc
                time.sleep(STORE_RETRY_S * 2**attempt)

    def _log_report(self, report: WorkerReport, checkpoint: Checkpoint | None) -> None:
        client = MlflowClient(self.tracking_uri)
        if self._last_train_step is None:
            self._load_progress(client)
        now = int(time.time() * 1000)
        logged: list[Metric] = []
        for row in report.history:
            if row.step > self._last_train_step:
                logged += step_metrics(row, now, self.mask_ratio)
                self._last_train_step = row.step
        scores = report.evaluation
        if scores is not None and report.step > self._last_eval_step:
            self._last_eval_step = report.step
            logged += [Metric(key, float(value), now, report.step) for key, value in scores.items()]
            self._log_generations(client, report)
            # Ties go to the later step, as Ray's checkpoint manager keeps the later one.
            if scores[names.TOTAL_ACCURACY] >= self._best_total:
                self._tag_best(client, report, scores[names.TOTAL_ACCURACY], checkpoint)
        if checkpoint is not None:
            client.set_tag(self.run_id, names.LATEST_CHECKPOINT_TAG, checkpoint_location(checkpoint))
        if report.resumed_from_step is not None:
            client.set_tag(self.run_id, names.RESUMED_TAG, str(report.resumed_from_step))
        if report.checkpoint_fallback is not None:
            self._drop_corrupt_best(client, report)
        if report.diverged_step is not None:
            message = f"the loss diverged at step {report.diverged_step}: {report.diverged_loss}"
            client.set_tag(self.run_id, names.DIVERGED_TAG, message)
        for start in range(0, len(logged), METRICS_PER_BATCH):
            client.log_batch(self.run_id, metrics=logged[start : start + METRICS_PER_BATCH])

    def _drop_corrupt_best(self, client: MlflowClient, report: WorkerReport) -> None:
        """Say which checkpoint training resumed from; a best tag naming a corrupt one is removed,
        so the next evaluation names the best again (and export never reads a corrupt folder)."""
        client.set_tag(self.run_id, names.FALLBACK_TAG, report.checkpoint_fallback)
        best = client.get_run(self.run_id).data.tags.get(names.BEST_CHECKPOINT_TAG, "")
        if best and any(best.rstrip("/").endswith(path.rstrip("/")) for path in report.corrupt_checkpoints):
            client.set_tag(self.run_id, names.CORRUPT_BEST_TAG, best)
            for tag in (names.BEST_CHECKPOINT_TAG, names.BEST_STEP_TAG, names.BEST_EPOCH_TAG):
                client.delete_tag(self.run_id, tag)
            self._best_total = float("-inf")

    def _log_generations(self, client: MlflowClient, report: WorkerReport) -> None:
        rows = report.generations
        if rows:
            table = {key: [row[key] for row in rows] for key in rows[0]}
            artifact = f"{names.GENERATIONS_FOLDER}/step_{report.step:07d}.json"
            client.log_table(self.run_id, data=table, artifact_file=artifact)

    def _tag_best(
        self, client: MlflowClient, report: WorkerReport, total: float, checkpoint: Checkpoint | None
    ) -> None:
        """A new best evaluation: its step, epoch and checkpoint as tags (the `best/*` metrics are
        logged once, when the trial ends: `orchestrator.tracking.runs.log_best`)."""
        self._best_total = total
        client.set_tag(self.run_id, names.BEST_STEP_TAG, str(report.step))
        client.set_tag(self.run_id, names.BEST_EPOCH_TAG, str(report.epoch))
        if checkpoint is not None:
            client.set_tag(self.run_id, names.BEST_CHECKPOINT_TAG, checkpoint_location(checkpoint))


def checkpoint_location(checkpoint: Checkpoint) -> str:
    """Where a checkpoint lives, as `mft export` can open it: a local path, or a URI for a bucket.

    Ray gives the path inside its storage filesystem; pyarrow names GCS "gcs", URIs say "gs".
    """
    kind = checkpoint.filesystem.type_name
    if kind == "local":
        return checkpoint.path
    return f"{ {'gcs': 'gs'}.get(kind, kind) }://{checkpoint.path}"
