"""From what the user wrote (flags, YAML) to a `TrialConfig`, one way for every command (driver, pure).

`mft train`, `mft bench training` and every trial of a sweep go through `build_trial_config`, so
paths are made absolute (workers resolve them in their own directories) and schedules default
the same way everywhere: the given epochs and eval points, else the schedule table (a sweep
spec's own, then the paper's for the dataset x paraphrase x method), else TrialConfig's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.trial.schedules import Schedules, default_eval_epochs, find_schedule, paper_schedules
from training.config import TrialConfig
from training.errors import InputError
from training.knowledge import byo_folder, dataset_prompt_style, resolve_data_dir


def parse_mask_ratio(text: str) -> tuple[float, float]:
    """`0.75` (fixed t) or `0.05:0.95` (t drawn per optimizer step)."""
    try:
        parts = [float(part) for part in text.split(":")]
    except ValueError as exc:
        raise InputError(
            f"--mask-ratio {text!r} is not a number or LO:HI range, e.g. 0.75 or 0.05:0.95"
        ) from exc
    if len(parts) not in (1, 2):
        raise InputError(f"--mask-ratio {text!r}: give one value (fixed t) or LO:HI")
    return (parts[0], parts[-1])


def parse_epochs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise InputError(f"--eval-at {text!r} must be comma-separated epochs, e.g. 0,1,2,4,8") from exc


def parse_betas(text: str) -> tuple[float, float]:
    """`0.9,0.95`: AdamW's two betas."""
    try:
        first, second = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise InputError(f"--betas {text!r} must be two numbers B1,B2, e.g. 0.9,0.95") from exc
    return (first, second)


def absolute_model(model: str) -> str:
    """A local model folder as an absolute path; a hub id unchanged."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


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
