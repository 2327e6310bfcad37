"""Grouping trials into table rows and averaging their seeds (driver side, pure).

A group is every trial with the same configuration except the seed (and the bookkeeping fields
that say where a run lives, not what it does). `scoring` is part of the configuration, so runs
scored by different rules are never averaged together.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.report.trials import DEFAULT_SCORING, Trial
from training.knowledge import PARAPHRASES
from training.method_registry import method_names

BOOKKEEPING = ("run_id", "extra_tags", "data_dir")
IGNORED = ("seed", *BOOKKEEPING)
# What decides the step-0 ("before fine-tuning") evaluation: the model, the questions and how they
# are answered and scored, not how training would go on.
BEFORE_FIELDS = (
    "dataset",
    "model",
    "scoring",
    "precision",
    "max_new_tokens",
    "block_length",
    "eval_limit",
    "trust_remote_code",
    "mask_token",
)
ROW_FIELDS = ("method", "paraphrase", "scoring")
"""Always shown; other configuration fields are shown when they vary."""


@dataclass(frozen=True)
class Group:
    """Trials that differ only in their seed: one table row."""

    key: tuple[tuple[str, str], ...]
    trials: tuple[Trial, ...]

    def value(self, name: str) -> str:
        return dict(self.key).get(name, "")

    @property
    def running(self) -> int:
        return sum(trial.status == "RUNNING" for trial in self.trials)

    @property
    def categories(self) -> tuple[str, ...]:
        return self.trials[0].categories


@dataclass(frozen=True)
class Stat:
    """Mean ± sample standard deviation (ddof 1) over seeds; no std with fewer than 2."""

    mean: float
    std: float | None
    n: int


def aggregate(values: Iterable[float | None]) -> Stat | None:
    present = [value for value in values if value is not None and math.isfinite(value)]
    if not present:
        return None
    std = statistics.stdev(present) if len(present) >= 2 else None
    return Stat(statistics.fmean(present), std, len(present))


def ignored(param: str) -> bool:
    """Bookkeeping, seeds and the data fingerprint (`data.*`, decided by dataset and paraphrase)."""
    return param in IGNORED or param.startswith("data.")


def group_key(trial: Trial, fields: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
    params = {"scoring": DEFAULT_SCORING, **trial.params}
    names = fields if fields is not None else [k for k in params if not ignored(k)]
    return tuple(sorted((name, params.get(name, "")) for name in names))


def group_trials(trials: Iterable[Trial]) -> list[Group]:
    """One group per configuration-minus-seed, in table order (dataset, paraphrase, method, rest)."""
    return _groups(trials, None)


def before_groups(trials: Iterable[Trial]) -> list[Group]:
    """Step-0 evaluations grouped by what decides them: one "before fine-tuning" row per model."""
    return _groups((t for t in trials if t.curves["total"].at(0) is not None), BEFORE_FIELDS)


def _groups(trials: Iterable[Trial], fields: Sequence[str] | None) -> list[Group]:
    members: dict[tuple[tuple[str, str], ...], list[Trial]] = {}
    for trial in trials:
        members.setdefault(group_key(trial, fields), []).append(trial)
    groups = [Group(key, tuple(sorted(found, key=_seed_order))) for key, found in members.items()]
    return sorted(groups, key=_group_order)


def varying_fields(groups: Sequence[Group], exclude: Iterable[str] = ()) -> list[str]:
    """Configuration fields whose value differs between the groups that have one (sorted), minus
    `exclude`: `ar` runs log no mask ratio, which does not make the mask ratio a varying field."""
    skip = set(exclude)
    values: dict[str, set[str]] = {}
    for group in groups:
        for name, value in group.key:
            values.setdefault(name, set()).add(value)
    return [name for name in sorted(set(values) - skip) if len(values[name]) > 1]


def varies_within_method(groups: Sequence[Group], name: str) -> bool:
    """Whether some method has two values of `name`: a variable of the sweep, not of the method."""
    per_method: dict[str, set[str]] = {}
    for group in groups:
        per_method.setdefault(group.value("method"), set()).add(group.value(name))
    return any(len(values) > 1 for values in per_method.values())


def display_value(name: str, value: str) -> str:
    """A param as a reader wants it: `U(0.05, 0.95)` for a sampled mask ratio, a model's folder name."""
    if name == "mask_ratio" and "," in value:
        lo, hi = (display_value("", part) for part in value.split(",", 1))
        return lo if lo == hi else f"U({lo}, {hi})"
    if name in ("model", "dataset") and "/" in value:
        return Path(value).name or value
    if numeric(value) is not None and any(c in value for c in ".e"):
        return format(float(value), ".6g")  # 1.5000000000000002e-05 → 1.5e-05
    return value


def numeric(value: str) -> float | None:
    """A param's number (a fixed mask ratio counts as its value), else None."""
    text = value.split(",")[0] if "," in value and len(set(value.split(","))) == 1 else value
    try:
        return float(text)
    except ValueError:
        return None


def _seed_order(trial: Trial) -> tuple[float, str]:
    seed = numeric(trial.seed)
    return (seed if seed is not None else math.inf, trial.name)


def _rank(items: Sequence[str], value: str) -> int:
    return items.index(value) if value in items else len(items)


def _group_order(group: Group) -> tuple:
    rest = tuple(
        (numeric(value) if numeric(value) is not None else math.inf, value)
        for name, value in group.key
        if name not in ("dataset", "paraphrase", "method")
    )
    return (
        display_value("dataset", group.value("dataset")),
        _rank(PARAPHRASES, group.value("paraphrase")),
        _rank(method_names(), group.value("method")),
        group.value("method"),
        rest,
    )
