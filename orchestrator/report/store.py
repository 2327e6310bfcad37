"""Opening the MLflow tracking store a report reads (driver side; never starts Ray).

A report must not create what it reads: a missing sqlite file or an unreachable server is the
user's mistake, said in one line, not an empty store silently made in the working directory.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

from orchestrator.tracking.store import check_scheme, check_sqlite_file
from training.errors import InputError


def open_store(uri: str) -> MlflowClient:
    """A client on an existing store; InputError naming the fix when there is none."""
    hint = "run `mft report` where the runs were tracked, or pass --tracking-uri"
    check_scheme(uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InputError(f"no MLflow tracking store at {path}; {hint}")
        check_sqlite_file(path, uri)
    elif uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10):
                pass
        except (urllib.error.URLError, OSError) as exc:
            raise InputError(f"cannot reach the MLflow server at {uri} ({exc}); start it or {hint}") from exc
    elif "://" not in uri or uri.startswith("file://"):
        if not Path(uri.removeprefix("file://")).is_dir():
            raise InputError(f"no MLflow tracking folder at {uri}; {hint}")
    # Opening an old sqlite store upgrades its schema with INFO lines that are no news to the reader.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    client = MlflowClient(uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise InputError(f"cannot read the MLflow tracking store at {uri}: {exc}; {hint}") from exc
    return client
