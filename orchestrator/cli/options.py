"""Command-line options that several `mft` commands share, defined once (driver side, Typer)."""

from __future__ import annotations

import typer

TRACKING_URI = typer.Option(None, help="MLflow URI \\[default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db].")
STORAGE = typer.Option(
    "mft-runs",
    envvar="MFT_STORAGE",
    help="Where Ray keeps checkpoints: a folder every node shares, or a URI (s3://, gs://).",
)
ADDRESS = typer.Option(None, help="Ray cluster address \\[default: $RAY_ADDRESS, else a local Ray].")
DATA_DIR = typer.Option(None, help="Dataset folder \\[default: $MFT_DATA_DIR or the user cache].")
