"""`mft bench answering` end to end on the tiny models, through the real CLI entry point."""

from __future__ import annotations

import re
from pathlib import Path


def test_bench_answering_ar_times_both_modes(mft, tiny_causal: Path) -> None:
    args = ["--questions", "6", "--batch-size", "4", "--max-new-tokens", "8"]
    result = mft("bench", "answering", "--model", str(tiny_causal), *args)
    assert result.code == 0, result.err
    for header in ("mode", "questions", "seconds", "questions/s", "speed-up"):
        assert header in result.out
    assert re.search(r"batched \(4\)\s*│\s*6\s*│", result.out)
    assert re.search(r"one at a time\s*│\s*6\s*│.*│\s*1\.00x", result.out)  # the speed-up baseline
    assert "outputs: identical" in result.out


def test_bench_answering_llada_uses_the_mask_token(mft, tiny_bidirectional: Path) -> None:
    args = ["--sampler", "llada", "--questions", "3", "--batch-size", "2", "--max-new-tokens", "4"]
    result = mft("bench", "answering", "--model", str(tiny_bidirectional), *args)
    assert result.code == 0, result.err
    assert "sampler llada" in result.out and "one at a time" in result.out
    assert "outputs: identical" in result.out


def test_bench_answering_refuses_bad_settings(mft, tiny_bidirectional: Path, tmp_path: Path) -> None:
    llada_args = ["--sampler", "llada", "--max-new-tokens", "6"]
    bad_length = mft("bench", "answering", "--model", str(tiny_bidirectional), *llada_args)
    assert bad_length.code == 2 and "--max-new-tokens 6 must be a multiple of 4" in bad_length.err
    no_model = mft("bench", "answering", "--model", str(tmp_path))
    assert no_model.code == 2 and "no config.json" in no_model.err
