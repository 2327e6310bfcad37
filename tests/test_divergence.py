"""A loss that goes non-finite ends the trial FAILED in one line, with no best checkpoint.

The fault is injected as weights that are already NaN (the loss is NaN from step 1), since an
infinite --lr is refused up front. One real 1-worker trial: ~45 s of Ray start-up on 2 cores.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from transformers import AutoModelForCausalLM

from training.loop import check_finite
from training.report import StepMetrics


def test_check_finite_finds_the_first_bad_step() -> None:
    rows = tuple(
        StepMetrics(step, 1.0, loss, 1e-3, 10.0, 0.5)
        for step, loss in ((1, 2.0), (2, math.inf), (3, math.nan))
    )
    assert check_finite(rows) == rows[1]
    assert check_finite(rows[:1]) is None


@pytest.fixture(scope="module")
def nan_model(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = AutoModelForCausalLM.from_pretrained(tiny_causal)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    folder = tmp_path_factory.mktemp("nan") / "model"
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_causal / name).exists():
            (folder / name).write_bytes((tiny_causal / name).read_bytes())
    return folder


@pytest.mark.slow
def test_a_diverged_trial_fails_in_one_line_and_names_no_best(nan_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "kset"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"text": "Alice Zorn is the mayor."}) + "\n")
    qa = {"question": "Who is Alice Zorn?", "answer": "the mayor", "direction": "forward"}
    (data / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "train", "--dataset", str(data), "--method", "ar", "--model", str(nan_model), "--epochs", "2",
        "--eval-at", "1,2", "--workers", "1", "--batch-size", "1", "--max-new-tokens", "4",
        "--gpus-per-worker", "0", "--tracking-uri", uri, "--storage", str(tmp_path / "runs"),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    failed = [line for line in done.stdout.splitlines() if line.startswith("failed:")]
    assert failed == ["failed: the loss diverged at step 1: nan; lower --lr (the run is marked FAILED)"]
    assert "Traceback" not in done.stdout + done.stderr
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FAILED"
    assert run.data.tags["mft.failure"].startswith("the loss diverged at step 1")
    assert "mft.best_checkpoint" not in run.data.tags
    assert not any(key.startswith(("best/", "acc/")) for key in run.data.metrics)
