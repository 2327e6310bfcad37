"""Sweeps on the cluster's own stack: state and checkpoints in an S3 bucket, runs on a
PostgreSQL-backed `mlflow server` (tests/local_stack.py), trials on a Ray node of 8 CPUs.

- Load, interrupted: 8 one-worker trials start at once, each reporting every step: 7 `masked`
  ones of 16 steps and one `ar` trial of 120. SIGTERM to the driver once the 7 have finished and
  the long one has its step-4 checkpoint; `mft sweep status` from another folder tells the truth;
  `mft sweep resume` reruns only the long one, from step 4, while PostgreSQL restarts under it.
  Every metric counted: none lost, none doubled.
- Early stopping: `--early-stop asha` over a trial that learns and one that cannot (lr 1e-9: its
  weights never change), one at a time so the order is fixed; the hopeless one stops at its first
  rung, shown as STOPPED in the live table, `mft sweep status`, the parent run and `mft report`;
  the best trial is the finished one.
Cost: ~4 min on a 2-core box.
"""

from __future__ import annotations

import csv
import re
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_stack import LocalStack
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from ray_nodes import MFT, RayNodes, clean_env, wait_until

pytestmark = pytest.mark.slow
STEP_KEYS = ("train/loss", "train/lr", "train/tokens_per_s", "train/mask_ratio", "epoch")
EVAL_KEYS = ("acc/fwd", "acc/bwd", "acc/total", "eval/seconds")
LONG_STEPS = 120
"""The `ar` trial's: the short ones end when it is about halfway (at 60 it was nearly done, and its
resume had no new step left to log while PostgreSQL restarts)."""


@dataclass(frozen=True)
class Sweep:
    name: str
    stack: LocalStack
    outputs: tuple[subprocess.CompletedProcess, ...]
    actors: Counter[str] = field(default_factory=Counter)
    """The Ray actors the sweep started, by class."""

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.stack.tracking_uri)

    def runs(self) -> list[Run]:
        experiment = self.client.get_experiment_by_name(self.name)
        return self.client.search_runs([experiment.experiment_id]) if experiment else []

    def parent(self) -> Run:
        (parent,) = [run for run in self.runs() if "mlflow.parentRunId" not in run.data.tags]
        return parent

    def children(self) -> dict[str, Run]:
        """By trial id (`masked_causal_..._seed0`, as the live table and `best trial:` name them)."""
        runs = [run for run in self.runs() if "mlflow.parentRunId" in run.data.tags]
        return {run.data.tags["mft.trial_id"].split("/")[-1]: run for run in runs}

    def steps(self, run: Run, key: str) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(run.info.run_id, key))


def write_spec(folder: Path, name: str, model: Path, knowledge: Path, **values: Any) -> Path:
    """A user spec of one-worker trials on the tiny model; `values` adds keys (`fixed` adds to its own)."""
    methods = values.pop("methods", ["masked"])
    fixed = {"paraphrase": "none", "workers": 1, "gpus_per_worker": 0, "batch_size": 2, "max_new_tokens": 16,
             "log_every": 1, **values.pop("fixed")}  # fmt: skip
    spec = {
        "kind": name, "description": f"{name} on the local stack", "methods": methods,
        "datasets": [str(knowledge)], "models": dict.fromkeys(methods, str(model)), "fixed": fixed, **values,
    }  # fmt: skip
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def sweep_command(stack: LocalStack, cluster: RayNodes, *args: str) -> list[str]:
    storage = ["--storage", stack.storage("sweeps"), "--address", cluster.address]
    return [*MFT, "sweep", *args, *storage]


def driver_env(stack: LocalStack, cluster: RayNodes) -> dict[str, str]:
    return {**cluster.env, **stack.env()}


def status(stack: LocalStack, name: str, folder: Path) -> subprocess.CompletedProcess:
    """`mft sweep status` from a folder of its own, with no Ray setting: storage and MLflow only."""
    args = [*MFT, "sweep", "status", name, "--storage", stack.storage("sweeps")]
    env = {**clean_env(), **stack.env(), "COLUMNS": "200"}
    return subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@dataclass(frozen=True)
class Loaded(Sweep):
    status_after_interrupt: subprocess.CompletedProcess | None = None
    database_restarted: bool = False
    ended_before_resume: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def loaded(
    stack: LocalStack, stack_cluster: RayNodes, tiny_causal: Path, two_facts: Path, tmp_path_factory
) -> Loaded:
    """8 trials at once, interrupted by SIGTERM while one of them runs on, then resumed while
    PostgreSQL restarts."""
    folder = tmp_path_factory.mktemp("load")
    before = stack_cluster.actors_started()
    spec = write_spec(
        folder, "load", tiny_causal, two_facts, methods=["masked", "ar"],
        fixed={"epochs": 16, "eval_at": [0, 4, 16], "lr": 3.0e-3}, grid={"seed": list(range(7))},
        per_method={"ar": {"fixed": {"epochs": LONG_STEPS, "eval_at": [0, 4, LONG_STEPS]},
                           "grid": {"seed": [0]}}},
    )  # fmt: skip
    options = ["--name", "load", "--experiment", "load", "--tracking-uri", stack.tracking_uri]
    args = sweep_command(stack, stack_cluster, str(spec), *options)
    sweep = Sweep("load", stack, ())
    log = folder / "first.log"
    env = driver_env(stack, stack_cluster)
    process = subprocess.Popen(args, cwd=folder, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def short_ones_done_long_one_checkpointed() -> bool:
        runs = sweep.children()
        long = [run for name, run in runs.items() if name.startswith("ar_")]
        short = [run for name, run in runs.items() if name.startswith("masked_")]
        done = len(short) == 7 and all(run.info.status == "FINISHED" for run in short)
        return done and len(long) == 1 and 4 in sweep.steps(long[0], "acc/total")

    # every 2 s: six minutes of searches over 9 runs at 0.5 s cost ~50 CPU-s of this process and the server
    assert wait_until(short_ones_done_long_one_checkpointed, 1200, process, every=2), log.read_text()[-3000:]
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=600)
    first = subprocess.CompletedProcess(args, process.returncode, log.read_text(), "")
    seen = status(stack, "load", tmp_path_factory.mktemp("elsewhere"))
    ended = {name: run.info.end_time for name, run in sweep.children().items()}

    resume = sweep_command(stack, stack_cluster, "resume", "load")
    log = folder / "resumed.log"
    process = subprocess.Popen(resume, cwd=folder, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    (long,) = [run for name, run in sweep.children().items() if name.startswith("ar_")]
    logged = len(sweep.steps(long, "train/loss"))
    restarted = wait_until(lambda: len(sweep.steps(long, "train/loss")) > logged + 2, 900, process)
    if restarted:  # the resumed trial logs again: restart the database under it
        stack.restart_database()
    process.wait(timeout=900)
    resumed = subprocess.CompletedProcess(resume, process.returncode, log.read_text(), "")
    actors = stack_cluster.actors_started() - before
    return Loaded("load", stack, (first, resumed), actors, seen, restarted, ended)


def test_sigterm_stops_the_sweep_as_ctrl_c_and_status_tells_the_truth(loaded: Loaded) -> None:
    first = loaded.outputs[0]
    assert first.returncode == 130, first.stdout[-3000:]
    assert f"resume with: mft sweep resume load --storage {loaded.stack.storage('sweeps')}" in first.stdout
    seen = loaded.status_after_interrupt
    assert seen.returncode == 0, seen.stderr[-3000:]
    assert "load (load): KILLED" in seen.stdout
    rows = [line for line in seen.stdout.splitlines() if line.startswith("│ ")]
    statuses = sorted(line.split("│")[2].strip() for line in rows)
    assert statuses == ["FINISHED"] * 7 + ["KILLED"], seen.stdout  # nothing said RUNNING any more


def test_the_resumed_sweep_reruns_only_the_unfinished_trial_and_logs_every_metric_once(
    loaded: Loaded,
) -> None:
    resumed = loaded.outputs[1]
    assert loaded.database_restarted, "the resumed trial never logged a step"
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "sweep load FINISHED" in resumed.stdout
    children = loaded.children()
    assert len(children) == 8 and loaded.parent().info.status == "FINISHED"
    counted = 0
    for name, run in children.items():
        steps = LONG_STEPS if name.startswith("ar_") else 16
        # ar masks nothing: no mask-ratio curve (issue 24).
        step_keys = tuple(k for k in STEP_KEYS if not (name.startswith("ar_") and k == "train/mask_ratio"))
        assert run.info.status == "FINISHED", name
        for key in step_keys:
            assert loaded.steps(run, key) == list(range(1, steps + 1)), (name, key)
        for key in EVAL_KEYS:
            assert loaded.steps(run, key) == [0, 4, steps], (name, key)
        counted += sum(len(loaded.steps(run, key)) for key in step_keys + EVAL_KEYS)
        if name.startswith("masked_"):  # finished before the interrupt: never run again
            assert run.info.end_time == loaded.ended_before_resume[name], name
        else:
            assert run.data.tags["mft.resumed_from_step"] == "4"
    masked = 7 * (16 * len(STEP_KEYS) + 3 * len(EVAL_KEYS))
    assert counted == masked + LONG_STEPS * (len(STEP_KEYS) - 1) + 3 * len(EVAL_KEYS)
    parent = loaded.parent().data.metrics
    assert (parent["trials/finished"], parent["trials/failed"], parent["trials/stopped"]) == (8, 0, 0)


def test_sweep_state_and_checkpoints_are_in_the_bucket(loaded: Loaded) -> None:
    keys = loaded.stack.keys("sweeps/load")
    assert "sweeps/load/mft-sweep.json" in keys
    assert any(re.fullmatch(r"sweeps/load/experiment_state-.+\.json", key) for key in keys)
    for name, run in loaded.children().items():
        best = run.data.tags["mft.best_checkpoint"]
        assert best.startswith("s3://mft/sweeps/load-"), best
        assert f"{best.removeprefix('s3://mft/')}/trainer_state.json" in loaded.stack.keys(
            best.removeprefix("s3://mft/")
        ), name


@pytest.fixture(scope="module")
def asha(
    stack: LocalStack, stack_cluster: RayNodes, tiny_causal: Path, two_facts: Path, tmp_path_factory
) -> Sweep:
    folder = tmp_path_factory.mktemp("asha")
    before = stack_cluster.actors_started()
    spec = write_spec(
        folder, "asha", tiny_causal, two_facts, fixed={"epochs": 40, "eval_at": [0, 20, 40]},
        grid={"lr": [3.0e-3, 1.0e-9]},
    )  # fmt: skip
    # One trial at a time, the learning one first: ASHA never stops the first trial at a rung, so
    # the hopeless one must come second to be compared with it.
    options = ["--early-stop", "asha", "--max-concurrent", "1", "--tracking-uri", stack.tracking_uri]
    args = sweep_command(stack, stack_cluster, str(spec), "--name", "asha", "--experiment", "asha", *options)
    done = subprocess.run(
        args, cwd=folder, env=driver_env(stack, stack_cluster), capture_output=True, text=True, timeout=1200
    )
    elsewhere = tmp_path_factory.mktemp("asha-elsewhere")
    report = subprocess.run(
        [*MFT, "report", "asha", "--tracking-uri", stack.tracking_uri, "--out", str(elsewhere / "report")],
        cwd=elsewhere, env={**clean_env(), "COLUMNS": "200"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    actors = stack_cluster.actors_started() - before
    return Sweep("asha", stack, (done, status(stack, "asha", elsewhere), report), actors)


def test_asha_stops_the_hopeless_trial_early_and_shows_it_stopped(asha: Sweep) -> None:
    done, seen, _ = asha.outputs
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    children = asha.children()
    good = next(run for name, run in children.items() if "lr0.003" in name)
    hopeless_id, hopeless = next((name, run) for name, run in children.items() if "lr1e-09" in name)
    assert good.info.status == "FINISHED" and asha.steps(good, "train/loss") == list(range(1, 41))
    # Stopped at its first rung (the second evaluation), not as a failure: the stop lands while it
    # trains on, so a step or two past 20 may be logged, each once, never the next evaluation.
    assert asha.steps(hopeless, "acc/total") == [0, 20]
    logged = asha.steps(hopeless, "train/loss")
    assert logged == list(range(1, len(logged) + 1)) and 20 <= len(logged) < 30, logged
    assert hopeless.info.status == "KILLED" and "mft.error" not in hopeless.data.tags
    # One at a time: the second trial's run starts when the trial does, so its Duration has no queue time.
    assert hopeless.info.start_time >= good.info.end_time
    assert hopeless.data.tags["mft.stopped_early"].startswith("stopped early by ASHA at step 20")
    for output in (done.stdout, seen.stdout):  # the live table's last frame; `mft sweep status`
        row = next(line for line in output.splitlines() if line.startswith("│") and hopeless_id in line)
        assert "STOPPED" in row and "FAILED" not in row, row
    assert "asha (asha): FINISHED" in seen.stdout


def test_the_parent_run_counts_it_stopped_and_the_best_trial_is_the_finished_one(asha: Sweep) -> None:
    parent = asha.parent()
    assert parent.info.status == "FINISHED"
    counts = (parent.data.metrics[k] for k in ("trials/finished", "trials/failed", "trials/stopped"))
    assert tuple(counts) == (1, 0, 1)
    good = next(name for name in asha.children() if "lr0.003" in name)
    assert parent.data.tags["mft.best_trial"] == good
    assert f"best trial: {good}" in asha.outputs[0].stdout


def test_the_report_lists_the_stopped_trial_apart_as_stopped(asha: Sweep) -> None:
    report = asha.outputs[2]
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    out = Path(report.args[report.args.index("--out") + 1])
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_kind = {kind: [row for row in rows if row["kind"] == kind] for kind in ("trial", "left-out")}
    names = {
        run.info.run_name: trial_id for trial_id, run in asha.children().items()
    }  # as the report names them
    assert ["lr0.003" in names[row["trial"]] for row in by_kind["trial"]] == [True]
    left_out = [("lr1e-09" in names[row["trial"]], row["status"]) for row in by_kind["left-out"]]
    assert left_out == [(True, "STOPPED")]
    assert by_kind["left-out"][0]["fit_note"].startswith("stopped early by ASHA at step 20")
    assert "STOPPED" in (out / "report.md").read_text()


def test_trials_report_to_tune_only_for_a_scheduler(loaded: Loaded, asha: Sweep) -> None:
    """Without one, nothing reads Tune's results: no trial starts the queue actor that carries
    them (a process polled five times a second while the trial runs)."""
    assert loaded.actors["TrainController"] >= 9, loaded.actors  # 8 trials and the resumed one
    assert loaded.actors["_QueueActor"] == 0, loaded.actors
    assert asha.actors["_QueueActor"] >= 1, asha.actors  # ASHA reads each evaluation through it


def test_bench_store_prints_the_slowest_report_write(stack: LocalStack, tmp_path: Path) -> None:
    """The benchmark's figures come from a run by hand (README); here it runs small and counts."""
    args = ["bench", "store", "--tracking-uri", stack.tracking_uri, "--trials", "2", "--steps", "6"]
    done = subprocess.run(
        [*MFT, *args, "--eval-every", "3"], cwd=tmp_path, env={**clean_env(), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"with evaluation\s*│\s*4\s*│", done.stdout) and "slowest s" in done.stdout
    assert "12 reports in" in done.stdout
    assert "every metric logged once: 12 steps, 4 evaluations" in done.stdout


def test_the_s3_secret_reaches_no_ray_file_mlflow_param_or_object(
    loaded: Loaded, asha: Sweep, stack_cluster: RayNodes
) -> None:
    """Ray Tune copied the driver's AWS keys into its trial actors' logged runtime env, once."""
    secret = loaded.stack.secret_key
    assert stack_cluster.files_holding(secret) == []
    for run in loaded.runs() + asha.runs():
        assert secret not in repr((run.data.params, run.data.tags))
    assert [key for key in loaded.stack.keys("sweeps/") if secret.encode() in loaded.stack.read(key)] == []
