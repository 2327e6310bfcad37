"""The lab's own table and closing lines, its chance floor and progress lines: pure, milliseconds."""

from __future__ import annotations

import io
from statistics import fmean

import pytest
from rich.console import Console

from evaluation.questions import QAItem
from evaluation.scoring import rouge1_recall
from orchestrator.lab.chance import chance_floor
from orchestrator.lab.progress import LINES_PER_BUILD, step_lines
from orchestrator.lab.summary import closing_lines, lab_rows, lab_table
from orchestrator.lab.synthetic import draw_populations
from orchestrator.report.trials import Curve, Trial


def test_chance_floor_is_the_exact_mean_over_seen_people_and_never_an_exact_match() -> None:
    populations = draw_populations(20, seed=0)
    items = [
        QAItem(record["question"], (record["answer"],), record["category"][-3:], record["category"])
        for person in populations.report
        for record in person.questions(1)
    ]
    floor = chance_floor(items, populations.seen)
    assert floor["em/fwd"] == floor["em/bwd"] == floor["em/total"] == 0.0
    # N2D-bwd asks for a name: every seen person's name, scored against the answer, averaged.
    names = [item for item in items if item.category == "N2D-bwd"]
    by_hand = fmean(
        fmean(rouge1_recall(person.name, item.answers) for person in populations.seen) for item in names
    )
    assert floor["acc/N2D-bwd"] == pytest.approx(by_hand, abs=1e-12)
    # A closed vocabulary: one word in 30 (names) or 16 (descriptions) is shared by chance.
    assert 0.0 < floor["acc/N2D-bwd"] < 0.1 and 0.02 < floor["acc/N2D-fwd"] < 0.15


def trial(method: str, seed: int, model: str, points: dict[int, tuple[float, float, float, float]]) -> Trial:
    """A finished trial; `points`: step → (recall fwd, recall bwd, EM fwd, EM bwd)."""

    def curve(index: int) -> Curve:
        return Curve(tuple((step, values[index]) for step, values in sorted(points.items())))

    def total(first: int, second: int) -> Curve:
        return Curve(tuple((s, (v[first] + v[second]) / 2) for s, v in sorted(points.items())))

    params = {"method": method, "seed": str(seed), "model": f"/lab/{model}"}
    recall = {"fwd": curve(0), "bwd": curve(1), "total": total(0, 1)}
    exact = {"fwd": curve(2), "bwd": curve(3), "total": total(2, 3)}
    return Trial(f"{method}{seed}", f"{method}{seed}", "FINISHED", params, recall, exact=exact)


STEPS = (0, 100, 200, 300, 400)
CHANCE = {"acc/fwd": 0.05, "acc/bwd": 0.05, "em/fwd": 0.0, "em/bwd": 0.0}


def rising(plateau: float, seed: int) -> dict[int, tuple[float, float, float, float]]:
    """Backward recall rises towards `plateau`, its exact match 0.8 of it (forward at 1); seeds differ."""
    points = {}
    for step in STEPS:
        backward = plateau * (1 - 0.5 ** (step / 100)) + seed * 0.05
        points[step] = (1.0 if step else 0.05, backward, 1.0, 0.8 * backward)
    return points


TRIALS = [
    trial("ar", 0, "base-causal", {s: (1.0 if s else 0.1, 0.04, 1.0 if s else 0.0, 0.0) for s in STEPS}),
    trial("ar", 1, "base-causal", {s: (0.98 if s else 0.1, 0.05, 0.9 if s else 0.0, 0.0) for s in STEPS}),
    *(trial("masked", seed, "base-causal", rising(0.5, seed)) for seed in (0, 1)),
    *(trial("dllm", seed, "base-bidirectional", rising(0.52, seed)) for seed in (0, 1)),
]


def test_rows_are_chance_then_each_base_then_each_method_at_its_last_evaluation() -> None:
    rows = lab_rows(TRIALS, CHANCE)
    labels = [row.label for row in rows]
    assert labels == [
        "chance: a random seen person",
        "before fine-tuning (base-causal)",
        "before fine-tuning (base-bidirectional)",
        "ar",
        "masked",
        "dllm",
    ]
    ar, masked = rows[3], rows[4]
    assert (ar.seeds, ar.scores["em/fwd"].mean, ar.scores["acc/fwd"].mean) == (2, 0.95, 0.99)
    last = [0.5 * (1 - 0.5**4) + seed * 0.05 for seed in (0, 1)]
    assert masked.scores["acc/bwd"].mean == pytest.approx(fmean(last))
    # The fit sees the whole curve: its plateau is above the last value, close to the true 0.5.
    plateau = masked.plateaus["bwd"].mean
    assert plateau == pytest.approx(0.525, abs=0.01) and plateau > masked.scores["acc/bwd"].mean
    assert rows[1].scores["acc/fwd"].mean == 0.1 and rows[1].plateaus == {}


def test_table_says_which_numbers_are_fitted() -> None:
    console = Console(file=io.StringIO(), width=200)
    console.print(lab_table(lab_rows(TRIALS, CHANCE), "reporting"))
    text = console.file.getvalue()
    assert "bwd recall A (fit)" in text and "last evaluation" in text and "reporting people" in text


def test_closing_lines_word_only_what_the_numbers_show() -> None:
    lines = "\n".join(closing_lines(lab_rows(TRIALS, CHANCE), "report"))
    assert "the reversal curse" in lines
    assert "which of masked and dllm" in lines  # EM 0.40 vs 0.41, seeds 0.04 apart: within noise
    assert "paraphrase half" in lines  # ar learns forward from one statement here
    assert "no setting was chosen on them" in lines
    apart = [*TRIALS[:4], *(trial("dllm", s, "base-bidirectional", rising(0.9, s)) for s in (0, 1))]
    apart_lines = "\n".join(closing_lines(lab_rows(apart, CHANCE), "tune"))
    assert "which of masked and dllm" not in apart_lines
    assert "the tuning people" in apart_lines


def test_progress_lines_when_the_console_is_not_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    on_step = step_lines(console, "base model (causal)", 1500)
    for step in range(1, 1501):
        on_step(step, 2.0 / step)
    lines = console.file.getvalue().splitlines()
    assert len(lines) == LINES_PER_BUILD
    assert lines[0].startswith("base model (causal): step 150/1500, loss 0.013")
    assert lines[-1].startswith("base model (causal): step 1500/1500")
