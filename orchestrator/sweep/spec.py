"""The sweep spec format: YAML data → a checked `SweepSpec` (driver side, pure).

A spec (`sweeps/*.yaml`, or the user's own file) has these keys, all data:
    kind, description
    methods:    [ar, masked, dllm]                       the methods to run
    datasets:   [namedesc]                               knowledge sets (default namedesc)
    models:     {method: hub-id | {name: hub-id, trust_remote_code: true}}   replaces the method's
                                                         paper model (training/method_registry.py)
    fixed:      {field: value}                           any TrialConfig field, every trial
    grid:       {field: [values]}                        cartesian product; `paraphrase: all` =
                                                         every condition the dataset has
    per_method: {method: {fixed: {...}, grid: {...}}}    replace the top-level values for a method
    schedules:  {dataset: {paraphrase: {epochs: N, eval_at: [...], METHOD: {...}}}}  see
                                                         orchestrator/schedules.py
A trial file (`orchestrator.trial.trial_file`: TrialConfig fields only, as `mft train --config` reads)
is a spec of that one trial.
Unknown keys and fields, malformed YAML, empty or repeated grids and mistyped values are refused
with one line naming the key and the file. How a spec becomes trials: `orchestrator.sweep.expansion`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from orchestrator.trial.schedules import Schedules, parse_schedules
from orchestrator.trial.settings import check_field, coerce_field
from orchestrator.trial.trial_file import is_trial_mapping, trial_values
from training.errors import InputError, excerpt
from training.method_registry import method_info
from training.method_registry import method_names as registered_methods
from training.yaml_text import read_yaml_file

SPEC_KEYS = (
    "kind",
    "description",
    "methods",
    "datasets",
    "models",
    "fixed",
    "grid",
    "per_method",
    "schedules",
)
# TrialConfig fields that have a key of their own in a spec (or none at all).
OWN_KEYS = {"method": "methods:", "dataset": "datasets:", "run_id": "nothing (the driver sets it)"}
ALL_CONDITIONS = "all"


@dataclass(frozen=True)
class ModelChoice:
    """A method's default model; remote code is trusted for this model only (LLaDA needs it)."""

    name: str
    trust_remote_code: bool = False


@dataclass(frozen=True)
class MethodValues:
    """A method's own fixed values and grid, replacing the spec's top-level ones for that method."""

    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, type-checked spec; `expand` turns it into trials."""

    kind: str
    description: str
    methods: tuple[str, ...]
    datasets: tuple[str, ...] = ("namedesc",)
    models: dict[str, ModelChoice] = field(default_factory=dict)
    """Only the methods whose model the spec chooses; see `model_for`."""
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    per_method: dict[str, MethodValues] = field(default_factory=dict)
    schedules: Schedules = field(default_factory=dict)
    """The spec's own schedules, checked before the paper's; see orchestrator/schedules.py."""
    source: str = ""
    """The file it came from, for error messages."""

    def model_for(self, method: str) -> ModelChoice:
        """The spec's model for `method`, else the one the paper fine-tunes with that method."""
        if method in self.models:
            return self.models[method]
        info = method_info(method)
        return ModelChoice(info.paper_model, info.trusts_remote_code)


def shipped_specs() -> list[SweepSpec]:
    """Every spec in the `sweeps` package, by file name."""
    return [load_spec(name) for name in _shipped_files()]


def load_spec(kind_or_path: str) -> SweepSpec:
    """A shipped kind (`lr`, `paper`, ...) or the path of a user YAML file."""
    shipped = _shipped_files()
    if kind_or_path in shipped:
        return _parse_file(shipped[kind_or_path], f"sweeps/{kind_or_path}.yaml")
    path = Path(kind_or_path).expanduser()
    if path.is_file():
        return _parse_file(path, str(path))
    if path.suffix in (".yaml", ".yml") or "/" in kind_or_path:
        raise InputError(f"sweep spec file {path} not found; check the path")
    raise InputError(
        f"unknown sweep kind {excerpt(kind_or_path)}; shipped: {', '.join(shipped)};"
        " or give the path of a YAML spec"
    )


def _shipped_files() -> dict[str, Any]:
    folder = resources.files("sweeps")
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".yaml")), key=str)
    return {entry.name.removesuffix(".yaml"): entry for entry in files}


def _parse_file(path: Any, source: str) -> SweepSpec:
    data = read_yaml_file(Path(str(path)), source)
    if not isinstance(data, dict):
        raise InputError(f"{source}: a sweep spec is a YAML mapping of {', '.join(SPEC_KEYS)}")
    if is_trial_mapping(data):
        return trial_spec(trial_values(data, source), source, Path(str(path)).stem)
    return parse_spec(data, source, default_kind=Path(str(path)).stem)


def trial_spec(values: dict[str, Any], source: str, kind: str) -> SweepSpec:
    """A trial file (`mft train --config`'s format) as a sweep of that one trial."""
    fixed = dict(values)
    method, dataset = fixed.pop("method", "masked"), fixed.pop("dataset", "namedesc")
    return SweepSpec(
        kind=kind,
        description=f"the trial of {source}",
        methods=method_names(method, f"{source}: method"),
        datasets=(dataset,),
        fixed=fixed,
        source=source,
    )


def parse_spec(data: Mapping[str, Any], source: str, default_kind: str) -> SweepSpec:
    """Check every key and value of a spec's YAML data; one line per mistake, naming it and the file."""
    unknown = [key for key in data if key not in SPEC_KEYS]
    if unknown:
        raise InputError(f"{source}: unknown key {excerpt(unknown[0])}; valid keys: {', '.join(SPEC_KEYS)}")
    if "methods" not in data:
        raise InputError(f"{source}: missing key 'methods', e.g. methods: [ar, masked, dllm]")
    models = _mapping(data, "models", source)
    per_method = _mapping(data, "per_method", source)
    spec = SweepSpec(
        kind=str(data.get("kind") or default_kind),
        description=str(data.get("description") or ""),
        methods=method_names(data["methods"], f"{source}: methods"),
        datasets=tuple(name_list(data.get("datasets", ["namedesc"]), f"{source}: datasets")),
        models={
            method: _model(models[method], f"{source}: models.{method}")
            for method in method_names(list(models), f"{source}: models", allow_empty=True)
        },
        fixed=_fixed(_mapping(data, "fixed", source), f"{source}: fixed"),
        grid=_grid(_mapping(data, "grid", source), f"{source}: grid"),
        per_method={
            method: _method_values(per_method[method], f"{source}: per_method.{method}")
            for method in method_names(list(per_method), f"{source}: per_method", allow_empty=True)
        },
        schedules=parse_schedules(_mapping(data, "schedules", source), f"{source}: schedules"),
        source=source,
    )
    _disjoint(spec, source)
    for method, values in spec.per_method.items():
        _disjoint(values, f"{source}: per_method.{method}")
    return spec


def _mapping(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: {key} must be a mapping (key: value lines), got {excerpt(value)}")
    return value


def name_list(value: Any, where: str) -> list[str]:
    """One name or a non-empty list of names (datasets, methods), as YAML or a flag gives them."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, str) and item for item in values):
        raise InputError(f"{where}: expected a name or a non-empty list of names, got {excerpt(value)}")
    return values


def method_names(value: Any, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    """Registered method names, first occurrence kept; an unknown one lists the valid ones."""
    methods = [] if allow_empty and value == [] else name_list(value, where)
    for method in methods:
        if method not in registered_methods():
            raise InputError(
                f"{where}: unknown method {excerpt(method)}; choose from {', '.join(registered_methods())}"
            )
    return tuple(dict.fromkeys(methods))


def _model(value: Any, where: str) -> ModelChoice:
    if isinstance(value, str) and value:
        return ModelChoice(value)
    if isinstance(value, dict) and set(value) <= {"name", "trust_remote_code"} and "name" in value:
        return ModelChoice(
            coerce_field("model", value["name"], where),
            coerce_field("trust_remote_code", value.get("trust_remote_code", False), where),
        )
    raise InputError(
        f"{where}: expected a model id or {{name: ..., trust_remote_code: true}}, got {excerpt(value)}"
    )


def _check_key(key: Any, where: str) -> str:
    if key in OWN_KEYS:
        raise InputError(f"{where}: {key} is not set here; use {OWN_KEYS[key]}")
    return check_field(key, where)


def spec_value(key: str, value: Any, where: str) -> Any:
    """A field's value from a spec or `--set`; `paraphrase: all` stays as is (one trial per condition)."""
    if key == "paraphrase" and value == ALL_CONDITIONS:
        return value
    return coerce_field(key, value, where)


def _fixed(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {_check_key(key, where): spec_value(key, value, f"{where}.{key}") for key, value in values.items()}


def _grid(values: Mapping[str, Any], where: str) -> dict[str, tuple[Any, ...]]:
    grid: dict[str, tuple[Any, ...]] = {}
    for key, items in values.items():
        _check_key(key, where)
        if key == "paraphrase" and items in (ALL_CONDITIONS, [ALL_CONDITIONS]):
            grid[key] = (ALL_CONDITIONS,)
            continue
        if not isinstance(items, list) or not items:
            raise InputError(f"{where}.{key}: a grid needs a non-empty list of values, got {excerpt(items)}")
        grid[key] = tuple(coerce_field(key, item, f"{where}.{key}") for item in items)
        if len(set(map(repr, grid[key]))) < len(grid[key]):
            raise InputError(f"{where}.{key}: the grid repeats a value: {excerpt(items)}")
    return grid


def _method_values(values: Any, where: str) -> MethodValues:
    if not isinstance(values, dict) or not set(values) <= {"fixed", "grid"}:
        raise InputError(f"{where}: expected fixed: and/or grid: mappings, got {excerpt(values)}")
    return MethodValues(
        _fixed(_mapping(values, "fixed", where), f"{where}.fixed"),
        _grid(_mapping(values, "grid", where), f"{where}.grid"),
    )


def _disjoint(values: MethodValues | SweepSpec, where: str) -> None:
    both = sorted(set(values.fixed) & set(values.grid))
    if both:
        raise InputError(f"{where}: {both[0]} is both fixed and in the grid; keep one")
