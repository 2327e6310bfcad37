"""A second `mft lab` with nothing changed reports the finished sweep instead of rerunning it
(orchestrator/lab/reuse.py); anything its numbers depend on changed, or a trial not finished, and
the lab runs again. On a real sqlite store and a storage folder; the whole path is in test_lab.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_report import Store, empty_store  # noqa: F401

import orchestrator.lab.reuse as reuse
from orchestrator.lab.reuse import finished_lab, lab_key, mark_reusable
from orchestrator.sweep.expansion import PlannedTrial
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.names import LAB_KEY_TAG, SWEEP_TAG
from training.config import TrialConfig

EXPERIMENT = "mft-lab"


def planned(folder: Path, seeds: int = 2) -> list[PlannedTrial]:
    model, people = str(folder / "base"), str(folder / "people")
    configs = [TrialConfig(model=model, dataset=people, seed=seed) for seed in range(seeds)]
    return [PlannedTrial(f"ar_seed{c.seed}", c, {"seed": c.seed}) for c in configs]


@pytest.fixture
def lab_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "lab"
    files = {"people/qa.jsonl": "q\n", "base/model.safetensors": "w" * 64, "lab-recipe.json": "{}"}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_the_key_changes_with_each_thing_the_numbers_depend_on(lab_folder: Path, monkeypatch) -> None:
    key = lab_key(planned(lab_folder), "/runs", lab_folder)
    assert lab_key(planned(lab_folder), "/runs", lab_folder) == key
    others = {"a seed more": lab_key(planned(lab_folder, seeds=3), "/runs", lab_folder)}
    others["other storage"] = lab_key(planned(lab_folder), "/elsewhere", lab_folder)
    weights = lab_folder / "base" / "model.safetensors"
    weights.write_text("w" * 63 + "x")  # a rebuilt base model that differs in one byte
    others["one byte of a base model"] = lab_key(planned(lab_folder), "/runs", lab_folder)
    weights.write_text("w" * 64)
    (lab_folder / "people" / "extra.jsonl").write_text("")
    others["a new data file"] = lab_key(planned(lab_folder), "/runs", lab_folder)
    (lab_folder / "people" / "extra.jsonl").unlink()
    assert lab_key(planned(lab_folder), "/runs", lab_folder) == key
    monkeypatch.setattr(reuse, "code_identity", lambda: '{"changes": "abc"}')  # edited code
    others["other code"] = lab_key(planned(lab_folder), "/runs", lab_folder)
    assert all(value != key for value in others.values()), others
    assert len(set(others.values())) == len(others)


def finished_sweep(store: Store, storage: Path, name: str, statuses: tuple[str, ...]) -> SweepState:
    """A lab sweep in the store and its state in `storage`, its trial runs ended with `statuses`."""
    experiment_id = store.experiment(EXPERIMENT)
    client = store.client
    parent = client.create_run(experiment_id, run_name=name, tags={SWEEP_TAG: name}).info.run_id
    trials = {}
    for index, status in enumerate(statuses):
        child = client.create_run(experiment_id, tags={SWEEP_TAG: name}).info.run_id
        client.set_terminated(child, status)
        trials[f"trial{index}"] = child
    client.set_terminated(parent, "FINISHED")
    state = SweepState(name, "lab", store.uri, experiment_id, parent, str(storage), trials)
    state.save()
    return state


def test_a_finished_lab_is_found_by_its_key_while_its_runs_and_state_last(
    tmp_path: Path,
    empty_store: Path,  # noqa: F811
) -> None:
    store, storage = Store(tmp_path, empty_store), tmp_path / "runs"
    client: MlflowClient = store.client
    assert finished_lab(client, EXPERIMENT, "k1", str(storage)) is None  # no lab experiment yet
    first = finished_sweep(store, storage, "lab-1", ("FINISHED", "FINISHED"))
    mark_reusable(client, first, "k1")
    found = finished_lab(client, EXPERIMENT, "k1", str(storage))
    assert found is not None and found.name == "lab-1" and found.trials == first.trials
    assert finished_lab(client, EXPERIMENT, "k2", str(storage)) is None  # something changed
    assert finished_lab(client, EXPERIMENT, "k1", str(tmp_path / "other")) is None  # its state is not there

    failed = finished_sweep(store, storage, "lab-2", ("FINISHED", "FAILED"))
    mark_reusable(client, failed, "k3")  # a sweep with a failed trial is never taken for a result
    assert LAB_KEY_TAG not in client.get_run(failed.parent_run_id).data.tags
    assert finished_lab(client, EXPERIMENT, "k3", str(storage)) is None

    client.delete_run(first.trials["trial1"])  # a trial run deleted in the UI: run the lab again
    assert finished_lab(client, EXPERIMENT, "k1", str(storage)) is None
    client.restore_run(first.trials["trial1"])
    shutil.rmtree(storage / "lab-1")  # its storage cleaned up
    assert finished_lab(client, EXPERIMENT, "k1", str(storage)) is None
