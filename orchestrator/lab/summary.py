"""The lab's own table and closing lines: what `mft lab` shows, in numbers (driver side; pure on Trials).

Per method, over seeds: recall and exact match (EM) forward and backward at the *last* evaluation,
whose step was fixed on the tuning people, so no number here was picked on the questions it
reports (`mft report`'s Table 3, printed before it, picks each trial's best checkpoint as the paper
does). Next to them the fitted plateau A of A·(1 − e^(−k·step)): where A is close to the last value
the curve has flattened. Above them the chance floor (a random seen person as the answer) and the
base models before fine-tuning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.table import Table

from orchestrator.report.fitting import fit_saturation
from orchestrator.report.grouping import Stat, aggregate, display_value
from orchestrator.report.trials import Trial

SCORES = ("acc/fwd", "em/fwd", "acc/bwd", "em/bwd")
HEADERS = {"acc/fwd": "fwd recall", "em/fwd": "fwd EM", "acc/bwd": "bwd recall", "em/bwd": "bwd EM"}
PLATEAUS = ("fwd", "bwd")
# The paper's AR without paraphrases on NameDescription (Table 3): the half of it the lab lacks.
PAPER_AR_FORWARD = "N2D-fwd 0.374, D2N-fwd 0.017"
NOISE_SE = 2.0
"""Two methods differ beyond seed noise when their means are this many standard errors apart."""


@dataclass(frozen=True)
class LabRow:
    """One line of the lab's table: mean ± std over `seeds` trials (chance and "before": one value)."""

    label: str
    seeds: int
    scores: Mapping[str, Stat | None]
    plateaus: Mapping[str, Stat | None]


def scores_at(trial: Trial, step: int) -> dict[str, float | None]:
    """`acc/...` and `em/...` of one evaluation."""
    recall = {f"acc/{name}": curve.at(step) for name, curve in trial.curves.items()}
    return recall | {f"em/{name}": curve.at(step) for name, curve in trial.exact.items()}


def single(label: str, scores: Mapping[str, float | None]) -> LabRow:
    stats = {key: None if scores.get(key) is None else Stat(scores[key], None, 1) for key in SCORES}
    return LabRow(label, 1, stats, {})


def lab_rows(trials: Sequence[Trial], chance: Mapping[str, float]) -> list[LabRow]:
    """Chance floor, each base model before fine-tuning (step 0), then each method at its last evaluation."""
    rows = [single("chance: a random seen person", chance)]
    befores: dict[str, Trial] = {}
    for trial in trials:
        if trial.curves["total"].at(0) is not None:
            befores.setdefault(trial.params.get("model", ""), trial)
    for model, trial in befores.items():
        rows.append(single(f"before fine-tuning ({display_value('model', model)})", scores_at(trial, 0)))
    methods: dict[str, list[Trial]] = {}
    for trial in trials:
        methods.setdefault(trial.params.get("method", ""), []).append(trial)
    for method, group in methods.items():
        last = [scores_at(trial, trial.last_step or 0) for trial in group]
        scores = {key: aggregate(values.get(key) for values in last) for key in SCORES}
        plateaus = {}
        for direction in PLATEAUS:
            fits = [fit_saturation(t.curves[direction].steps, t.curves[direction].values) for t in group]
            plateaus[direction] = aggregate(fit.a for fit in fits)
        rows.append(LabRow(method, len(group), scores, plateaus))
    return rows


def cell(stat: Stat | None) -> str:
    if stat is None:
        return "–"
    return f"{stat.mean:.3f}" if stat.std is None else f"{stat.mean:.3f} ± {stat.std:.3f}"


def lab_table(rows: Sequence[LabRow], population: str) -> Table:
    """The rows as a Rich table; A columns say they are fits, the others that they are measured."""
    table = Table(title=f"mft lab: the {population} people, last evaluation", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("seeds", justify="right")
    for key in SCORES:
        table.add_column(HEADERS[key], justify="right")
    for direction in PLATEAUS:
        table.add_column(f"{direction} recall A (fit)", justify="right")
    for row in rows:
        plateaus = [cell(row.plateaus.get(direction)) if row.plateaus else "" for direction in PLATEAUS]
        table.add_row(row.label, str(row.seeds), *(cell(row.scores[key]) for key in SCORES), *plateaus)
    return table


def differ(first: Stat | None, second: Stat | None) -> bool | None:
    """Whether two seed means differ by more than NOISE_SE standard errors; None without a spread."""
    if first is None or second is None or first.std is None or second.std is None:
        return None
    error = math.sqrt(first.std**2 / first.n + second.std**2 / second.n)
    return abs(first.mean - second.mean) > NOISE_SE * max(error, 1e-12)


def closing_lines(rows: Sequence[LabRow], population: str) -> list[str]:
    """What this run shows and what it does not, worded from its own numbers."""
    by_label = {row.label: row for row in rows}
    chance = rows[0].scores
    lines = []
    ar = by_label.get("ar")
    if ar is not None:
        lines.append(
            f"shows: the reversal curse. ar answers {cell(ar.scores['em/fwd'])} of forward questions exactly"
            f" and {cell(ar.scores['em/bwd'])} of backward ones (chance {cell(chance['em/bwd'])})."
        )
    for method in ("masked", "dllm", "masked-random"):
        if method in by_label:
            row = by_label[method]
            lines.append(
                f"  {method}: backward exact match {cell(row.scores['em/bwd'])},"
                f" recall {cell(row.scores['acc/bwd'])}; forward exact match {cell(row.scores['em/fwd'])}."
            )
    if "masked" in by_label and "dllm" in by_label:
        masked, dllm = by_label["masked"].scores["em/bwd"], by_label["dllm"].scores["em/bwd"]
        verdict = differ(masked, dllm)
        if verdict is None:
            lines.append(
                "does not show: which of masked and dllm answers backward better (one seed: no spread)."
            )
        elif not verdict:
            lines.append(
                "does not show: which of masked and dllm answers backward better: their exact match differs"
                f" by less than {NOISE_SE:g} standard errors over seeds."
            )
    if ar is not None and ar.scores["acc/fwd"] is not None and ar.scores["acc/fwd"].mean >= 0.5:
        lines.append(
            "does not show: the paraphrase half of the paper's Table 3. Here ar learns forward from one"
            f" statement per person; the paper's AR mostly does not without paraphrases ({PAPER_AR_FORWARD})."
        )
    lines.append(
        "these are the tuning people, on which the shipped settings were chosen."
        if population == "tune"
        else "these are the reporting people: no setting was chosen on them (tuning people: mft lab --tune)."
    )
    return lines
