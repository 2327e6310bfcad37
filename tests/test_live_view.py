"""The trials' table a sweep refreshes every 2 s and `mft sweep status` prints, from a real sqlite
store: one search gives every started trial's run, and each row says what its run holds."""

from __future__ import annotations

from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from rich.console import Console

from orchestrator.sweep.runs import child_runs, with_child_runs
from orchestrator.sweep.state import SweepState
from orchestrator.tracking import names
from orchestrator.trial.live_view import trial_table


def sweep_with_runs(tmp_path: Path) -> tuple[MlflowClient, SweepState]:
    """Trials `a` finished, `b` training (three evaluations so far), `c` stopped by ASHA, `d` not started."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("sweeps")
    parent = client.create_run(experiment).info.run_id
    trials = dict.fromkeys("abcd", "")
    state = SweepState("s", "lr", client.tracking_uri, experiment, parent, str(tmp_path), trials)
    for trial in "abc":
        tags = {names.PARENT_TAG: parent, names.TRIAL_ID_TAG: f"s/{trial}"}
        run = client.create_run(experiment, tags=tags).info.run_id
        evaluations = {"a": [0.1, 0.7], "b": [0.2, 0.5, 0.3], "c": [0.1, 0.1]}[trial]
        metrics = [Metric(names.TOTAL_ACCURACY, value, 0, step) for step, value in enumerate(evaluations)]
        client.log_batch(run, metrics=[*metrics, Metric(names.EPOCH, 2.0, 0, len(evaluations))])
        if trial == "a":
            client.log_metric(run, names.BEST_TOTAL, 0.7)
            client.set_terminated(run, "FINISHED")
        if trial == "c":
            client.set_tag(run, names.EARLY_STOP_TAG, "stopped early by ASHA at step 1")
            client.set_terminated(run, "KILLED")
    return client, state


def rows(client: MlflowClient, state: SweepState) -> dict[str, list[str]]:
    console = Console(record=True, width=200)
    console.print(trial_table(client, child_runs(client, state)))
    table = [line.split("│")[1:-1] for line in console.export_text().splitlines() if line.startswith("│")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in table}


def test_each_trial_row_shows_its_runs_status_latest_and_best(tmp_path: Path) -> None:
    client, state = sweep_with_runs(tmp_path)
    shown = rows(client, state)
    assert shown["a"] == ["FINISHED", "2.00", "-", "0.700", "0.700"]
    assert shown["b"] == ["RUNNING", "2.00", "-", "0.300", "0.500"]  # best of the evaluations so far
    assert shown["c"] == [names.STOPPED, "2.00", "-", "0.100", "0.100"]
    assert shown["d"] == ["PENDING", "-", "-", "-", "-"]


def test_the_sweep_finds_its_trials_runs_by_their_trial_id(tmp_path: Path) -> None:
    client, state = sweep_with_runs(tmp_path)
    runs = child_runs(client, state)
    assert [trial for trial, run in runs.items() if run is None] == ["d"]
    assert {run.data.tags[names.TRIAL_ID_TAG] for run in runs.values() if run} == {"s/a", "s/b", "s/c"}
    ids = with_child_runs(state, runs).trials
    assert ids["d"] == "" and all(ids[trial] == runs[trial].info.run_id for trial in "abc")
