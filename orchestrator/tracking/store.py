"""Opening the MLflow store a command writes to (driver side): a new sqlite store is created once.

MLflow creates (or migrates) a sqlite store's schema the first time a process opens it; two
processes doing so at once both fail in the migration and can leave the file broken for every
later command. A file lock beside the database lets one process create the schema while the
others wait, then open the finished store. The `.lock` file stays: removing it would let a
waiting process lock a file nobody else sees.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from mlflow.tracking import MlflowClient


def open_tracking_store(uri: str) -> MlflowClient:
    """A client whose store exists with its schema, created under a lock when it is sqlite."""
    if not uri.startswith("sqlite:///"):
        return MlflowClient(uri)
    database = Path(uri.removeprefix("sqlite:///"))
    with database.with_name(database.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)  # the store is open: schema created or migrated
    return client
