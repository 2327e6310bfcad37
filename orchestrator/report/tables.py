"""The report's tables as plain data (driver side, pure): Table 3 and Table 4 style per dataset,
sweep tables, the trials and the runs left out. Writers turn them into Rich, Markdown, LaTeX, HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.report.fitting import Fit
from orchestrator.report.grouping import (
    BEFORE_FIELDS,
    ROW_FIELDS,
    Group,
    Stat,
    aggregate,
    display_value,
    numeric,
    varies_within_method,
    varying_fields,
)
from orchestrator.report.trials import SUMMARY, Trial
from training.knowledge import order_categories

MISSING = "–"
SWEEP_FIGURES = {"lr": "Fig. 5", "mask_ratio": "Fig. 4"}
# Fields that tell rows apart but are not a swept value (e.g. each method has its own model).
NOT_SWEPT = ("dataset", "method", "paraphrase", "scoring", "model")
Fits = Mapping[str, Mapping[str, Fit]]
"""run id → direction (fwd, bwd) → its fit."""


@dataclass(frozen=True)
class Table:
    """Title, header and text cells; the first `left` columns are labels, the rest numbers."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    left: int
    notes: tuple[str, ...] = ()


def dataset_of(group: Group) -> str:
    return display_value("dataset", group.value("dataset"))


def datasets(groups: Sequence[Group]) -> list[str]:
    return list(dict.fromkeys(dataset_of(group) for group in groups))


def cell(stat: Stat | None, spec: str = ".3f", std_spec: str | None = None) -> str:
    if stat is None:
        return MISSING
    if stat.std is None:
        return format(stat.mean, spec)
    return f"{stat.mean:{spec}} ± {stat.std:{std_spec or spec}}"


def seeds_cell(group: Group) -> str:
    return f"{len(group.trials)}*" if group.running else str(len(group.trials))


def label_fields(groups: Sequence[Group]) -> list[str]:
    """Row labels: method, paraphrase, whatever else varies between the rows, then the scorer."""
    extra = varying_fields(groups, exclude=("dataset", *ROW_FIELDS))
    return ["method", "paraphrase", *extra, "scoring"]


def labels(group: Group, fields: Sequence[str]) -> list[str]:
    return [display_value(name, group.value(name)) for name in fields]


def running_note(groups: Sequence[Group]) -> tuple[str, ...]:
    if any(group.running for group in groups):
        return ("* includes runs still RUNNING, with what they have logged so far.",)
    return ()


def accuracy_table(dataset: str, groups: Sequence[Group], befores: Sequence[Group]) -> Table:
    """Table 3 style: each category at each trial's best checkpoint, mean ± std over seeds; exact
    match beside each direction's recall and the total."""
    fields = label_fields(groups)
    categories = order_categories(c for g in (*befores, *groups) for c in g.categories)
    columns = [*categories, *(name for metric in SUMMARY for name in (metric, exact_column(metric)))]
    rows = []
    for before in befores:
        names = ["before fine-tuning", MISSING] + [
            display_value(name, before.value(name)) if name in BEFORE_FIELDS else "" for name in fields[2:]
        ]
        recall = [{m: c.at(0) for m, c in t.curves.items()} for t in before.trials]
        exact = [{m: c.at(0) for m, c in t.exact.items()} for t in before.trials]
        rows.append((*names, str(len(before.trials)), *accuracy_cells(categories, recall, exact)))
    for group in groups:
        recall = [trial.best() for trial in group.trials]
        exact = [trial.best_exact() for trial in group.trials]
        rows.append((*labels(group, fields), seeds_cell(group), *accuracy_cells(categories, recall, exact)))
    notes = (
        "Each cell: the category at the trial's best checkpoint (the evaluation with the highest"
        " acc/total; ties go to the later step), mean ± sample std over seeds (std from 2 seeds on).",
        "Recall (the paper's accuracy) gives partial credit; EM (exact match, at the same checkpoint)"
        " is the share of questions whose every answer word is in the answer. EM per category:"
        " report.csv.",
        *(["before fine-tuning: the step-0 evaluation; its count is runs, not seeds."] if befores else []),
        *running_note(groups),
    )
    return Table(
        f"accuracy-{dataset}",
        f"{dataset}: accuracy at the best checkpoint (Table 3)",
        (*fields, "seeds", *columns),
        tuple(rows),
        len(fields),
        notes,
    )


def exact_column(metric: str) -> str:
    return f"{metric} EM"


def accuracy_cells(
    categories: Sequence[str],
    recall: Sequence[Mapping[str, float | None]],
    exact: Sequence[Mapping[str, float | None]],
) -> list[str]:
    """Recall per category, then recall and exact match per summary metric; one mapping per trial."""
    cells = [cell(aggregate(values.get(metric) for values in recall)) for metric in categories]
    for metric in SUMMARY:
        cells.append(cell(aggregate(values.get(metric) for values in recall)))
        cells.append(cell(aggregate(values.get(metric) for values in exact)))
    return cells


def fit_table(dataset: str, groups: Sequence[Group], fits: Fits) -> Table:
    """Table 4 style: A and k of A·(1 − e^(−k·step)) per direction, mean ± std over seeds."""
    fields = label_fields(groups)
    rows = []
    for group in groups:
        cells = []
        for direction in ("fwd", "bwd"):
            found = [fits[trial.run_id][direction] for trial in group.trials]
            cells += [fit_cell(found, "a", ".3f"), fit_cell(found, "k", ".3g", ".2g")]
        rows.append((*labels(group, fields), seeds_cell(group), *cells))
    notes = (
        "A·(1 − e^(−k·x)) fitted to each trial's forward and backward accuracy with x = optimizer step"
        " (k per step); mean ± sample std over seeds. A cell without a number says why.",
        *running_note(groups),
    )
    columns = (*fields, "seeds", "fwd A", "fwd k", "bwd A", "bwd k")
    return Table(
        f"fit-{dataset}", f"{dataset}: convergence fit (Table 4)", columns, tuple(rows), len(fields), notes
    )


def fit_cell(fits: Sequence[Fit], attribute: str, spec: str, std_spec: str | None = None) -> str:
    stat = aggregate(getattr(fit, attribute) for fit in fits)
    reasons = sorted({fit.note for fit in fits if getattr(fit, attribute) is None and fit.note})
    if stat is None:
        return "; ".join(reasons) or MISSING
    text = cell(stat, spec, std_spec)
    return text if stat.n == len(fits) else f"{text} ({stat.n}/{len(fits)} fitted)"


def swept_fields(groups: Sequence[Group]) -> list[str]:
    """Fields that take two or more values within one method: the sweep's own variables."""
    candidates = varying_fields(groups, exclude=(*NOT_SWEPT, "seed"))
    return [name for name in candidates if varies_within_method(groups, name)]


def sweep_order(name: str, group: Group) -> tuple:
    value = group.value(name)
    number = numeric(value)
    return (number is None, number if number is not None else 0.0, value)


def sweep_table(dataset: str, name: str, groups: Sequence[Group]) -> Table:
    """Figs. 4-5 as numbers: best fwd, bwd and total accuracy against the swept value, per method."""
    fields = [f for f in label_fields(groups) if f != name] + [name]
    first_seen: dict[tuple[str, ...], int] = {}  # keep the groups' method order, then sort by value
    for group in groups:
        first_seen.setdefault(tuple(labels(group, fields[:-1])), len(first_seen))
    ordered = sorted(groups, key=lambda g: (first_seen[tuple(labels(g, fields[:-1]))], sweep_order(name, g)))
    rows = []
    for group in ordered:
        best = [trial.best() for trial in group.trials]
        values = [cell(aggregate(b.get(metric) for b in best)) for metric in SUMMARY]
        rows.append((*labels(group, fields), seeds_cell(group), *values))
    figure = SWEEP_FIGURES.get(name, "sweep")
    notes = ("Best-checkpoint accuracy, mean ± sample std over seeds.", *running_note(groups))
    return Table(
        f"sweep-{dataset}-{name}",
        f"{dataset}: best accuracy against {name} ({figure})",
        (*fields, "seeds", *SUMMARY),
        tuple(rows),
        len(fields),
        notes,
    )


def trials_table(groups: Sequence[Group]) -> Table:
    """Every reported trial with its best checkpoint: what each group's mean is made of."""
    rows = []
    for group in groups:
        for trial in group.trials:
            best = trial.best()
            values = [format(best[m], ".3f") if best.get(m) is not None else MISSING for m in SUMMARY]
            rows.append((trial.name, trial.status, trial.seed, str(trial.best_step), *values))
    return Table("trials", "Trials", ("trial", "status", "seed", "best step", *SUMMARY), tuple(rows), 3)


def left_out_table(trials: Sequence[Trial]) -> Table | None:
    """Runs not averaged into any row (failed, killed, or not evaluated yet), and why."""
    if not trials:
        return None
    rows = []
    for trial in trials:
        total = format(max(trial.curves["total"].values), ".3f") if trial.evaluated else MISSING
        last = str(trial.last_step) if trial.last_step is not None else MISSING
        reason = trial.error or ("no evaluation yet" if not trial.evaluated else "")
        rows.append((trial.name, trial.status, reason[:200], trial.seed, last, total))
    return Table(
        "left-out",
        "Runs left out of the tables",
        ("trial", "status", "reason", "seed", "last eval step", "best total so far"),
        tuple(rows),
        3,
        (
            "FAILED, KILLED and STOPPED (stopped early by the sweep's scheduler) runs are never averaged"
            " in; nor are runs without any evaluation.",
        ),
    )
