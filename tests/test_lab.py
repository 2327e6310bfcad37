"""`mft lab`'s science through the real sweep path, and its shipped base models rebuilt bit for bit.

`quick_lab`: the full lab's first seed (`--quick`) on the reporting people, from the shipped base
models, on Ray Tune → Ray Train (1 gloo worker per trial, FSDP2) → MLflow, read back as the lab's
own table (recall and exact match at the last evaluation, the chance floor). The thresholds were
set on the tuning people (`mft lab --tune --quick`, docs/lab-dllm-findings.md), never on these.

Asserts the paper's ordering on the new people: plain AR fine-tuning learns the facts forward but
not backward (the reversal curse); masked and dLLM fine-tuning answer backward too, exactly, well
above the chance floor; run again on the same store, the lab reports that sweep and runs nothing.
Cost: one session fixture (3 trials, then the second run), plus one rebuild of the base models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.lab.base_models import LabRecipe
from orchestrator.lab.prebuilt import BASE_NAMES, WEIGHTS, shipped_folder

pytestmark = pytest.mark.slow  # a Ray cluster, servers or whole trials: the full suite only

RUN_QUICK_LAB = """
import json, sys
from orchestrator.lab.lab_sweep import LabSettings, lab_summary, run_lab
run = run_lab(LabSettings(seeds=1), sys.argv[1], sys.argv[2], name="lab-test")
rows = {row.label: {key: stat.mean for key, stat in row.scores.items() if stat} for row in lab_summary(run)}
print("ROWS " + json.dumps(rows))
"""
Rows = dict[str, dict[str, float]]


@dataclass(frozen=True)
class QuickLab:
    """Two runs of the same quick lab on one store: the second finds the first's finished sweep."""

    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    uri: str


def run_quick_lab(workdir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MFT_DATA_DIR": str(workdir / "data"), "COLUMNS": "200"}
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-c", RUN_QUICK_LAB, uri, str(workdir / "runs")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,  # a hang guard: a few minutes on a quiet 2-core box, 3x that under load
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def rows_of(done: subprocess.CompletedProcess) -> Rows:
    line = next(line for line in done.stdout.splitlines() if line.startswith("ROWS "))
    return json.loads(line.removeprefix("ROWS "))


@pytest.fixture(scope="session")
def quick_labs(tmp_path_factory: pytest.TempPathFactory) -> QuickLab:
    workdir = tmp_path_factory.mktemp("lab")
    first = run_quick_lab(workdir)
    return QuickLab(first, run_quick_lab(workdir), f"sqlite:///{workdir / 'mlflow.db'}")


@pytest.fixture(scope="session")
def quick_lab(quick_labs: QuickLab) -> Rows:
    """Row label (chance, before fine-tuning, each method) → acc/fwd, em/fwd, acc/bwd, em/bwd."""
    done = quick_labs.first
    assert "base models: the shipped ones" in done.stdout  # nothing was pre-trained
    # Progress lines, stdout being a pipe ("trial ar base-causal lr1e-3 seed0: running, epoch 15, ..."):
    # one while it runs, and its last one once the sweep is over.
    ar = [line for line in done.stdout.splitlines() if line.startswith("trial ar ")]
    assert any(": running" in line for line in ar) and ": finished, epoch 60, recall " in ar[-1], ar
    return rows_of(done)


def test_ar_learns_forward_only_masked_and_dllm_answer_backward_exactly(quick_lab: Rows) -> None:
    chance, ar, masked, dllm = (
        quick_lab[k] for k in ("chance: a random seen person", "ar", "masked", "dllm")
    )
    # Thresholds from the tuning people's seed 0 with room for another population
    # (docs/lab-dllm-findings.md: there ar 0.94 / 0.01, masked 0.82 / 0.45, dllm 0.19 / 0.28 EM).
    assert ar["em/fwd"] >= 0.8 and masked["em/fwd"] >= 0.6, quick_lab
    assert ar["em/bwd"] <= 0.05, quick_lab  # the reversal curse: at the chance floor
    assert masked["em/bwd"] - ar["em/bwd"] >= 0.25, quick_lab
    assert dllm["em/bwd"] - ar["em/bwd"] >= 0.15, quick_lab
    # Recall gives partial credit by chance; exact match does not.
    assert 0.02 <= chance["acc/bwd"] <= 0.08 and chance["em/bwd"] == 0.0, quick_lab


def test_before_fine_tuning_rows_are_near_chance(quick_lab: Rows) -> None:
    befores = {label: row for label, row in quick_lab.items() if label.startswith("before fine-tuning")}
    assert set(befores) == {"before fine-tuning (base-causal)", "before fine-tuning (base-bidirectional)"}
    for row in befores.values():
        assert row["em/fwd"] <= 0.05 and row["em/bwd"] <= 0.05, quick_lab


def test_a_second_lab_reports_the_finished_sweep_and_runs_nothing(quick_labs: QuickLab) -> None:
    """The same lab again on the same store: the first sweep's table, no new run, no trial."""
    second = quick_labs.second.stdout
    assert "this lab already ran: sweep lab-test, every trial finished" in second, second[-3000:]
    assert "sweep lab-test:" not in second and "trial ar " not in second  # no sweep started, no trial ran
    assert rows_of(quick_labs.second) == rows_of(quick_labs.first)
    client = MlflowClient(quick_labs.uri)
    (experiment,) = [e.experiment_id for e in client.search_experiments() if e.name == "mft-lab"]
    assert len(client.search_runs([experiment])) == 1 + 3  # the sweep's parent and its 3 trials, once


def test_rebuilt_base_models_are_the_shipped_ones_bit_for_bit(rebuilt_lab: tuple[Path, str]) -> None:
    """Rebuilt by an early job (conftest.py: `mft lab --rebuild-base`'s `prepare_lab`, on idle CPU)."""
    root, printed = rebuilt_lab
    recipe = LabRecipe()
    shipped = shipped_folder(asdict(recipe), recipe.folder_name)
    assert shipped is not None, "the default recipe ships its base models"
    assert "rebuilt base models: bit-identical to the shipped ones" in printed, printed[-3000:]
    # Progress lines, stdout being a file: every 150 steps of each model.
    assert "base model (causal): step 1500/1500" in printed, printed[-3000:]
    assert "base model (bidirectional, adapted): step 1200/1200" in printed, printed[-3000:]
    for base in BASE_NAMES:
        built = root / recipe.folder_name / base / WEIGHTS
        assert built.read_bytes() == shipped.joinpath(f"{base}.safetensors").read_bytes()
