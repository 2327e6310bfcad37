"""From what the user wrote (flags, YAML) to a `TrialConfig`, one way for every command (driver, pure).

`mft train`, `mft bench training` and every trial of a sweep go through `build_trial_config`, so
paths are made absolute (workers resolve them in their own directories) and schedules default
the same way everywhere: the given epochs and eval points, else the schedule table (a sweep
spec's own, then the paper's for the dataset x paraphrase x method), else TrialConfig's.

Values written loosely (PyYAML reads `1e-5` as a string, a fixed mask ratio is naturally written
`0.5`, flags arrive as text) become exactly what `TrialConfig` takes, by the field's annotation,
or are refused with one line naming the field and where it was written. Ranges are left to
`TrialConfig` itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.trial.schedules import Schedules, default_eval_epochs, find_schedule, paper_schedules
from training.config import TrialConfig
from training.errors import InputError, excerpt
from training.knowledge import byo_folder, dataset_prompt_style, resolve_data_dir


def parse_mask_ratio(text: str) -> tuple[float, float]:
    """`0.75` (fixed t) or `0.05:0.95` (t drawn per optimizer step)."""
    try:
        parts = [float(part) for part in text.split(":")]
    except ValueError as exc:
        raise InputError(
            f"--mask-ratio {excerpt(text)} is not a number or LO:HI range, e.g. 0.75 or 0.05:0.95"
        ) from exc
    if len(parts) not in (1, 2):
        raise InputError(f"--mask-ratio {excerpt(text)}: give one value (fixed t) or LO:HI")
    return (parts[0], parts[-1])


def parse_epochs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise InputError(f"--eval-at {excerpt(text)} must be comma-separated epochs, e.g. 0,1,2,4,8") from exc


def parse_betas(text: str) -> tuple[float, float]:
    """`0.9,0.95`: AdamW's two betas."""
    try:
        first, second = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise InputError(f"--betas {excerpt(text)} must be two numbers B1,B2, e.g. 0.9,0.95") from exc
    return (first, second)


def absolute_model(model: str) -> str:
    """A local model folder as an absolute path; a hub id unchanged."""
    path = Path(model).expanduser()
    try:
        return str(path.resolve()) if path.exists() else model
    except OSError:  # a name too long for the filesystem: the model check says so in one line
        return model


def absolute_dataset(dataset: str) -> str:
    """A bring-your-own folder as an absolute path; a registered name unchanged."""
    folder = byo_folder(dataset)
    return str(folder.resolve()) if folder else dataset


def build_trial_config(values: Mapping[str, Any], schedules: Schedules | None = None) -> TrialConfig:
    """The TrialConfig of `values` (TrialConfig fields; None = not given), defaults filled in."""
    given = {key: value for key, value in values.items() if value is not None}
    if "model" not in given:
        raise InputError("no model given; pass --model (a folder or a hub id)")
    given["model"] = absolute_model(given["model"])
    given["dataset"] = absolute_dataset(given.get("dataset", "namedesc"))
    if byo_folder(given["dataset"]) is None:
        data_dir = given.get("data_dir")
        given["data_dir"] = str(resolve_data_dir(Path(data_dir) if data_dir else None).resolve())
    else:
        given.pop("data_dir", None)  # a folder holds its own files; the paper files' folder plays no part
    given.setdefault("prompt_style", dataset_prompt_style(given["dataset"]))
    if "epochs" not in given:
        paraphrase, method = given.get("paraphrase", "none"), given.get("method", "masked")
        schedule = find_schedule(schedules or {}, given["dataset"], paraphrase, method) or find_schedule(
            paper_schedules(), given["dataset"], paraphrase, method
        )
        if schedule is not None:
            given = {"epochs": schedule.epochs, "eval_at": schedule.eval_at, **given}
    elif "eval_at" not in given:
        given["eval_at"] = default_eval_epochs(given["epochs"])
    return TrialConfig(**given)


def trial_name(config: TrialConfig) -> str:
    """A readable name from what usually differs between trials: method, model, data, lr, t, seed."""
    lo, hi = config.mask_ratio
    ratio = f"t{lo:g}" if config.fixed_mask_ratio else f"t{lo:g}-{hi:g}"
    model = Path(config.model.rstrip("/")).name
    parts = [config.method, model, Path(config.dataset).name, config.paraphrase, f"lr{config.lr:g}"]
    if config.method != "ar":
        parts.append(ratio)
    return "_".join([*parts, f"seed{config.seed}"])


def trial_id(config: TrialConfig, storage: str = "") -> str:
    """`trial_name` + a hash of the configuration and storage: the same command finds its run again."""
    digest = hashlib.sha256((config.replace(run_id="").to_json() + storage).encode()).hexdigest()[:8]
    return f"{trial_name(config)}-{digest}"


def parse_flags(given: dict[str, Any]) -> dict[str, Any]:
    """The flags written as text (--eval-at, --mask-ratio, --betas) as TrialConfig values."""
    parsers = {"eval_at": parse_epochs, "mask_ratio": parse_mask_ratio, "betas": parse_betas}
    return {key: parsers[key](value) if key in parsers else value for key, value in given.items()}


FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(TrialConfig))
_HINTS = typing.get_type_hints(TrialConfig)


def check_field(name: object, where: str) -> str:
    """`name` if it is a TrialConfig field; else one line with the closest valid name."""
    if isinstance(name, str) and name in FIELD_NAMES:
        return name
    close = difflib.get_close_matches(str(name), FIELD_NAMES, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(FIELD_NAMES)}"
    raise InputError(f"{where}: unknown trial field {excerpt(name)}; {hint}")


def coerce_field(name: str, value: Any, where: str) -> Any:
    """`value` converted to the type of TrialConfig field `name` (tuples for lists, floats for `1e-5`)."""
    hint = _HINTS[name]
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise InputError(f"{where}: {name} needs a value, got null")
    base = next(option for option in options if option is not type(None))
    if name == "mask_ratio":
        return _mask_ratio(value, where)
    origin = typing.get_origin(base)
    if origin is tuple:
        return _tuple(name, value, typing.get_args(base), where)
    if origin is dict:
        if isinstance(value, dict) and all(isinstance(v, str | int | float) for v in value.values()):
            return {str(key): str(item) for key, item in value.items()}
        raise InputError(f"{where}: {name} must be a mapping of names to strings, got {excerpt(value)}")
    return _scalar(name, value, base, where)


def _scalar(name: str, value: Any, kind: type, where: str) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and number and float(value).is_integer():
        return int(value)
    if kind is float and number:
        return float(value)
    if kind is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if kind is str and (isinstance(value, str) or (number and isinstance(value, int))):
        return str(value)
    expected = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[kind]
    raise InputError(f"{where}: {name} must be {expected}, got {excerpt(value)}")


def _tuple(name: str, value: Any, items: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if items[-1] is not Ellipsis and len(values) != len(items):
        raise InputError(f"{where}: {name} needs {len(items)} values, got {excerpt(value)}")
    kinds = [items[0]] * len(values) if items[-1] is Ellipsis else list(items)
    return tuple(_scalar(name, item, kind, where) for item, kind in zip(values, kinds, strict=True))


def _mask_ratio(value: Any, where: str) -> tuple[float, float]:
    """0.5 (t fixed), "0.05:0.95" (t drawn per step) or [0.05, 0.95]."""
    if isinstance(value, str):
        return parse_mask_ratio(value)
    pair = value if isinstance(value, list | tuple) else [value, value]
    lo, hi = _tuple("mask_ratio", pair, (float, float), where)
    return (lo, hi)
