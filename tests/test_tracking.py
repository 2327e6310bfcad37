"""The MLflow side of a trial and of a sweep, without Ray Train: the controller callback fed with
reports as workers send them, and the sweep state file on local and URI storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from ray.train import Checkpoint
from rich.console import Console

from orchestrator.sweep.state import SweepState
from orchestrator.tracking.callback import MlflowTrialCallback
from orchestrator.tracking.names import (
    BEST_CHECKPOINT_TAG,
    BEST_STEP_TAG,
    EXPERIMENT_KIND_TAG,
    RESUMED_TAG,
    TRIAL_FILE,
)
from orchestrator.tracking.runs import ensure_experiment, log_best, print_best, start_trial_run
from orchestrator.trial.settings import build_trial_config
from orchestrator.trial.trial_file import load_trial_file
from training.config import TrialConfig
from training.errors import InputError
from training.report import StepMetrics, WorkerReport


@pytest.fixture
def run(tmp_path: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = ensure_experiment(client, "unit")
    config = TrialConfig(model="org/m", dataset="namedesc", epochs=4, eval_at=(0, 2, 4))
    return client, start_trial_run(client, experiment, config, "t", trial_id="t-1", tags={})


def checkpoint(tmp_path: Path, step: int) -> Checkpoint:
    folder = tmp_path / f"checkpoint_{step}"
    folder.mkdir()
    return Checkpoint.from_directory(str(folder))


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def steps(losses: dict[int, float]) -> tuple[StepMetrics, ...]:
    return tuple(StepMetrics(step, step / 2, loss, 1e-3, 100.0, 0.5) for step, loss in losses.items())


def evaluation(step: int, total: float, losses: dict[int, float], **fields) -> dict:
    """What a worker reports at an evaluation, as `ray.train.report` carries it."""
    scores = {"acc/fwd": total, "acc/bwd": total, "acc/total": total, "eval/seconds": 0.1}
    return WorkerReport(step, step // 2, steps(losses), scores, **fields).to_metrics()


def test_callback_logs_curves_best_checkpoint_and_never_a_step_twice(
    run: tuple[MlflowClient, str], tmp_path: Path
) -> None:
    client, run_id = run
    callback = MlflowTrialCallback(client.tracking_uri, run_id)
    rows = [{"question": "q", "answer": "a", "prediction": "p", "score": 0.0, "category": "fwd"}]
    callback.after_report(None, [evaluation(0, 0.1, {}, generations=tuple(rows))], checkpoint(tmp_path, 0))
    callback.after_report(None, [evaluation(2, 0.5, {1: 2.0, 2: 1.0})], checkpoint(tmp_path, 2))
    # A restarted worker group re-sends step 2's history and a tie at step 4: ties go to the later step.
    again = evaluation(4, 0.5, {2: 9.0, 3: 9.0, 4: 9.0}, resumed_from_step=2)
    callback.after_report(None, [again], checkpoint(tmp_path, 4))
    assert history(client, run_id, "train/loss") == [(1, 2.0), (2, 1.0), (3, 9.0), (4, 9.0)]
    assert history(client, run_id, "train/mask_ratio") == [(1, 0.5), (2, 0.5), (3, 0.5), (4, 0.5)]
    assert [step for step, _ in history(client, run_id, "acc/total")] == [0, 2, 4]
    data = client.get_run(run_id).data
    assert data.tags[BEST_STEP_TAG] == "4"
    assert data.tags[BEST_CHECKPOINT_TAG] == str(tmp_path / "checkpoint_4")
    assert not any(key.startswith("best/") for key in data.metrics)  # logged once, when the trial ends
    log_best(client, run_id)
    assert history(client, run_id, "best/acc_total") == [(0, 0.5)]  # a summary: step 4 is the tag
    assert data.tags[RESUMED_TAG] == "2"
    assert [a.path for a in client.list_artifacts(run_id, "generations")] == ["generations/step_0000000.json"]


def test_a_forward_only_best_checkpoint_is_titled_on_one_line(run: tuple[MlflowClient, str]) -> None:
    """Two categories make a table narrower than its title, which Rich would wrap mid-phrase."""
    client, run_id = run
    client.set_tag(run_id, BEST_STEP_TAG, "40")
    client.log_metric(run_id, "best/acc_fwd", 0.25)
    client.log_metric(run_id, "best/acc_total", 0.25)
    console = Console(width=80, record=True)
    print_best(client, run_id, console)
    lines = [line.strip() for line in console.export_text().splitlines()]
    assert lines[0] == "best checkpoint: step 40"
    assert lines[-1] == f"status RUNNING; export with: mft export {run_id} --out DIR"


def test_a_new_controller_continues_where_the_last_one_stopped(
    run: tuple[MlflowClient, str], tmp_path: Path
) -> None:
    client, run_id = run
    first = MlflowTrialCallback(client.tracking_uri, run_id)
    first.after_report(None, [evaluation(2, 0.6, {2: 1.0})], None)
    second = MlflowTrialCallback(client.tracking_uri, run_id)  # the trial restarted on a new controller
    second.after_report(None, [evaluation(2, 0.1, {2: 5.0})], None)
    second.after_report(None, [evaluation(4, 0.4, {4: 0.5})], None)
    assert history(client, run_id, "train/loss") == [(2, 1.0), (4, 0.5)]
    assert history(client, run_id, "acc/total") == [(2, 0.6), (4, 0.4)]
    assert client.get_run(run_id).data.tags[BEST_STEP_TAG] == "2"  # 0.4 at step 4 is not better


@pytest.mark.parametrize("as_uri", [False, True])
def test_sweep_state_round_trips_on_a_folder_and_a_uri(tmp_path: Path, as_uri: bool) -> None:
    location = (tmp_path / "runs").as_uri() if as_uri else str(tmp_path / "runs")
    state = SweepState("s1", "lr", "sqlite:///x.db", "1", "parent", location, {"a": "r1", "b": "r2"})
    state.save()
    assert (tmp_path / "runs" / "s1" / "mft-sweep.json").is_file()
    assert SweepState.load("s1", location) == state
    with pytest.raises(InputError, match="no sweep 'other' under .*; pass its name and the same --storage"):
        SweepState.load("other", location)


def test_experiments_open_in_the_mlflow_ui_as_machine_learning_not_genai(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    created = ensure_experiment(client, "new")
    assert client.get_experiment(created).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    older = client.create_experiment("older")  # made before mft tagged experiments
    assert ensure_experiment(client, "older") == older
    assert client.get_experiment(older).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    chosen = client.create_experiment("chosen", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    ensure_experiment(client, "chosen")
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"


def test_a_trial_run_logs_its_config_as_a_file_mft_train_config_reads_back(
    run: tuple[MlflowClient, str], tmp_path: Path
) -> None:
    client, run_id = run
    path = Path(client.download_artifacts(run_id, TRIAL_FILE, str(tmp_path)))
    logged = build_trial_config(load_trial_file(path))
    assert logged == TrialConfig(model="org/m", dataset="namedesc", epochs=4, eval_at=(0, 2, 4)).replace(
        data_dir=logged.data_dir,
        prompt_style="chat",  # the driver resolves both; the fixture did not
    )
    assert client.get_run(run_id).data.params["epochs"] == "4"


def test_mft_train_reads_a_runs_logged_config_straight_from_mlflow(
    run: tuple[MlflowClient, str], mft, paper_data_dir: Path, tiny_causal: Path
) -> None:
    """The logged model `org/m` does not exist here: the dry run's checks need a real one."""
    client, run_id = run
    uri = ["--tracking-uri", client.tracking_uri, "--data-dir", str(paper_data_dir)]
    result = mft(
        "train",
        "--config",
        f"runs:/{run_id}/trial.yaml",
        "--seed",
        "5",
        "--dry-run",
        "--model",
        str(tiny_causal),
        *uri,
    )
    assert result.code == 0, result.err
    assert f"model: {tiny_causal}\n" in result.out
    assert "seed: 5\n" in result.out and "epochs: 4\n" in result.out
    missing = mft("train", "--config", "runs:/0123456789abcdef0123456789abcdef/trial.yaml", "--dry-run", *uri)
    assert missing.code == 2 and "check the run id and --tracking-uri" in missing.err


def test_every_field_of_a_report_reaches_the_run_and_none_crashes_the_callback(
    run: tuple[MlflowClient, str], tmp_path: Path
) -> None:
    """A resume from step 0 (falsy, once dropped), a fallback, then a divergence: each field lands."""
    client, run_id = run
    callback = MlflowTrialCallback(client.tracking_uri, run_id)
    fallback = "resumed from checkpoint_0; skipped corrupt checkpoint_1"
    common = {"resumed_from_step": 0, "checkpoint_fallback": fallback, "corrupt_checkpoints": ("/x/c1",)}
    callback.after_report(None, [evaluation(2, 0.3, {1: 1.0, 2: 0.9}, **common)], checkpoint(tmp_path, 2))
    diverged = WorkerReport(
        3, 1, steps({3: float("nan")}), diverged_step=3, diverged_loss=float("nan"), **common
    )
    callback.after_report(None, [diverged.to_metrics()], None)
    data = client.get_run(run_id).data
    assert data.tags[RESUMED_TAG] == "0" and data.tags["mft.checkpoint_fallback"] == fallback
    assert data.tags["mft.diverged"] == "the loss diverged at step 3: nan"
    assert data.tags[BEST_STEP_TAG] == "2" and data.metrics["eval/seconds"] == 0.1
    assert [step for step, _ in history(client, run_id, "train/loss")] == [1, 2, 3]


def test_a_worker_report_round_trips_through_what_ray_carries() -> None:
    report = WorkerReport(
        step=7,
        epoch=2,
        history=steps({6: 1.5, 7: 1.25}),
        evaluation={"acc/total": 0.5},
        generations=({"question": "q"},),
        resumed_from_step=4,
        checkpoint_fallback="note",
        corrupt_checkpoints=("/c",),
    )
    carried = report.to_metrics()
    assert carried["acc/total"] == 0.5 and carried["step"] == 7  # what Ray scores checkpoints by
    assert WorkerReport.from_metrics(carried) == report
