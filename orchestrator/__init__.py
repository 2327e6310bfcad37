"""Driver side of mft: the CLI, sweep specs, Ray Tune, MLflow and reports."""
