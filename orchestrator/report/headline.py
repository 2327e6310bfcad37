"""The report's result in one line per dataset, and short names for its rows (driver side, pure).

The line is what a reader looks for first: backward accuracy per method (the reversal curse, or
its fix), then forward, at the best checkpoint, mean over seeds. Rows are named by their method
and only what tells rows of one method apart (`masked lr 0.001`); those names also key the
per-group metrics on a sweep's parent run.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.report.grouping import Group, aggregate, display_value, varies_within_method, varying_fields
from orchestrator.report.tables import dataset_of, datasets

PLAIN_FIELDS = ("dataset", "paraphrase")
"""Named by their value alone (`bio same-order`); other fields by name and value (`lr 0.001`)."""
DIRECTIONS = (("bwd", "backward"), ("fwd", "forward"))


def group_labels(groups: Sequence[Group]) -> list[str]:
    """Each group's method, then each field that takes two values within one method."""
    varying = varying_fields(groups, exclude=("method",))
    swept = [name for name in varying if varies_within_method(groups, name)]
    fields = [name for name in PLAIN_FIELDS if name in swept] + [n for n in swept if n not in PLAIN_FIELDS]
    labels = []
    for group in groups:
        parts = [group.value("method")]
        for name in fields:
            value = display_value(name, group.value(name))
            parts.append(value if name in PLAIN_FIELDS else f"{name} {value}")
        labels.append(" ".join(parts))
    return labels


def headline(groups: Sequence[Group]) -> list[str]:
    """One line per dataset: backward, then forward accuracy of every group at its best checkpoint."""
    labels = dict(zip(map(id, groups), group_labels(groups), strict=True))
    lines = []
    for dataset in datasets(groups):
        in_dataset = [group for group in groups if dataset_of(group) == dataset]
        parts = []
        for metric, direction in DIRECTIONS:
            values = []
            for group in in_dataset:
                stat = aggregate(trial.best().get(metric) for trial in group.trials)
                values.append(f"{labels[id(group)]} {stat.mean:.2f}" if stat else f"{labels[id(group)]} –")
            parts.append(f"{direction} {', '.join(values)}")
        seeds = sorted({len(group.trials) for group in in_dataset})
        count = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
        count += " seed" if count == "1" else " seeds"
        lines.append(f"{dataset}: {'; '.join(parts)} (best checkpoint, mean of {count})")
    return lines
