"""`mft train` on the cluster's own stack, through its faults: checkpoints in an S3 bucket, the run
on a PostgreSQL-backed `mlflow server` whose artifacts go to the bucket (tests/local_stack.py),
workers on a Ray node that holds no credential (the driver's travel in Ray's setup hook).

One trial (2 gloo workers, 60 one-step epochs, evaluated at 0, 10, 20, 40, 60, a report every
step), started by
one command and rerun by the command it prints, takes every fault in turn; each is asserted by
the step training resumed at, which a silent restart from step 0 would not show:
1. a Train worker SIGKILLed after the step-10 checkpoint: the workers resume from the bucket at 10;
2. SIGTERM to the driver after the step-20 checkpoint: exit 130, the run KILLED, the command to
   continue printed;
3. that newest checkpoint truncated in the bucket, the printed command rerun: it resumes from the
   checkpoint before it, tags the fallback, and its next evaluations log (they once crashed the
   MLflow callback);
4. the object store stopped for 20 s or more across the step-40 checkpoint: the trial survives
   (Ray Train restarts its workers) or fails in one line with the command to continue, which then
   finishes it.
One FINISHED run at the end, every step logged once, the mask-ratio stream unbroken, the S3
secret in no Ray file, MLflow param or object. Cost: ~3 min on a 2-core box.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from local_stack import BUCKET, LocalStack
from mlflow.tracking import MlflowClient
from ray_nodes import MFT, RayNodes, marked_processes, wait_until

from training.config import TrialConfig
from training.loop import draw_mask_ratio, mask_ratio_generator

pytestmark = pytest.mark.slow
EXPERIMENT = "stack-train"
CONTINUE = "continue from the last checkpoint with: "


@dataclass
class Story:
    """What the scenario saw, step by step, for the tests to read."""

    stack: LocalStack
    cluster: RayNodes
    run_id: str = ""
    resumed_after_kill: str | None = None
    interrupted: subprocess.CompletedProcess | None = None
    status_after_interrupt: str = ""
    corrupt: str = ""
    """The bucket key prefix of the checkpoint truncated before the rerun."""
    whole_step: int = -1
    """The step of the newest whole checkpoint before it."""
    fallback_tags: dict[str, str] = field(default_factory=dict)
    outage_s: float = 0.0
    reruns: list[subprocess.CompletedProcess] = field(default_factory=list)

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.stack.tracking_uri)

    def steps(self, key: str) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(self.run_id, key))


def env(stack: LocalStack, cluster: RayNodes) -> dict[str, str]:
    """The driver's: the cluster's token and the S3 endpoint with its credentials."""
    return {**cluster.env, **stack.env()}


def command(stack: LocalStack, cluster: RayNodes, model: Path, knowledge: Path) -> list[str]:
    return [
        *MFT, "train", "--dataset", str(knowledge), "--method", "masked", "--model", str(model),
        "--epochs", "60", "--eval-at", "0,10,20,40,60", "--workers", "2", "--batch-size", "1",
        "--max-new-tokens", "16", "--lr", "3e-3", "--log-every", "1", "--gpus-per-worker", "0",
        "--tracking-uri", stack.tracking_uri, "--storage", stack.storage("train"),
        "--experiment", EXPERIMENT, "--address", cluster.address,
    ]  # fmt: skip


def printed_command(output: str) -> list[str]:
    """The continue command a failed or interrupted `mft train` printed, runnable here."""
    line = next(line for line in output.splitlines() if line.startswith(CONTINUE))
    args = shlex.split(line.removeprefix(CONTINUE))
    assert args[0] == "mft"
    return [*MFT, *args[1:]]


def train_workers(cluster: RayNodes) -> list[int]:
    pids = []
    for pid in marked_processes(cluster.mark):
        try:
            if b"RayTrainWorker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            continue
    return pids


def checkpoints(story: Story) -> dict[str, int]:
    """Bucket prefix of each of the trial's checkpoints → its step, from its trainer_state.json."""
    folder = f"train/trial-{story.run_id}/"
    found = {}
    for key in story.stack.keys(folder):
        if key.endswith("/trainer_state.json"):
            found[posixpath.dirname(key)] = json.loads(story.stack.read(key))["step"]
    return found


def start(args: list[str], story: Story, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env(story.stack, story.cluster), stdout=log.open("w"), stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen, log: Path) -> subprocess.CompletedProcess:
    process.wait(timeout=900)
    return subprocess.CompletedProcess(process.args, process.returncode, log.read_text(), "")


def first_run(story: Story, args: list[str], folder: Path) -> None:
    """Faults 1 and 2: a killed worker, then SIGTERM to the driver."""
    log = folder / "first.log"
    process = start(args, story, log)

    def evaluated(step: int) -> bool:
        if not story.run_id:
            experiment = story.client.get_experiment_by_name(EXPERIMENT)
            story.run_id = story.client.search_runs([experiment.experiment_id])[0].info.run_id
        return step in story.steps("acc/total")

    assert wait_until(lambda: evaluated(10) and train_workers(story.cluster), 900, process), log.read_text()
    os.kill(train_workers(story.cluster)[-1], signal.SIGKILL)  # one of the two: its partner fails too

    def resumed() -> str | None:
        return story.client.get_run(story.run_id).data.tags.get("mft.resumed_from_step")

    assert wait_until(resumed, 600, process), log.read_text()
    story.resumed_after_kill = resumed()
    assert wait_until(lambda: evaluated(20), 600, process), log.read_text()
    process.send_signal(signal.SIGTERM)
    story.interrupted = finish(process, log)
    story.status_after_interrupt = story.client.get_run(story.run_id).info.status


def corrupt_newest(story: Story) -> None:
    """Fault 3: the newest checkpoint's shard cut in half in the bucket."""
    kept = checkpoints(story)
    newest, older = sorted(kept)[-1], sorted(kept)[-2]
    shard = next(key for key in story.stack.keys(newest + "/") if key.endswith(".distcp"))
    data = story.stack.read(shard)
    story.stack.write(shard, data[: len(data) // 2])
    story.corrupt, story.whole_step = newest, kept[older]


def rerun_through_an_outage(story: Story, args: list[str], folder: Path) -> None:
    """Fault 4 while the rerun runs; then, if it failed, its printed command once more."""
    log = folder / "rerun.log"
    process = start(args, story, log)

    def fallback_tags() -> dict[str, str] | None:
        tags = story.client.get_run(story.run_id).data.tags
        return tags if "mft.checkpoint_fallback" in tags else None

    assert wait_until(fallback_tags, 900, process), log.read_text()
    story.fallback_tags = fallback_tags()
    # The rerun trains again from the fallback; it logs only steps the first run did not (at most a
    # few past 20: the SIGTERM lands while it trains on). Stop the store once it logs past 30.
    assert wait_until(lambda: max(story.steps("train/loss")) >= 30, 600, process), log.read_text()
    story.stack.pause_object_store()
    paused = time.monotonic()
    # Until the step-40 checkpoint is under way (step 39 logged) and 20 s have passed.
    wait_until(lambda: 39 in story.steps("train/loss"), 120, process)
    time.sleep(max(20 - (time.monotonic() - paused), 15))
    story.stack.resume_object_store()
    story.outage_s = time.monotonic() - paused
    story.reruns.append(finish(process, log))
    if story.reruns[-1].returncode != 0:
        again = subprocess.run(
            printed_command(story.reruns[-1].stdout), env=env(story.stack, story.cluster),
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        story.reruns.append(again)


@pytest.fixture(scope="module")
def story(
    stack: LocalStack, stack_cluster: RayNodes, tiny_causal: Path, two_facts: Path, tmp_path_factory
) -> Story:
    folder = tmp_path_factory.mktemp("stack-train")
    told = Story(stack, stack_cluster)
    first_run(told, command(stack, stack_cluster, tiny_causal, two_facts), folder)
    assert told.interrupted.returncode == 130, told.interrupted.stdout[-3000:]
    corrupt_newest(told)
    rerun_through_an_outage(told, printed_command(told.interrupted.stdout), folder)
    ends = ", ".join(str(done.returncode) for done in told.reruns)
    print(
        f"outage {told.outage_s:.0f} s; reruns ended {ends}; fallback to step {told.whole_step}"
    )  # -rP shows it
    return told


def test_a_killed_worker_resumes_from_the_bucket(story: Story) -> None:
    assert story.resumed_after_kill == "10"


def test_sigterm_leaves_the_run_killed_and_prints_the_command_that_continues_it(story: Story) -> None:
    output = story.interrupted.stdout
    assert story.interrupted.returncode == 130 and story.status_after_interrupt == "KILLED"
    assert f"interrupted: run {story.run_id} is KILLED" in output
    assert printed_command(output)[-2:] == ["--address", story.cluster.address]
    assert f"--storage {story.stack.storage('train')}" in output
    assert "SIGTERM received" not in output and "Traceback" not in output  # Ray's C++ dump, once


def test_a_corrupt_newest_checkpoint_falls_back_and_the_next_evaluations_log(story: Story) -> None:
    tags = story.fallback_tags
    assert tags["mft.resumed_from_step"] == str(story.whole_step)
    corrupt = posixpath.basename(story.corrupt)
    assert re.fullmatch(
        rf"resumed from checkpoint_\S+; skipped corrupt {corrupt}", tags["mft.checkpoint_fallback"]
    )
    run = story.client.get_run(story.run_id)
    assert run.info.status == "FINISHED", [r.stdout[-3000:] for r in story.reruns]
    assert story.steps("acc/total") == [0, 10, 20, 40, 60]  # 40 and 60 logged after the fallback
    assert int(run.data.tags["mft.best_step"]) in story.steps("acc/total")
    best = run.data.tags["mft.best_checkpoint"]
    assert best.startswith(f"s3://{BUCKET}/train/") and corrupt not in best


def test_an_object_store_outage_is_survived_or_ends_in_one_line_and_the_rerun_finishes(story: Story) -> None:
    assert story.outage_s >= 20
    first = story.reruns[0]
    if first.returncode != 0:  # failed: one line, and the command that finished it
        failures = [line for line in first.stdout.splitlines() if line.startswith("failed:")]
        assert first.returncode == 1 and len(failures) == 1, first.stdout[-3000:]
        assert any(line.startswith(CONTINUE) for line in first.stdout.splitlines())
    assert story.reruns[-1].returncode == 0, story.reruns[-1].stdout[-3000:]
    # The outage cut the step-40 checkpoint: training resumed (in place or rerun) from step 20's,
    # the one the rerun wrote again after its fallback to step 10.
    assert story.client.get_run(story.run_id).data.tags["mft.resumed_from_step"] == "20"


def test_every_step_is_logged_once_and_the_t_stream_is_unbroken(story: Story) -> None:
    assert story.steps("train/loss") == list(range(1, 61))
    stream, config = mask_ratio_generator(0), TrialConfig(model="unused")
    expected = [draw_mask_ratio(config, stream) for _ in range(60)]
    history = sorted(
        (m.step, m.value) for m in story.client.get_metric_history(story.run_id, "train/mask_ratio")
    )
    assert [value for _, value in history] == expected
    experiment = story.client.get_experiment_by_name(EXPERIMENT)
    assert len(story.client.search_runs([experiment.experiment_id])) == 1
    assert story.client.get_run(story.run_id).data.tags["mft.storage"] == story.stack.storage("train")


def test_generations_are_in_the_bucket_through_the_server(story: Story) -> None:
    run = story.client.get_run(story.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    stored = story.stack.keys(
        f"mlflow-artifacts/{run.info.experiment_id}/{story.run_id}/artifacts/generations/"
    )
    assert [posixpath.basename(key) for key in stored] == [f"step_{s:07d}.json" for s in (0, 10, 20, 40, 60)]


def test_the_s3_secret_reaches_no_ray_file_mlflow_param_or_object(story: Story) -> None:
    secret = story.stack.secret_key
    assert story.cluster.files_holding(secret) == []
    run = story.client.get_run(story.run_id)
    assert secret not in json.dumps([run.data.params, run.data.tags])
    assert [key for key in story.stack.keys() if secret.encode() in story.stack.read(key)] == []
