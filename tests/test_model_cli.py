"""`mft model tiny`: tiny Llama models that load back through `from_pretrained`."""

from __future__ import annotations

import json
from pathlib import Path

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
