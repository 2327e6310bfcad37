"""A trial's configuration as a YAML file (driver side, pure).

One format for three uses: `mft train --config FILE` reads it (flags override its values), every
trial run logs it to MLflow as `trial.yaml` (so a run can be fed back to rerun it), and
`mft train --dry-run` / `mft sweep --dry-run --show-config` print it. A file is a mapping of
TrialConfig fields written as a sweep spec's `fixed:` values are (`lr: 1e-5`, `mask_ratio:
0.05:0.95`, `eval_at: [0, 1, 2]`), plus `method` and `dataset`; `mft sweep FILE` runs such a file
as a one-trial sweep.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from orchestrator.tracking.store import resolve_tracking_uri
from orchestrator.trial.settings import FIELD_NAMES, check_field, coerce_field
from training.config import TrialConfig
from training.errors import InputError
from training.yaml_text import read_yaml_file

DRIVER_SET = "run_id"  # each run's own; never part of a configuration written by hand


def is_trial_mapping(data: Mapping[str, Any]) -> bool:
    """True when every key is a TrialConfig field: a trial file rather than a sweep spec."""
    return bool(data) and all(key in FIELD_NAMES for key in data)


def trial_values(data: Any, source: str) -> dict[str, Any]:
    """A trial file's YAML data as TrialConfig values; an unknown field or bad value names itself."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: a trial file is a YAML mapping of trial fields, e.g. lr: 1.0e-5")
    if DRIVER_SET in data:
        raise InputError(f"{source}: {DRIVER_SET} is set by the driver for each run; remove it")
    return {
        check_field(key, source): coerce_field(key, value, f"{source}: {key}") for key, value in data.items()
    }


def load_trial_file(path: Path) -> dict[str, Any]:
    """The values of a trial file (`mft train --config`); None for a field keeps it unset."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "not found"
        raise InputError(f"config file {path} {what}; check the path")
    return trial_values(read_yaml_file(path) or {}, str(path))


def trial_yaml(config: TrialConfig, leave_out: tuple[str, ...] = ()) -> str:
    """Every field but the run id (and `leave_out`), in field order, as `load_trial_file` reads it."""
    values = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in config.to_dict().items()
        if key != DRIVER_SET and key not in leave_out
    }
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=None)


def config_values(source: str | None, tracking_uri: str | None) -> dict[str, Any]:
    """The values of --config: a local trial file, or a run's logged one (runs:/RUN_ID/trial.yaml)."""
    if not source:
        return {}
    if not source.startswith("runs:/"):
        return load_trial_file(Path(source))
    from mlflow.artifacts import download_artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file: no bar
    try:
        path = download_artifacts(artifact_uri=source, tracking_uri=resolve_tracking_uri(tracking_uri))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"--config {source}: cannot fetch it ({first}); check the run id and --tracking-uri"
        ) from exc
    return load_trial_file(Path(path))
