"""A sweep summed up for its parent run: per-group means and stds, and the headline table as
Markdown for the run's description (driver side, pure; `orchestrator.sweep.runs` logs them).

The same rows as the report's Table 3, by the same rules (best checkpoint by acc/total, mean ±
sample std over seeds, FAILED and KILLED runs left out), so the MLflow UI and `mft report` agree;
never one seed's lucky best.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.report.grouping import aggregate, before_groups, group_trials
from orchestrator.report.headline import group_labels, headline
from orchestrator.report.markdown import markdown_table
from orchestrator.report.tables import accuracy_table, dataset_of, datasets
from orchestrator.report.trials import SUMMARY, Trial
from orchestrator.tracking import names

UNSAFE_IN_METRIC_NAMES = re.compile(r"[^\w.\- ]+")
MAX_DESCRIPTION_CHARS = 7900  # MLflow refuses tags over 8000 characters
SEPARATOR = "\n\n"
DIGITS = 4
"""Means of accuracies over a few seeds: the UI shows them whole, the report has full precision."""


@dataclass(frozen=True)
class Summary:
    metrics: dict[str, float]
    """`<group>/<metric>` (mean over seeds) and `<group>/<metric>_std` (from 2 seeds on), rounded."""
    description: str
    """Markdown: the headline and each dataset's Table 3."""


def summarize(trials: Sequence[Trial], title: str, footer: str = "") -> Summary:
    """The summary of the trials the report would table (evaluated, not FAILED or KILLED)."""
    reported = [trial for trial in trials if trial.reported]
    if not reported:
        return Summary({}, f"### {title}\n\nNo trial was evaluated.\n")
    groups, befores = group_trials(reported), before_groups(reported)
    metrics: dict[str, float] = {}
    for group, label in zip(groups, group_labels(groups), strict=True):
        key = UNSAFE_IN_METRIC_NAMES.sub("", label)
        best = [trial.best() for trial in group.trials]
        for metric in (*group.categories, *SUMMARY):
            stat = aggregate(values.get(metric) for values in best)
            if stat is None:
                continue
            metrics[f"{key}/{metric}"] = round(stat.mean, DIGITS)
            if stat.std is not None:
                metrics[f"{key}/{metric}{names.STD_SUFFIX}"] = round(stat.std, DIGITS)
    parts = [f"### {title}", *(f"**{line}**" for line in headline(groups))]
    for dataset in datasets(groups):
        in_dataset = [group for group in groups if dataset_of(group) == dataset]
        table = accuracy_table(dataset, in_dataset, [b for b in befores if dataset_of(b) == dataset])
        section = [f"#### {table.title}", markdown_table(table), *(f"_{note}_" for note in table.notes)]
        if len(SEPARATOR.join([*parts, *section, footer])) > MAX_DESCRIPTION_CHARS:
            parts.append("_More tables than a description holds: see the report._")
            break
        parts += section
    return Summary(metrics, SEPARATOR.join([*parts, *([footer] if footer else [])]) + "\n")
