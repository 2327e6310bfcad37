"""`mft model tiny`: tiny Llama models that load back through `from_pretrained`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_bidirectional_model_with_a_corpus(mft, tmp_path: Path) -> None:
    corpus = tmp_path / "facts.json"
    corpus.write_text(json.dumps([{"text": "Zyxwarblethorpe is the keeper of the glass lighthouse."}] * 50))
    result = mft(
        "model", "tiny", "--out", str(tmp_path / "m"), "--arch", "bidirectional", "--corpus", str(corpus)
    )
    assert result.code == 0, result.err
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert model.config.is_causal is False
    # The corpus shaped the BPE merges: its rare word takes few tokens.
    assert len(tokenizer.encode("Zyxwarblethorpe", add_special_tokens=False)) <= 3
    assert tokenizer.mask_token == "<|mask|>" and model.config.vocab_size == len(tokenizer)


def test_bad_architecture_is_one_line(mft, tmp_path: Path) -> None:
    result = mft("model", "tiny", "--out", str(tmp_path / "m"), "--arch", "encoder")
    assert result.code == 2 and "--arch must be one of" in result.err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_saved_model_files_are_readable_as_the_umask_allows(
    mft, tmp_path: Path, umask: int, mode: int
) -> None:
    """save_pretrained writes model.safetensors 0600; a shared model folder must not be private."""
    previous = os.umask(umask)
    try:
        result = mft("model", "tiny", "--out", str(tmp_path / "m"))
    finally:
        os.umask(previous)
    assert result.code == 0, result.err
    modes = {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "m").iterdir()}
    assert "model.safetensors" in modes and set(modes.values()) == {mode}, modes


def test_building_a_model_in_process_prints_nothing(tmp_path: Path, capfd) -> None:
    """Transformers' shard-writing bar was on stderr whenever transformers had been imported before
    `mft` set its quiet environment (in-process commands, tests): a one-line error became five."""
    from transformers.utils import logging as hf_logging

    from orchestrator.tiny_models import build_tiny_model

    hf_logging.enable_progress_bar()
    build_tiny_model(tmp_path / "m")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert hf_logging.is_progress_bar_enabled()  # the caller's setting is left as it was
