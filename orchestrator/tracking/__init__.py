"""MLflow, driver side: every name mft logs, the store, runs, and the Train callback."""
