"""A finished lab sweep found again: a second `mft lab` with nothing changed reports it instead of
rerunning it (driver side).

The lab is deterministic on a given machine (same data, base models, code and seeds give the same
table to the last digit), so rerunning it only repeats minutes of work. A lab sweep whose trials
all finished is tagged with a key over everything its numbers depend on: each trial's whole
configuration, the storage, every byte of the lab folder (people, base models) and the code
(version, commit, uncommitted changes). Another `mft lab` with the same key reports that sweep;
`--rerun` runs the trials again. This is `mft train`'s rule (the same trial finds its finished run)
for a whole lab.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.sweep.expansion import PlannedTrial
from orchestrator.sweep.state import SweepState
from orchestrator.tracking.names import LAB_KEY_TAG, SWEEP_TAG
from orchestrator.tracking.source import code_identity
from training.errors import InputError
from training.fingerprint import data_fingerprint


def lab_key(trials: Sequence[PlannedTrial], storage: str, folder: Path) -> str:
    """SHA-256 over the trials' configurations, the storage, the lab folder's files and the code."""
    planned = [{"trial_id": trial.trial_id, "config": trial.config.to_dict()} for trial in trials]
    files = data_fingerprint(sorted(item for item in folder.rglob("*") if item.is_file()))
    inputs = {"trials": planned, "storage": storage, "code": code_identity(), "files": files["data.sha256"]}
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def finished_lab(client: MlflowClient, experiment: str, key: str, storage: str) -> SweepState | None:
    """The newest lab sweep tagged `key` whose state is still in `storage` and whose trial runs are
    all still there and FINISHED; None when there is none (then the lab runs)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    query = f"tags.`{LAB_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'"
    for parent in client.search_runs([found.experiment_id], query, order_by=["attributes.start_time DESC"]):
        try:
            state = SweepState.load(parent.data.tags[SWEEP_TAG], storage)
        except InputError:  # its state was deleted or moved with its storage
            continue
        if all_finished(client, state):
            return state
    return None


def all_finished(client: MlflowClient, state: SweepState) -> bool:
    """Every trial of the sweep has a run, active and FINISHED."""
    try:
        runs = [client.get_run(run_id) for run_id in state.trials.values() if run_id]
    except MlflowException:  # a run deleted for good
        return False
    return len(runs) == len(state.trials) and all(
        run.info.status == RunStatus.to_string(RunStatus.FINISHED) and run.info.lifecycle_stage == "active"
        for run in runs
    )


def mark_reusable(client: MlflowClient, state: SweepState, key: str) -> None:
    """Tag the sweep with `key` when every trial finished; a sweep with a failed trial is rerun."""
    if all_finished(client, state):
        client.set_tag(state.parent_run_id, LAB_KEY_TAG, key)
