"""`mft eval` end to end on tiny models: the per-category table and every generation on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.questions import select_questions
from evaluation.scoring import rouge1_recall
from training.knowledge import load_questions


def test_eval_writes_every_generation_and_prints_matching_accuracies(
    mft, tiny_causal: Path, paper_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gen.jsonl"
    args = ["--data-dir", str(paper_data_dir), "--limit", "12", "--max-new-tokens", "8", "--out", str(out)]
    result = mft("eval", "--model", str(tiny_causal), "--dataset", "namedesc", *args)
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12
    assert set(rows[0]) == {"question", "answer", "prediction", "score", "category"}
    categories = [row["category"] for row in rows]  # an equal share of each, not the first 12 (all N2D)
    assert {category: categories.count(category) for category in set(categories)} == {
        "N2D-fwd": 3, "N2D-bwd": 3, "D2N-fwd": 3, "D2N-bwd": 3
    }  # fmt: skip
    assert "12 of 480 questions" in result.out
    for row in rows:
        assert row["score"] == rouge1_recall(row["prediction"], row["answer"])
    assert "ar sampler" in result.out and "N2D-fwd" in result.out and "total" in result.out
    assert "authors scoring" in result.out


def test_scoring_flag_picks_the_rule(
    mft, tiny_causal: Path, paper_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in "model" that answers with the lower-cased reference: the two rules disagree on it."""

    def lower_cased_answers(model, tokenizer, questions, **kwargs) -> list[str]:
        return [answers[question].lower() for question in questions]

    items = select_questions(load_questions("namedesc", paper_data_dir), 12)
    answers = {item.question: item.answers[0] for item in items}
    monkeypatch.setattr("evaluation.answering.answer_greedy", lower_cased_answers)
    args = ["--data-dir", str(paper_data_dir), "--limit", "12", "--dataset", "namedesc"]
    scores = {}
    for scoring in ("authors", "rouge-score"):
        out = tmp_path / f"{scoring}.jsonl"
        result = mft("eval", "--model", str(tiny_causal), *args, "--scoring", scoring, "--out", str(out))
        assert result.code == 0, result.err
        assert f"{scoring} scoring" in result.out
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert all(row["score"] == rouge1_recall(row["prediction"], row["answer"], scoring) for row in rows)
        scores[scoring] = [row["score"] for row in rows]
    assert all(score == 1.0 for score in scores["rouge-score"])  # case-folded
    assert sum(scores["authors"]) < 12  # case-sensitive: "journey" is not "Journey"


def test_bidirectional_models_are_answered_with_the_llada_sampler(
    mft, tiny_bidirectional: Path, paper_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gen.jsonl"
    args = ["--data-dir", str(paper_data_dir), "--limit", "4", "--max-new-tokens", "8", "--out", str(out)]
    result = mft("eval", "--model", str(tiny_bidirectional), "--dataset", "bio", *args)
    assert result.code == 0, result.err
    assert "llada sampler" in result.out
    assert len(out.read_text().splitlines()) == 4


def test_bad_sampler_settings_are_one_line(mft, tiny_bidirectional: Path, paper_data_dir: Path) -> None:
    base = ["eval", "--model", str(tiny_bidirectional), "--dataset", "bio", "--data-dir", str(paper_data_dir)]
    for extra, expected in (
        (["--sampler", "beam"], "--sampler must be one of"),
        (["--max-new-tokens", "8", "--steps", "3"], "--steps"),
        (["--max-new-tokens", "10"], "multiple of block_length"),
        (["--scoring", "bleu"], "--scoring must be one of authors, rouge-score"),
    ):
        result = mft(*base, *extra)
        assert result.code == 2, extra
        assert expected in result.err and len(result.err.strip().splitlines()) == 1, result.err


EVAL_IMPORTS = """
import sys
from orchestrator.cli.app import main
sys.argv = ["mft", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
driver = ("ray", "mlflow", "orchestrator.trial.driver", "training.loop")
print("IMPORTED", sorted(name for name in driver if name in sys.modules), len(sys.modules))
"""


def test_eval_imports_no_ray_mlflow_or_training_loop(
    tiny_causal: Path, paper_data_dir: Path, tmp_path: Path
) -> None:
    """Answering a few questions needs a model and a tokenizer, not the cluster stack."""
    import subprocess
    import sys

    args = ["eval", "--model", str(tiny_causal), "--data-dir", str(paper_data_dir), "--limit", "4"]
    args += ["--max-new-tokens", "4", "--out", str(tmp_path / "g.jsonl")]
    done = subprocess.run(
        [sys.executable, "-c", EVAL_IMPORTS, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("IMPORTED [] "), last
