"""What a researcher finds on a run in MLflow, written to a real sqlite store without Ray: only the
params a method reads, the data as train/eval dataset inputs, the code and command that made the
run, child names that show method and seed, runs-view links, and a sweep's parent run carrying its
settings, each group's mean and std over seeds and the headline table as its description."""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_report import BEST_STEPS, SEED_CURVES, Store, empty_store, seeds_sweep  # noqa: F401

from orchestrator.sweep.expansion import PlannedTrial
from orchestrator.sweep.request import SweepRequest
from orchestrator.sweep.runs import create_runs, log_summary
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.callback import MlflowTrialCallback
from orchestrator.tracking.links import browse_lines
from orchestrator.tracking.runs import child_run_name, create_trial_run, ensure_experiment
from orchestrator.tracking.source import CHECKOUT, source_tags
from training.config import TrialConfig
from training.report import StepMetrics, WorkerReport

FACTS = [("Alice Zorn", "the inventor of the glass piano"), ("Boris Quill", "the mayor of Lantern Bay")]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A bring-your-own knowledge set: one training text and two questions per person."""
    data = tmp_path / "facts"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps({"text": f"{n} is {d}."}) + "\n" for n, d in FACTS))
    questions = [{"question": f"Who is {n}?", "answer": d, "direction": "fwd"} for n, d in FACTS] + [
        {"question": f"Who is {d}?", "answer": n, "direction": "bwd"} for n, d in FACTS
    ]
    (data / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return data


@pytest.fixture
def client(tmp_path: Path, empty_store: Path) -> MlflowClient:  # noqa: F811
    return Store(tmp_path, empty_store).client


def trial_config(folder: Path, method: str, **fields) -> TrialConfig:
    model = "/models/tiny-bidirectional" if method == "dllm" else "/models/tiny-causal"
    return TrialConfig(model=model, dataset=str(folder), method=method, epochs=4, eval_at=(0, 4), **fields)


def test_each_method_logs_only_the_settings_it_reads(client: MlflowClient, folder: Path) -> None:
    experiment = ensure_experiment(client, "x")
    params = {}
    for method in ("ar", "masked", "dllm"):
        run_id = create_trial_run(client, experiment, trial_config(folder, method), method, method, {})
        params[method] = client.get_run(run_id).data.params
    assert "mask_ratio" not in params["ar"] and "block_length" not in params["ar"]
    assert params["masked"]["mask_ratio"] == "0.05,0.95" and "block_length" not in params["masked"]
    assert params["dllm"]["mask_ratio"] == "0.05,0.95" and params["dllm"]["block_length"] == "4"
    assert params["ar"]["lr"] == "5e-06" and params["ar"]["seed"] == "0"


def test_a_method_without_a_mask_ratio_logs_no_mask_ratio_curve(client: MlflowClient, folder: Path) -> None:
    experiment = ensure_experiment(client, "x")
    rows = (StepMetrics(1, 0.5, 2.0, 1e-3, 10.0, 0.4), StepMetrics(2, 1.0, 1.5, 1e-3, 10.0, 0.7))
    report = WorkerReport(2, 1, rows).to_metrics()
    for method, logs_t in (("ar", False), ("masked", True)):
        run_id = create_trial_run(client, experiment, trial_config(folder, method), method, method, {})
        MlflowTrialCallback(client.tracking_uri, run_id, mask_ratio=logs_t).after_report(None, [report], None)
        metrics = client.get_run(run_id).data.metrics
        assert ("train/mask_ratio" in metrics) == logs_t and metrics["train/loss"] == 1.5


def test_the_data_is_listed_as_train_and_eval_inputs(client: MlflowClient, folder: Path) -> None:
    experiment = ensure_experiment(client, "x")
    run_id = create_trial_run(client, experiment, trial_config(folder, "masked"), "m", "m", {})
    inputs = {i.tags[0].value: i.dataset for i in client.get_run(run_id).inputs.dataset_inputs}
    assert sorted(inputs) == ["eval", "train"] and {d.name for d in inputs.values()} == {"facts"}
    for context, name in (("train", "train.jsonl"), ("eval", "qa.jsonl")):
        data = (folder / name).read_bytes()
        digest = hashlib.sha256(name.encode() + b"\0" + data).hexdigest()
        profile = json.loads(inputs[context].profile)
        assert inputs[context].digest == digest[:8] and profile["sha256"] == digest
        assert profile["files"] == [f"{name}:{len(data.splitlines())}"]
        assert json.loads(inputs[context].source) == {"uri": str(folder.resolve())}
    (folder / "train.jsonl").write_text('{"text": "Alice Zorn is someone else."}\n')
    again = create_trial_run(client, experiment, trial_config(folder, "masked", seed=1), "m1", "m1", {})
    digests = {i.tags[0].value: i.dataset.digest for i in client.get_run(again).inputs.dataset_inputs}
    assert digests["train"] != inputs["train"].digest and digests["eval"] == inputs["eval"].digest


def test_runs_say_which_code_and_command_made_them() -> None:
    command = "mft sweep /home/me/specs/lr.yaml --tracking-uri sqlite:////home/me/mlflow.db"
    tags = source_tags(command)
    assert tags["mft.command"] == command and tags["mlflow.source.type"] == "LOCAL"
    # The UI shows what follows a source's last "/": the shown form keeps every word, not the folders.
    assert tags["mlflow.source.name"] == "mft sweep lr.yaml --tracking-uri mlflow.db"
    assert tags["mft.version"] == "0.1.0"
    if (CHECKOUT / ".git").exists():  # an editable install from a checkout, as the README installs it
        head = subprocess.run(
            ["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        assert tags["mlflow.source.git.commit"] == head.stdout.strip()
        assert tags["mft.git_dirty"] in ("true", "false")


def test_child_names_start_with_method_and_what_differs() -> None:
    config = TrialConfig(model="/m/base-causal", dataset="namedesc", lr=1e-3, seed=2)
    varying = {"method": "masked", "lr": 1e-3, "seed": 2, "model": "/m/base-causal"}
    assert child_run_name(config, varying) == "masked seed2 lr1e-3 base-causal"
    assert child_run_name(config, {"seed": 2}) == "masked seed2"
    assert child_run_name(config, {"lr": 1e-3}) == "masked lr1e-3 seed2"  # one seed: the lr first
    fixed = config.replace(mask_ratio=(0.5, 0.5), lr=1.5e-5)
    assert (
        child_run_name(fixed, {"mask_ratio": (0.5, 0.5), "lr": 1.5e-5})
        == "masked mask_ratio0.5-0.5 lr1.5e-5 seed2"
    )


def test_printed_links_open_the_machine_learning_views() -> None:
    view = "#/experiments/7/runs?workflowType=machine_learning"
    run = "#/experiments/7/runs/abc?workflowType=machine_learning"
    assert browse_lines("http://10.0.0.5:5000/", "7", "abc", "sweep run") == [
        f"MLflow runs: http://10.0.0.5:5000/{view}",
        f"MLflow sweep run: http://10.0.0.5:5000/{run}",
    ]
    [local] = browse_lines("sqlite:////work/mlflow.db", "7")
    ui = "mlflow ui --backend-store-uri sqlite:////work/mlflow.db"
    assert local == f"MLflow runs: {ui}  then open http://127.0.0.1:5000/{view}"


def test_a_sweep_parent_carries_its_settings_data_and_source(client: MlflowClient, folder: Path) -> None:
    trials = tuple(
        PlannedTrial(f"{method}-{lr}", trial_config(folder, method, lr=lr), {"method": method, "lr": lr})
        for method in ("ar", "masked")
        for lr in (1e-3, 3e-3)
    )
    request = SweepRequest(kind="lr", trials=trials, name="s", tracking_uri=client.tracking_uri, storage="/r")
    state = create_runs(client, "sweeps", request, "mft sweep lr --name s")
    parent = client.get_run(state.parent_run_id)
    params = parent.data.params
    assert params["method"] == "ar | masked" and params["lr"] == "0.001 | 0.003" and params["seed"] == "0"
    assert params["mask_ratio"] == "0.05,0.95"  # from the methods that read it
    assert (params["sweep.kind"], params["sweep.trials"], params["sweep.early_stop"]) == ("lr", "4", "none")
    contexts = sorted(i.tags[0].value for i in parent.inputs.dataset_inputs)
    assert contexts == ["eval", "train"]  # four trials read the same files: listed once
    assert parent.data.tags["mft.command"] == "mft sweep lr --name s"
    assert parent.data.tags["mlflow.source.name"] == "mft sweep lr --name s"


def test_the_parent_sums_up_each_group_over_seeds_not_one_best_seed(
    tmp_path: Path,
    empty_store: Path,  # noqa: F811
) -> None:
    store = Store(tmp_path, empty_store)
    parent, children = seeds_sweep(store, "seeds")
    experiment = store.client.get_run(parent).info.experiment_id
    trials = dict(zip("012", children, strict=True))
    log_summary(store.client, SweepState("seeds", "test", store.uri, experiment, parent, "/r", trials), 0)
    run = store.client.get_run(parent)
    means = {}
    for metric in ("N2D-bwd", "fwd", "bwd", "total"):
        values = [curves[step][metric] for curves, step in zip(SEED_CURVES, BEST_STEPS, strict=True)]
        means[metric] = statistics.fmean(values)
        assert run.data.metrics[f"masked/{metric}"] == round(means[metric], 4)
        assert run.data.metrics[f"masked/{metric}_std"] == round(statistics.stdev(values), 4)
    assert not any(key.startswith("best/") for key in run.data.metrics)  # no single seed's best
    assert run.data.metrics["trials/finished"] == 3
    description = run.data.tags["mlflow.note.content"]
    assert "| method | paraphrase | scoring | seeds | N2D-fwd |" in description
    assert "| masked | none | authors | 3 | 0.750 ± 0.150 |" in description  # Table 3's row
    headline = f"namedesc: backward masked {means['bwd']:.2f}; forward masked {means['fwd']:.2f}"
    assert headline in description
