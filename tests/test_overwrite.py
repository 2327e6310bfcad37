"""Never overwrite: every command that writes a file or folder refuses an existing non-empty one
unless `--force`, and even then never writes inside a folder it reads (`orchestrator/cli/outputs.py`).

One test per writing command, through the real entry point, on real files: the refusal leaves the
user's files as they were; `--force` writes the command's files and keeps the others. No Ray.
`mft report`: tests/test_report.py; `mft data fetch` keeps present files unless --force:
tests/test_fetching.py; `mft train`, `mft sweep` and `mft bench` write no file the user names.
"""

from __future__ import annotations

import json
import shutil
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from mlflow.tracking import MlflowClient
from transformers import AutoConfig, LlamaForCausalLM

from orchestrator.tracking.names import BEST_CHECKPOINT_TAG
from training.checkpointing import TrainerState, save_checkpoint
from training.config import TrialConfig


def files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def user_folder(path: Path, name: str = "notes.txt") -> Path:
    path.mkdir(parents=True)
    (path / name).write_text("mine")
    return path


def test_model_tiny(mft, tmp_path: Path) -> None:
    out = user_folder(tmp_path / "out", "config.json")
    refused = mft("model", "tiny", "--out", str(out))
    assert refused.code == 2 and "is not empty" in refused.err and "--force" in refused.err, refused.err
    assert files(out) == {"config.json": b"mine"}
    assert mft("model", "tiny", "--out", str(out), "--force").code == 0
    assert AutoConfig.from_pretrained(out).model_type == "llama"  # the user's config.json replaced
    assert (out / "tokenizer.json").is_file() and not list(tmp_path.glob(".out.partial-*"))


def test_data_synth(mft, tmp_path: Path) -> None:
    out = user_folder(tmp_path / "people", "train.jsonl")
    (out / "notes.txt").write_text("keep")
    refused = mft("data", "synth", "--out", str(out), "--people", "4")
    assert refused.code == 2 and "is not empty" in refused.err, refused.err
    assert (out / "train.jsonl").read_text() == "mine"
    assert mft("data", "synth", "--out", str(out), "--people", "4", "--force").code == 0
    assert "text" in json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert (out / "notes.txt").read_text() == "keep" and (out / "seen" / "qa.jsonl").is_file()


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    folder = tmp_path / "kset"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"text": "Ada Quill keeps the lamp."}) + "\n")
    qa = {"question": "Who keeps the lamp?", "answer": "Ada Quill", "direction": "backward"}
    (folder / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    return folder


def test_eval(mft, tmp_path: Path, tiny_causal: Path, small_set: Path) -> None:
    base = ["eval", "--model", str(tiny_causal), "--dataset", str(small_set), "--max-new-tokens", "2"]
    out = tmp_path / "gen.jsonl"
    out.write_text("mine\n")
    refused = mft(*base, "--out", str(out))
    assert refused.code == 2 and "already exists" in refused.err, refused.err
    assert out.read_text() == "mine\n"
    inside = mft(*base, "--out", str(small_set / "qa.jsonl"), "--force")
    assert inside.code == 2 and "which this command reads" in inside.err, inside.err
    assert mft(*base, "--out", str(out), "--force").code == 0
    assert json.loads(out.read_text())["question"] == "Who keeps the lamp?"
    assert not out.with_name("gen.jsonl.partial").exists()
    partial = tmp_path / "again.jsonl.partial"  # an interrupted run's answers are kept too
    partial.write_text('{"question": "..."}\n')
    kept = mft(*base, "--out", str(tmp_path / "again.jsonl"))
    assert kept.code == 2 and "again.jsonl.partial already exists" in kept.err, kept.err


def test_lab_refuses_its_report_folder_before_any_work(mft, tmp_path: Path) -> None:
    out = user_folder(tmp_path / "report")
    refused = mft("lab", "--report-dir", str(out), "--data-dir", str(tmp_path / "data"))
    assert refused.code == 2 and "--report-dir" in refused.err and "is not empty" in refused.err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report"], "no data, store or runs made"


@pytest.fixture(scope="module")
def exported_run(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real checkpoint of a copy of the tiny model (a world of one, gloo) and the MLflow run that
    names it best, as a trial leaves them: (base model, checkpoint, store)."""
    root = tmp_path_factory.mktemp("export")
    base = Path(shutil.copytree(tiny_causal, root / "base"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        model = LlamaForCausalLM.from_pretrained(base)
        optimizer = torch.optim.AdamW(model.parameters())
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        checkpoint = root / "runs" / "checkpoint_000001"
        checkpoint.mkdir(parents=True)
        config = TrialConfig(model=str(base), method="ar", precision="fp32")
        generator = torch.Generator().manual_seed(0)
        save_checkpoint(checkpoint, model, optimizer, scheduler, generator, TrainerState(step=4), config)
    finally:
        dist.destroy_process_group()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("export"), tags={BEST_CHECKPOINT_TAG: str(checkpoint)})
    client.log_param(run.info.run_id, "model", str(base))
    client.log_param(run.info.run_id, "method", "ar")
    yield {"base": str(base), "checkpoint": str(checkpoint), "uri": uri, "run": run.info.run_id}


def test_export(mft, exported_run: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, base = exported_run["run"], Path(exported_run["base"])
    store = ["--tracking-uri", exported_run["uri"]]
    before = files(base)
    for target in (str(base), exported_run["checkpoint"]):  # what the export reads, even with --force
        refused = mft("export", run, "--out", target, "--force", *store)
        assert refused.code == 2 and "which this command reads" in refused.err, refused.err
    assert files(base) == before, "the run's base model is never written"
    out = user_folder(tmp_path / "out", "config.json")
    refused = mft("export", run, "--out", str(out), *store)
    assert refused.code == 2 and "is not empty" in refused.err, refused.err
    assert files(out) == {"config.json": b"mine"}
    slash = mft("export", run, "--out", f"{out / 'config.json'}/", *store)
    assert slash.code == 2 and "is a file" in slash.err, slash.err
    monkeypatch.setenv("COLUMNS", "60")  # a pipe's or a Ray job log's width: the path is still one line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = mft("export", run, "--out", str(out), "--force", *store)
    assert done.code == 0, done.err
    assert f"of run {run} to {out}\n" in done.out, done.out
    assert not caught, [str(warning.message) for warning in caught]  # a user's terminal shows each
    assert LlamaForCausalLM.from_pretrained(out).num_parameters() > 0
    assert files(base) == before
