"""`mft bench` on the tiny models: answering end to end through the real CLI entry point; for
training only the bare loop, the pre-launch check and the table (a full run launches Ray trials)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.console import Console
from transformers import AutoModelForCausalLM

from orchestrator.bench.training import (
    Figures,
    bare_loop_tokens_per_s,
    render_training,
    training_flops_per_token,
)
from training.config import TrialConfig


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


def write_knowledge(folder: Path, facts: list[tuple[str, str]]) -> Path:
    """A bring-your-own knowledge set: one document and one forward question per fact."""
    folder.mkdir()
    with (folder / "train.jsonl").open("w") as train, (folder / "qa.jsonl").open("w") as qa:
        for name, description in facts:
            train.write(json.dumps({"text": f"{name} is {description}."}) + "\n")
            qa.write(
                json.dumps({"question": f"Who is {name}?", "answer": description, "direction": "forward"})
            )
            qa.write("\n")
    return folder


FACTS = [
    ("Alice Zorn", "the inventor of the glass piano"),
    ("Boris Quill", "the mayor of Lantern Bay"),
    ("Clara Voss", "the author of Silent Rivers"),
    ("Dmitri Hale", "the founder of Copperleaf Labs"),
]


def test_bare_loop_measures_throughput_and_trains(tiny_causal: Path, tmp_path: Path) -> None:
    """The bare loop is a real training loop: positive tokens/s, and the loss falls at a high lr."""
    config = TrialConfig(
        model=str(tiny_causal),
        dataset=str(write_knowledge(tmp_path / "facts", FACTS)),
        method="masked",
        lr=3e-3,
        mask_ratio=(0.5, 0.5),
        batch_size=2,
        workers=2,  # the global batch (4) holds every document, so every step sees the same texts
        epochs=1,
        eval_at=(0, 1),
    )
    documents = [f"{name} is {description}." for name, description in FACTS]
    figures = bare_loop_tokens_per_s(config, documents, steps=10)
    assert figures.tokens_per_s > 0 and len(figures.losses) == 10
    assert sum(figures.losses[-3:]) / 3 < 0.8 * sum(figures.losses[:3]) / 3, figures.losses


def test_bench_training_refuses_a_run_of_only_warm_up_steps(mft, tiny_causal: Path, tmp_path: Path) -> None:
    """Checked before anything launches: 4 documents x 2 epochs at global batch 8 are 2 steps."""
    facts = str(write_knowledge(tmp_path / "facts", FACTS))
    result = mft("bench", "training", "--model", str(tiny_causal), "--dataset", facts, "--epochs", "2")
    assert result.code == 2 and "make 2 steps, all warm-up (2); raise --epochs" in result.err


def test_render_training_gives_ratios_against_the_baselines() -> None:
    rows = [
        Figures("bare loop", 1, 8, 1000.0),
        Figures("Ray Train + FSDP2", 1, 8, 500.0, eval_seconds=3.0),
        Figures("Ray Train + FSDP2", 2, 4, 1500.0, eval_seconds=2.0),
    ]
    console = Console(width=200, record=True)
    console.print(render_training(rows, "t"))
    text = console.export_text()
    assert re.search(r"bare loop\s*│\s*1\s*│\s*8\s*│\s*1000\s*│\s*1\.00x\s*│\s*-\s*│\s*-\s*│\s*-\s*│", text)
    assert re.search(r"│\s*1\s*│\s*8\s*│\s*500\s*│\s*0\.50x\s*│\s*-\s*│\s*3\.00\s*│\s*1\.00x\s*│", text)
    assert re.search(r"│\s*2\s*│\s*4\s*│\s*1500\s*│\s*1\.50x\s*│\s*-\s*│\s*2\.00\s*│\s*1\.50x\s*│", text)


def test_mfu_is_model_flops_over_the_gpus_peak() -> None:
    """1000 tokens/s x 6e9 FLOPs per token on 1 GPU of 1e13 FLOP/s peak = 60 %; on 2 GPUs, 30 %."""
    rows = [
        Figures("bare loop", 1, 8, 1000.0, gpus=1),
        Figures("Ray Train + FSDP2", 2, 4, 1000.0, eval_seconds=2.0, gpus=2),
    ]
    console = Console(width=200, record=True)
    console.print(render_training(rows, "t", flops_per_token=6e9, peak_per_gpu=1e13))
    text = console.export_text()
    assert re.search(r"bare loop\s*│\s*1\s*│\s*8\s*│\s*1000\s*│\s*1\.00x\s*│\s*60\.0%\s*│", text)
    assert re.search(r"│\s*2\s*│\s*4\s*│\s*1000\s*│\s*1\.00x\s*│\s*30\.0%\s*│", text)


def test_training_flops_count_every_parameter_but_the_input_embedding(tiny_causal: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_causal)
    embedding = model.get_input_embeddings().weight.numel()
    expected = 6 * (sum(p.numel() for p in model.parameters()) - embedding)
    assert training_flops_per_token(TrialConfig(model=str(tiny_causal))) == expected
    assert model.get_output_embeddings().weight.numel() == embedding  # untied: the head is counted
