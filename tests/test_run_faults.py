"""Faults while a trial runs, without Ray: a failing tracking store in the Train controller's
callback (retried, then one clear error, nothing lost or doubled), failure reasons and logs,
and the resume hint. Real MLflow sqlite store; the store's failures are injected into
`MlflowClient.log_batch`. Seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.failure_logs import failure_reason
from orchestrator.tracking import callback as tracking_callback
from orchestrator.tracking.callback import MlflowTrialCallback, TrackingStoreError
from orchestrator.trial.failures import record_failure, resume_command
from training.report import StepMetrics, WorkerReport


@pytest.fixture
def store(tmp_path: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("faults")
    return client, client.create_run(experiment).info.run_id


def a_report(step: int) -> dict:
    return WorkerReport(step, 1, (StepMetrics(step, 1.0, 1.5, 1e-3, 10.0, 0.5),)).to_metrics()


def failing_log_batch(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """The next `failures` log_batch calls fail as a locked or full store does; returns the call count."""
    real, calls = MlflowClient.log_batch, [0]

    def log_batch(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] <= failures:
            raise MlflowException("(sqlite3.OperationalError) database or disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    monkeypatch.setattr(tracking_callback, "STORE_RETRY_S", 0.01)
    return calls


def test_a_briefly_failing_store_is_retried_and_nothing_is_doubled(store, monkeypatch) -> None:
    client, run_id = store
    calls = failing_log_batch(monkeypatch, failures=2)
    callback = MlflowTrialCallback(client.tracking_uri, run_id)
    callback.after_report(None, [a_report(1)], None)
    callback.after_report(None, [a_report(2)], None)
    assert calls[0] == 4  # two failures, then one write per report
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [1, 2]


def test_a_store_that_stays_down_stops_training_with_one_line(store, monkeypatch) -> None:
    client, run_id = store
    failing_log_batch(monkeypatch, failures=10**6)
    callback = MlflowTrialCallback(client.tracking_uri, run_id)
    with pytest.raises(TrackingStoreError) as error:
        callback.after_report(None, [a_report(7)], None)
    message = str(error.value)
    assert "failed 4 times at step 7" in message and "disk is full" in message
    assert len(message.splitlines()) == 1
    monkeypatch.undo()  # the store is back: the next report logs the step that failed, once
    callback.after_report(None, [a_report(8)], None)
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [8]


def test_the_reason_is_the_innermost_errors_last_line(store, tmp_path, monkeypatch) -> None:
    client, run_id = store
    monkeypatch.setenv("MFT_LOG_DIR", str(tmp_path / "logs"))
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as inner:
            raise RuntimeError("Training failed\n  (worker traceback...)\nsee above") from inner
    except RuntimeError as outer:
        assert failure_reason(outer) == "OSError: [Errno 28] No space left on device"
        reason, log = record_failure(client, run_id, outer)
    tags = client.get_run(run_id).data.tags
    assert tags["mft.failure"] == reason and tags["mft.failure_log"] == str(log)
    text = log.read_text()
    assert "Traceback" in text and "No space left on device" in text and "Training failed" in text


def test_the_resume_hint_is_the_whole_command_with_storage(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["mft", "train", "--model", "./m", "--lr", "1e-4"])
    assert resume_command("/data/runs") == "mft train --model ./m --lr 1e-4 --storage /data/runs"
    monkeypatch.setattr(sys, "argv", ["mft", "train", "--storage", "s3://b/runs"])
    assert resume_command("s3://b/runs") == "mft train --storage s3://b/runs"
