"""Bad input to `mft train`: one clear line, exit code 2, and nothing launched or written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import ray


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def maskless_model(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with its tokenizer's mask token taken away."""
    folder = tmp_path_factory.mktemp("maskless") / "model"
    shutil.copytree(tiny_causal, folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config.pop("mask_token", None)
    config_file.write_text(json.dumps(config))
    return folder


CASES = {
    "unknown method": (["--method", "sft"], "unknown method 'sft'"),
    "unknown dataset": (["--dataset", "imdb"], "imdb"),
    "lr not positive": (["--lr", "0"], "--lr must be > 0"),
    "t above 1": (["--mask-ratio", "1.5"], "--mask-ratio"),
    "t below 0": (["--mask-ratio", "-0.1:0.5"], "--mask-ratio"),
    "eval beyond the run": (["--epochs", "4", "--eval-at", "0,2,8"], "--eval-at"),
    "missing model": (["--model", "./no/such/model"], "not found"),
    "dllm on a causal model": (["--method", "dllm"], "bidirectional"),
    "unknown scoring": (["--scoring", "bleu"], "--scoring must be one of authors, rouge-score"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_launches_nothing(
    case: str, mft, workdir: Path, tiny_causal: Path, paper_data_dir: Path
) -> None:
    extra, expected = CASES[case]
    args = ["train", "--model", str(tiny_causal), "--data-dir", str(paper_data_dir), "--epochs", "2", *extra]
    result = mft(*args)
    assert result.code == 2
    assert expected in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert not ray.is_initialized()
    assert list(workdir.iterdir()) == [], "nothing may be written before the input is valid"


def test_tokenizer_without_mask_token_is_refused(
    mft, workdir: Path, maskless_model: Path, paper_data_dir: Path
) -> None:
    result = mft(
        "train", "--model", str(maskless_model), "--data-dir", str(paper_data_dir), "--method", "masked"
    )
    assert result.code == 2
    assert "no usable mask token" in result.err and "--mask-token" in result.err
    assert not ray.is_initialized()
