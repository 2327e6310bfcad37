"""`report.csv`: one row per trial, per group and per "before fine-tuning" row (driver side).

Machine-readable: numbers at full precision (Python's repr), one column per metric and its std
(recall as `N2D-fwd`, exact match as `em_N2D-fwd`), the configuration fields that vary as columns,
and the runs left out with their status.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from orchestrator.report.fitting import Fit
from orchestrator.report.grouping import Group, Stat, aggregate, varying_fields
from orchestrator.report.tables import Fits
from orchestrator.report.trials import SUMMARY, Trial
from training.knowledge import order_categories

FIXED = ("kind", "dataset", "method", "paraphrase", "scoring", "model")
RUN = ("seed", "seeds", "running", "run_id", "trial", "status", "best_step")
FIT = tuple(f"fit_{d}_{p}" for d in ("fwd", "bwd") for p in ("A", "k"))


def exact(metric: str) -> str:
    """The exact-match column of a metric."""
    return f"em_{metric}"


def number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def write_csv(
    path: Path, groups: Sequence[Group], befores: Sequence[Group], fits: Fits, left_out: Sequence[Trial]
) -> None:
    everyone = [*groups, *befores]
    metrics = [*order_categories(c for g in everyone for c in g.categories), *SUMMARY]
    varying = varying_fields(groups, exclude=(*FIXED, "seed"))
    columns = [*FIXED, *varying, *RUN]
    columns += [c for m in metrics for c in (m, f"{m}_std")]
    columns += [c for m in metrics for c in (exact(m), f"{exact(m)}_std")]
    columns += [c for f in FIT for c in (f, f"{f}_std")] + ["fit_note"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for group in groups:
            config = {name: group.value(name) for name in (*FIXED[1:], *varying)}
            for trial in group.trials:
                writer.writerow({"kind": "trial", **config, **_trial(trial, metrics, fits[trial.run_id])})
            writer.writerow({"kind": "group", **config, **_group(group, metrics, fits)})
        for before in befores:
            config = {name: before.value(name) for name in (*FIXED[1:], *varying)}
            row = {"kind": "before", **config, "seeds": str(len(before.trials))}
            for metric in metrics:
                stat = aggregate(
                    t.curves[metric].at(0) if metric in t.curves else None for t in before.trials
                )
                row |= _stat(metric, stat)
                stat = aggregate(t.exact[metric].at(0) if metric in t.exact else None for t in before.trials)
                row |= _stat(exact(metric), stat)
            writer.writerow(row)
        for trial in left_out:
            row = {name: trial.params.get(name, "") for name in (*FIXED[1:], *varying, "seed")}
            writer.writerow(
                {
                    "kind": "left-out",
                    **row,
                    "run_id": trial.run_id,
                    "trial": trial.name,
                    "status": trial.status,
                    "fit_note": trial.error,
                }
            )


def _trial(trial: Trial, metrics: Sequence[str], fits: dict[str, Fit]) -> dict[str, str]:
    best = trial.best()
    row = {
        "seed": trial.seed,
        "run_id": trial.run_id,
        "trial": trial.name,
        "status": trial.status,
        "best_step": str(trial.best_step),
        "running": "1" if trial.status == "RUNNING" else "0",
    }
    row |= {metric: number(best.get(metric)) for metric in metrics}
    best_exact = trial.best_exact()
    row |= {exact(metric): number(best_exact.get(metric)) for metric in metrics}
    for direction, fit in fits.items():
        row |= {f"fit_{direction}_A": number(fit.a), f"fit_{direction}_k": number(fit.k)}
    notes = [f"{d}: {fit.note}" for d, fit in fits.items() if fit.note]
    return row | {"fit_note": "; ".join(notes)}


def _group(group: Group, metrics: Sequence[str], fits: Fits) -> dict[str, str]:
    row = {"seeds": str(len(group.trials)), "running": str(group.running)}
    best = [trial.best() for trial in group.trials]
    best_exact = [trial.best_exact() for trial in group.trials]
    for metric in metrics:
        row |= _stat(metric, aggregate(b.get(metric) for b in best))
        row |= _stat(exact(metric), aggregate(b.get(metric) for b in best_exact))
    for direction in ("fwd", "bwd"):
        found = [fits[trial.run_id][direction] for trial in group.trials]
        row |= _stat(f"fit_{direction}_A", aggregate(fit.a for fit in found))
        row |= _stat(f"fit_{direction}_k", aggregate(fit.k for fit in found))
    return row


def _stat(column: str, stat: Stat | None) -> dict[str, str]:
    if stat is None:
        return {column: "", f"{column}_std": ""}
    return {column: number(stat.mean), f"{column}_std": number(stat.std)}
