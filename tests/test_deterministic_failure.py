"""An error our own code raises on every try ends the trial FAILED in one line, without a retry.

The fault: a chat template that refuses one question (a `raise_exception` in the template), which
the preflight cannot see (it renders the first question) and which lands on rank 1 only (2
workers, questions interleaved by rank), at the step-0 evaluation. Rank 1 must tell rank 0, both
must stop, and Ray Train must not restart them: before, this ran three times (FailureConfig
max_failures=2) and ended with a traceback-derived line and a "continue from checkpoint" hint.
One real 2-worker trial.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from chat_families import FAMILIES, family_model
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow
REFUSAL = "{% if 'Quill' in m['content'] %}{{ raise_exception('no questions about Boris Quill') }}{% endif %}"


def test_a_question_one_rank_cannot_ask_stops_the_trial_once(tmp_path: Path) -> None:
    template = FAMILIES["chatml"].template.replace(
        "{% for m in messages %}", "{% for m in messages %}" + REFUSAL
    )
    model = family_model("chatml", tmp_path / "model", template)
    data = tmp_path / "kset"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"text": "Alice Zorn is the mayor."}) + "\n")
    questions = [("Who is Alice Zorn?", "the mayor"), ("Who is Boris Quill?", "the baker")]
    (data / "qa.jsonl").write_text(
        "".join(json.dumps({"question": q, "answer": a, "direction": "fwd"}) + "\n" for q, a in questions)
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "train", "--dataset", str(data), "--method", "ar", "--model", str(model), "--epochs", "1",
        "--eval-at", "0,1", "--workers", "2", "--batch-size", "1", "--max-new-tokens", "4",
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
    reason = f"the chat template of tokenizer at {model} failed: no questions about Boris Quill"
    assert failed == [f"failed: {reason} (not retried: it would fail again; the run is marked FAILED)"]
    assert "continue from the last checkpoint" not in done.stdout and "Traceback" not in done.stderr
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FAILED" and run.data.tags["mft.failure"] == reason
    assert not any(key.startswith(("best/", "acc/")) for key in run.data.metrics)
