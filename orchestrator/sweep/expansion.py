"""Sweep expansion: a `SweepSpec` plus the command line's overrides → planned trials (driver side, pure).

A trial's values are layered, later wins: the method's model → fixed → per_method.fixed → its grid
point → `--tiny` → `--model/--workers/--gpus-per-worker/--set`. A layer that sets `epochs` without
`eval_at` resets `eval_at` to doubling epochs; one that sets `model` without `trust_remote_code`
resets it to false (remote code is trusted only for the model it was granted to). When nothing
sets `epochs`, the spec's schedule for the trial's dataset x paraphrase x method applies, else the
paper's (`orchestrator.trial.schedules`), else TrialConfig's defaults (`build_trial_config`). Every
trial's TrialConfig is built here, so the whole sweep is validated before anything runs.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.sweep.spec import (
    ALL_CONDITIONS,
    MethodValues,
    SweepSpec,
    method_names,
    name_list,
    spec_value,
)
from orchestrator.trial.settings import FIELD_NAMES, build_trial_config, check_field, trial_name
from training.config import TrialConfig
from training.errors import InputError, excerpt
from training.knowledge import byo_folder, find_dataset
from training.knowledge_folder import byo_conditions
from training.method_registry import method_info
from training.yaml_text import parse_yaml

PAIRED = {"epochs": "eval_at", "model": "trust_remote_code"}
VARYING_FIRST = ("method", "dataset", "paraphrase")  # the trial table's first columns
# --tiny: a sweep a laptop finishes: 2 CPU workers, small batches, 4 epochs, short answers.
TINY_VALUES: dict[str, Any] = {
    "workers": 2,
    "gpus_per_worker": 0.0,
    "batch_size": 4,
    "epochs": 4,
    "eval_at": (0, 1, 2, 4),
    "max_new_tokens": 16,
    "eval_batch_size": 32,
}


@dataclass(frozen=True)
class Overrides:
    """What the `mft sweep` flags change in a spec; `sets` are `key=value` with YAML values."""

    dataset: str | None = None
    methods: tuple[str, ...] = ()
    model: str | None = None
    sets: tuple[str, ...] = ()
    workers: int | None = None
    gpus_per_worker: float | None = None
    tiny_models: dict[str, str] | None = None
    """Arch ("causal", "bidirectional") → local tiny model, from --tiny; see TINY_VALUES."""


@dataclass(frozen=True)
class PlannedTrial:
    """One row of the sweep: what Tune runs, under a name that stays the same on resume."""

    trial_id: str
    config: TrialConfig
    varying: dict[str, Any]
    """The fields whose values differ across the sweep, with this trial's values."""


@dataclass(frozen=True)
class _Dataset:
    value: str  # what TrialConfig.dataset gets: canonical name, or the folder's absolute path
    key: str  # how errors name it
    conditions: tuple[str, ...]  # its paraphrase conditions, for `paraphrase: all`


def _dataset(name: str) -> _Dataset:
    folder = byo_folder(name)
    if folder is not None:
        return _Dataset(str(folder.resolve()), folder.name, byo_conditions(folder))
    spec = find_dataset(name)
    return _Dataset(spec.name, spec.name, tuple(spec.train_files))


def expand(spec: SweepSpec, overrides: Overrides) -> list[PlannedTrial]:
    """Every trial of `spec` under `overrides`, each a constructed TrialConfig: the whole sweep is
    validated before anything runs. Order: dataset, method, then the grid in the spec's order."""
    layer, datasets, methods = _override_layer(overrides)
    configs: list[TrialConfig] = []
    for dataset in map(_dataset, datasets or spec.datasets):
        for method in methods or spec.methods:
            configs.extend(_method_trials(spec, dataset, method, layer, overrides.tiny_models))
    return _planned(configs)


def _override_layer(overrides: Overrides) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """The flags and `--set`s as one layer of values, plus the datasets and methods they choose."""
    if overrides.model is not None and overrides.tiny_models is not None:
        raise InputError("conflicting overrides: --model and --tiny both choose the models; give one")
    sets = _parse_sets(overrides.sets)
    flags = {
        "dataset": overrides.dataset,
        "method": list(overrides.methods) or None,
        "model": overrides.model,
        "workers": overrides.workers,
        "gpus_per_worker": overrides.gpus_per_worker,
    }
    flags = {key: value for key, value in flags.items() if value is not None}
    clash = [key for key in sets if key in flags]
    if clash:
        flag = "--" + clash[0].replace("_", "-")
        raise InputError(
            f"conflicting overrides: --set {clash[0]}=... and {flag} both set {clash[0]}; give one"
        )
    values = {**flags, **sets}
    datasets = tuple(name_list(values.pop("dataset"), "--dataset")) if "dataset" in values else ()
    methods = method_names(values.pop("method"), "--method") if "method" in values else ()
    layer = {key: spec_value(key, value, f"--set {key}") for key, value in values.items()}
    return layer, datasets, methods


def _parse_sets(sets: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"--set {excerpt(item)}: expected key=value, e.g. --set lr=1e-5 or --set eval_at=[0,2,4]"
            )
        if key == "run_id":
            raise InputError("--set run_id: the driver sets each trial's MLflow run id")
        check_field(key, "--set")
        if key in values:
            raise InputError(f"conflicting overrides: --set {key} given twice; keep one")
        values[key] = parse_yaml(text, f"--set {key}")
    return values


def _method_trials(
    spec: SweepSpec, dataset: _Dataset, method: str, layer: dict[str, Any], tiny: dict[str, str] | None
) -> list[TrialConfig]:
    """One method's grid on one dataset; overridden fields leave the grid (they are fixed)."""
    own = spec.per_method.get(method, MethodValues())
    per_method_axes = sorted({key for values in spec.per_method.values() for key in values.grid} - set(layer))
    if per_method_axes and method not in spec.methods and method not in spec.per_method:
        raise InputError(
            f"sweep {spec.kind} varies {', '.join(per_method_axes)} per method and has no values for"
            f" {method} (it has: {', '.join(spec.per_method)}); fix them with --set or write a user spec"
        )
    top_grid = {key: values for key, values in spec.grid.items() if key not in own.fixed}
    grid = {key: values for key, values in {**top_grid, **own.grid}.items() if key not in layer}
    choice = spec.model_for(method)
    model: dict[str, Any] = {"model": choice.name}
    if choice.trust_remote_code:
        model["trust_remote_code"] = True
    tiny_layer = _tiny_layer(method, tiny, set(grid)) if tiny is not None else {}
    configs = []
    for point in itertools.product(*grid.values()):
        values: dict[str, Any] = {"method": method}
        for part in (model, spec.fixed, own.fixed, dict(zip(grid, point, strict=True)), tiny_layer, layer):
            _apply(values, part)
        paraphrase = values.get("paraphrase", "none")
        for condition in dataset.conditions if paraphrase == ALL_CONDITIONS else (paraphrase,):
            configs.append(_config(spec, dataset, {**values, "paraphrase": condition}))
    return configs


def _apply(values: dict[str, Any], layer: Mapping[str, Any]) -> None:
    """Layer `layer` over `values`; a key set without its partner drops the partner (see PAIRED)."""
    for key, partner in PAIRED.items():
        if key in layer and partner not in layer:
            values.pop(partner, None)
    values.update(layer)


def _tiny_layer(method: str, tiny: Mapping[str, str], gridded: set[str]) -> dict[str, Any]:
    """Tiny local models and laptop-sized values, except for the fields the sweep varies."""
    arch = "bidirectional" if method_info(method).bidirectional else "causal"
    if arch not in tiny:
        raise InputError(f"--tiny has no {arch} model, which method {method} needs")
    drop = gridded | {PAIRED[key] for key in gridded if key in PAIRED}
    drop |= {key for key, partner in PAIRED.items() if partner in gridded}
    return {key: value for key, value in {"model": tiny[arch], **TINY_VALUES}.items() if key not in drop}


def _config(spec: SweepSpec, dataset: _Dataset, values: dict[str, Any]) -> TrialConfig:
    """The trial's TrialConfig; its schedule from the spec, else the paper's, else TrialConfig's."""
    if values["paraphrase"] not in dataset.conditions:
        raise InputError(
            f"sweep {spec.kind}: {dataset.key} has no {values['paraphrase']!r} paraphrase condition (it has"
            f" {', '.join(dataset.conditions)}); choose one with --set paraphrase=..."
        )
    try:
        return build_trial_config({**values, "dataset": dataset.value}, spec.schedules)
    except InputError as exc:
        raise InputError(f"sweep {spec.kind}: {exc}") from exc


def _planned(configs: list[TrialConfig]) -> list[PlannedTrial]:
    """Ids from `trial_name`, extended by the varying fields that tell same-named trials apart."""
    rows = [config.to_dict() for config in configs]
    columns = (*VARYING_FIRST, *(name for name in FIELD_NAMES if name not in VARYING_FIRST))
    varying = [key for key in columns if len({repr(row[key]) for row in rows}) > 1]
    names = [trial_name(config) for config in configs]
    counts = Counter(names)
    ids = []
    for name, row in zip(names, rows, strict=True):
        if counts[name] > 1:
            group = [other for other, other_name in zip(rows, names, strict=True) if other_name == name]
            differing = [key for key in varying if len({repr(other[key]) for other in group}) > 1]
            name += "".join(f"_{_id_part(key, row[key])}" for key in differing)
        ids.append(name)
    repeated = [trial_id for trial_id, count in Counter(ids).items() if count > 1]
    if repeated:
        raise InputError(f"the sweep holds identical trials ({repeated[0]}); remove the repeated values")
    return [
        PlannedTrial(trial_id, config, {key: row[key] for key in varying})
        for trial_id, config, row in zip(ids, configs, rows, strict=True)
    ]


def _id_part(key: str, value: Any) -> str:
    """`batch_size8`, `modelLlama-3.1-8B-Instruct`: readable and safe in paths and Ray names."""
    if isinstance(value, tuple):
        text = "-".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str):
        text = Path(value).name
    else:
        text = str(value).lower()
    return re.sub(r"[^\w.+-]", "-", f"{key}{text}")
