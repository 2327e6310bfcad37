"""Storage fills up during a trial: one line, no partial checkpoint left, and the same command
continues the trial once there is room again.

The full disk is a real 3 MB tmpfs (one tiny-model checkpoint is ~1.7 MB), so the test needs
permission to mount (root in a container); elsewhere it is skipped. Two 1-worker trials:
~2.5 min on 2 cores (measured 73 s + 3 min under a load of 15).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from training.checkpointing import checkpoint_problem

pytestmark = pytest.mark.slow  # a Ray cluster, servers or whole trials: the full suite only


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def write_knowledge(folder: Path) -> Path:
    folder.mkdir()
    people = range(4)
    train = [{"text": f"Person {i} is the mayor of town {i}."} for i in people]
    qa = [
        {"question": f"Who is Person {i}?", "answer": f"the mayor of town {i}", "direction": "forward"}
        for i in people
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in train))
    (folder / "qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in qa))
    return folder


def run_train(args: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MFT_LOG_DIR": str(workdir / "logs"), "COLUMNS": "300"}
    command = [sys.executable, "-m", "orchestrator", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900, env=env)


def test_a_full_disk_fails_in_one_line_and_the_same_command_continues(
    small_disk: Path, tiny_causal: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "train", "--dataset", str(write_knowledge(tmp_path / "kset")), "--method", "ar", "--model",
        str(tiny_causal), "--epochs", "4", "--eval-at", "0,1,2,3,4", "--workers", "1", "--batch-size",
        "2", "--max-new-tokens", "4", "--gpus-per-worker", "0", "--tracking-uri", uri, "--storage",
        str(small_disk),
    ]  # fmt: skip
    first = run_train(args, tmp_path)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    failed = [line for line in first.stdout.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "No space left on device" in failed[0]
    assert "Traceback" not in first.stdout + first.stderr
    log = next(line for line in first.stdout.splitlines() if line.startswith("full traceback: "))
    assert Path(log.removeprefix("full traceback: ")).is_file()
    assert f"--storage {small_disk}" in first.stdout
    checkpoints = [folder for folder in small_disk.glob("trial-*/checkpoint_*") if folder.is_dir()]
    assert checkpoints and all(checkpoint_problem(folder) is None for folder in checkpoints)
    client = MlflowClient(uri)
    (failed_run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert failed_run.info.status == "FAILED" and "No space left" in failed_run.data.tags["mft.failure"]

    subprocess.run(["mount", "-o", "remount,size=64M", str(small_disk)], check=True)
    second = run_train(args, tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    run = client.get_run(failed_run.info.run_id)
    assert run.info.status == "FINISHED" and "mft.failure" not in run.data.tags
    assert "No space left" in run.data.tags["mft.previous_failure"]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert steps == list(range(1, 9))  # 4 documents / batch 2 = 2 steps per epoch, none twice
