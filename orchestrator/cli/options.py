"""Command-line options that several `mft` commands share, defined once (driver side, Typer)."""

from __future__ import annotations

import math

import typer

from training.errors import InputError

TRACKING_URI = typer.Option(None, help="MLflow URI \\[default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db].")
STORAGE = typer.Option(
    "mft-runs",
    envvar="MFT_STORAGE",
    help="Where Ray keeps checkpoints: a folder every node shares, or a URI (s3://, gs://).",
)
ADDRESS = typer.Option(None, help="Ray cluster address \\[default: $RAY_ADDRESS, else a local Ray].")
DATA_DIR = typer.Option(None, help="Dataset folder \\[default: $MFT_DATA_DIR or the user cache].")


def require_name(flag: str, value: str | None) -> None:
    """A name given (None = not given) is not blank: `--experiment "$UNSET"` is a mistake, not the default."""
    if value is not None and not value.strip():
        raise InputError(f"{flag} is empty; give a name or leave the option out for the default")


def require_positive(values: dict[str, float | None]) -> None:
    """Each given flag value (None = not given) is a finite number >= 1."""
    for flag, value in values.items():
        if value is not None and not (math.isfinite(value) and value >= 1):
            raise InputError(f"{flag} must be >= 1, got {value:g}")
