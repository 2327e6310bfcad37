"""A corrupt newest checkpoint: detected before loading, skipped for the newest whole one, and
never left named as the best. Real DCP checkpoints written in one process and a real MLflow
store; no Ray cluster (a `ray.train.Checkpoint` is only a path on a filesystem). Seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray.train
import torch
import torch.distributed as dist
from mlflow.tracking import MlflowClient

from orchestrator.tracking.callback import MlflowTrialCallback
from orchestrator.tracking.names import BEST_CHECKPOINT_TAG
from orchestrator.trial.failures import repair_run_folder
from training.checkpointing import TrainerState, checkpoint_problem, save_checkpoint
from training.config import TrialConfig
from training.report import WorkerReport
from training.resuming import restore_newest_whole


@pytest.fixture(scope="module")
def process_group():
    """A world of one (gloo), as every rank sees it when saving its shard."""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("gloo", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def parts(fill: float):
    model = torch.nn.Linear(8, 8)
    with torch.no_grad():
        model.weight.fill_(fill)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return model, optimizer, scheduler, torch.Generator().manual_seed(0)


def write(folder: Path, fill: float, step: int) -> Path:
    folder.mkdir(parents=True)
    model, optimizer, scheduler, generator = parts(fill)
    save_checkpoint(
        folder, model, optimizer, scheduler, generator, TrainerState(step=step), TrialConfig(model="m")
    )
    return folder


def truncate(folder: Path) -> None:
    shard = next(folder.glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])


def test_a_truncated_or_incomplete_checkpoint_is_detected(process_group, tmp_path: Path) -> None:
    whole = write(tmp_path / "checkpoint_a", 1.0, 10)
    assert checkpoint_problem(whole) is None
    cut = write(tmp_path / "checkpoint_b", 1.0, 10)
    truncate(cut)
    assert checkpoint_problem(cut) == "__0_0.distcp is truncated"
    half = write(tmp_path / "checkpoint_c", 1.0, 10)
    (half / "trainer_state.json").unlink()
    assert checkpoint_problem(half) == "trainer_state.json is missing"


def test_workers_resume_from_the_newest_whole_checkpoint(process_group, tmp_path: Path) -> None:
    write(tmp_path / "checkpoint_2026-01-01_00-00-01", 1.0, 10)
    write(tmp_path / "checkpoint_2026-01-01_00-00-02", 2.0, 20)
    newest = write(tmp_path / "checkpoint_2026-01-01_00-00-03", 3.0, 30)
    truncate(newest)
    model, optimizer, scheduler, generator = parts(0.0)
    resumed = restore_newest_whole(ray.train.Checkpoint(str(newest)), model, optimizer, scheduler, generator)
    assert resumed.state.step == 20 and torch.all(model.weight == 2.0)
    assert (
        resumed.note
        == "resumed from checkpoint_2026-01-01_00-00-02; skipped corrupt checkpoint_2026-01-01_00-00-03"
    )
    truncate(tmp_path / "checkpoint_2026-01-01_00-00-02")
    truncate(tmp_path / "checkpoint_2026-01-01_00-00-01")
    with pytest.raises(RuntimeError, match="no whole checkpoint to resume from"):
        restore_newest_whole(ray.train.Checkpoint(str(newest)), *parts(0.0))


def test_a_corrupt_best_checkpoint_loses_its_tag_and_the_next_evaluation_still_logs(tmp_path: Path) -> None:
    """Every report after a fallback carries it; the evaluation after one once crashed the callback."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("fallback")).info.run_id
    corrupt = str(tmp_path / "runs" / "checkpoint_3")
    client.set_tag(run_id, BEST_CHECKPOINT_TAG, corrupt)
    callback = MlflowTrialCallback(client.tracking_uri, run_id)
    note = "resumed from checkpoint_2; skipped corrupt checkpoint_3"
    resumed = WorkerReport(
        step=30, epoch=3, resumed_from_step=20, checkpoint_fallback=note, corrupt_checkpoints=(corrupt,)
    )
    callback.after_report(None, [resumed.to_metrics()], None)
    tags = client.get_run(run_id).data.tags
    assert BEST_CHECKPOINT_TAG not in tags
    assert tags["mft.best_checkpoint_corrupt"] == corrupt and tags["mft.checkpoint_fallback"] == note
    evaluated = WorkerReport(
        step=40,
        epoch=4,
        evaluation={"acc/fwd": 0.5, "acc/bwd": 0.25, "acc/total": 0.375, "eval/seconds": 1.0},
        resumed_from_step=20,
        checkpoint_fallback=note,
        corrupt_checkpoints=(corrupt,),
    )
    callback.after_report(None, [evaluated.to_metrics()], None)
    run = client.get_run(run_id)
    assert run.data.metrics["acc/total"] == 0.375 and run.data.tags["mft.best_step"] == "40"
    assert run.data.tags["mft.resumed_from_step"] == "20"


def test_a_disk_full_run_folder_is_tidied_before_the_trial_runs_again(process_group, tmp_path: Path) -> None:
    """What a full disk left (measured: a truncated shard and an empty Ray snapshot) is set right."""
    run = tmp_path / "runs" / "trial-x"
    whole = write(run / "checkpoint_2026-01-01_00-00-01", 1.0, 10)
    partial = write(run / "checkpoint_2026-01-01_00-00-02", 2.0, 20)
    truncate(partial)
    (run / "checkpoint_manager_snapshot.json").write_text("")
    notes = repair_run_folder(str(tmp_path / "runs"), "trial-x")
    assert notes == [
        "set aside Ray's unreadable checkpoint_manager_snapshot.json"
        " (kept as checkpoint_manager_snapshot.json.corrupt)",
        "removed partial checkpoint checkpoint_2026-01-01_00-00-02 (__0_0.distcp is truncated)",
    ]
    assert sorted(p.name for p in run.iterdir()) == [whole.name, "checkpoint_manager_snapshot.json.corrupt"]
    assert repair_run_folder(str(tmp_path / "runs"), "trial-x") == []
    assert repair_run_folder("s3://bucket/runs", "trial-x") == []
