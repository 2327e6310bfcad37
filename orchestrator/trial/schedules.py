"""Training schedules: how many epochs a trial runs and when it is evaluated (driver side, pure).

The paper counts training in epochs over its small document sets and evaluates at a roughly
geometric list of epochs, 0 (before any update) included. The authors' scripts give one schedule
per dataset x paraphrase condition, and a few per method where their scripts differ; that table
lives as data in `sweeps/paper.yaml` (`schedules:`) and is the default of `mft train` and of every
sweep spec that gives no schedule of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from training.errors import InputError, excerpt
from training.knowledge import PARAPHRASES, find_dataset
from training.method_registry import method_names
from training.yaml_text import parse_yaml

PAPER_SPEC = "paper.yaml"
SCHEDULE_KEYS = ("epochs", "eval_at")


@dataclass(frozen=True)
class Schedule:
    """How long a trial trains and when it is evaluated (epochs; 0 = before training)."""

    epochs: int
    eval_at: tuple[int, ...]


# (dataset key, paraphrase, method or None for every method) → schedule.
Schedules = dict[tuple[str, str, str | None], Schedule]


def default_eval_epochs(epochs: int) -> tuple[int, ...]:
    """0, then doubling epochs, then the last one: the shape of the paper's schedules."""
    points, epoch = [0], 1
    while epoch < epochs:
        points.append(epoch)
        epoch *= 2
    return (*points, epochs)


def find_schedule(schedules: Schedules, dataset: str, paraphrase: str, method: str) -> Schedule | None:
    """The method's own schedule for a dataset x paraphrase, else the one for every method."""
    key = schedule_key(dataset)
    return schedules.get((key, paraphrase, method)) or schedules.get((key, paraphrase, None))


def paper_schedule(dataset: str, paraphrase: str, method: str) -> Schedule | None:
    """The authors' schedule for this trial, or None for a set the paper never trained on."""
    return find_schedule(paper_schedules(), dataset, paraphrase, method)


@functools.lru_cache(maxsize=1)
def paper_schedules() -> Schedules:
    source = f"sweeps/{PAPER_SPEC}"
    data = parse_yaml(resources.files("sweeps").joinpath(PAPER_SPEC).read_text(encoding="utf-8"), source)
    return parse_schedules(data.get("schedules") or {}, f"{source}: schedules")


def parse_schedules(values: Mapping[str, Any], where: str) -> Schedules:
    """`{dataset: {paraphrase: {epochs: N, eval_at: [...], METHOD: {epochs: N, eval_at: [...]}}}}`."""
    schedules: Schedules = {}
    if not isinstance(values, Mapping):
        raise InputError(f"{where}: expected dataset: {{paraphrase: {{epochs: N, eval_at: [...]}}}}")
    for dataset, conditions in values.items():
        if not isinstance(conditions, Mapping):
            raise InputError(f"{where}.{dataset}: expected paraphrase: {{epochs: N, eval_at: [...]}}")
        for paraphrase, entry in conditions.items():
            here = f"{where}.{dataset}.{paraphrase}"
            if paraphrase not in PARAPHRASES:
                raise InputError(
                    f"{here}: unknown paraphrase condition; choose from {', '.join(PARAPHRASES)}"
                )
            if not isinstance(entry, Mapping):
                raise InputError(f"{here}: expected {{epochs: N, eval_at: [...]}}, got {excerpt(entry)}")
            key = schedule_key(str(dataset))
            own = {name: value for name, value in entry.items() if name not in SCHEDULE_KEYS}
            for method in own:
                if method not in method_names():
                    raise InputError(
                        f"{here}: unknown key {method!r}; expected epochs, eval_at or a method"
                        f" ({', '.join(method_names())})"
                    )
            schedules[(key, paraphrase, None)] = _schedule(entry, here)
            for method, value in own.items():
                schedules[(key, paraphrase, method)] = _schedule(value, f"{here}.{method}")
    return schedules


def _schedule(entry: Any, where: str) -> Schedule:
    if not (isinstance(entry, Mapping) and "epochs" in entry):
        raise InputError(f"{where}: expected {{epochs: N, eval_at: [...]}}, got {excerpt(entry)}")
    epochs = entry["epochs"]
    if type(epochs) is not int or epochs < 1:
        raise InputError(f"{where}: epochs must be a whole number >= 1, got {excerpt(epochs)}")
    eval_at = entry.get("eval_at")
    if eval_at is None:
        return Schedule(epochs, default_eval_epochs(epochs))
    whole = isinstance(eval_at, list) and all(type(epoch) is int for epoch in eval_at)
    if not whole:
        raise InputError(f"{where}: eval_at must be a list of whole epochs, got {excerpt(eval_at)}")
    return Schedule(epochs, tuple(eval_at))


def schedule_key(dataset: str) -> str:
    """Registered sets by canonical name (aliases too); bring-your-own ones by folder name."""
    try:
        return find_dataset(dataset).name
    except InputError:
        return Path(dataset).name
