"""The MLflow store a command talks to (driver side): where it is, whether it answers, opening it.

The URI is resolved the same way by every command. Writing commands check the store before Ray
starts (a server: one short-timeout request, not MLflow's minutes of retries); read-only commands
use `require_store`, which never creates one. A new sqlite store is created under a lock: MLflow
creates (or migrates) its schema the first time a process opens it, and two processes doing so at
once both fail in the migration and can leave the file broken for every later command. The
`.lock` file stays: removing it would let a waiting process lock a file nobody else sees.
"""

from __future__ import annotations

import base64
import fcntl
import importlib.util
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.storage import probe_folder
from training.errors import InputError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
SERVER_TIMEOUT_S = 5.0
SERVER_HINT = "start it (mlflow server ...) or pass another --tracking-uri"
SQLITE_HEADER = b"SQLite format 3\x00"
# Tracking-store schemes and the database drivers any one of which each needs (none: MLflow's own).
SCHEMES: dict[str, tuple[str, ...]] = {
    "sqlite": (), "http": (), "https": (), "file": (), "databricks": (),
    "postgresql": ("psycopg2", "psycopg"), "mysql": ("pymysql", "MySQLdb"), "mssql": ("pyodbc",),
}  # fmt: skip


def resolve_tracking_uri(uri: str | None) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else sqlite in the working directory (absolute,
    so Ray processes started elsewhere write to the same file)."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    return uri


def check_tracking_store(uri: str, timeout_s: float = SERVER_TIMEOUT_S) -> None:
    """The store can be written: a sqlite file's folder exists and takes files; a server answers;
    a database URI has its driver installed."""
    check_scheme(uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_dir():
            raise InputError(
                f"--tracking-uri {uri} names a folder; name a file, e.g. sqlite:///{path}/mlflow.db"
            )
        check_sqlite_file(path, uri)
        if not path.parent.is_dir():
            raise InputError(f"--tracking-uri {uri}: folder {path.parent} does not exist; create it first")
        probe_folder(path.parent, "--tracking-uri")
    elif uri.startswith(("http://", "https://")):
        check_server(uri, timeout_s)


def check_sqlite_file(path: Path, uri: str) -> None:
    """An existing sqlite store is a SQLite database (a text file given by mistake is not)."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise InputError(f"--tracking-uri {uri}: {path} is not a SQLite database; name another file")


def check_scheme(uri: str) -> None:
    """A scheme MLflow stores runs in, with its database driver importable (else one line, not the
    traceback MLflow would give when the first run is created)."""
    scheme, _, named_driver = (uri.partition("://")[0].lower() if "://" in uri else "").partition("+")
    if scheme not in SCHEMES:
        raise InputError(
            f"--tracking-uri {uri[:100]}: unknown scheme {scheme or '(none)'!r}; use sqlite:///FILE,"
            " http(s)://SERVER or a database URI (postgresql://, mysql://)"
        )
    drivers = (named_driver,) if named_driver else SCHEMES[scheme]  # postgresql+psycopg://: dialect+driver
    if drivers and not any(importlib.util.find_spec(driver) for driver in drivers):
        raise InputError(
            f"--tracking-uri {scheme}://... needs a database driver ({' or '.join(drivers)}):"
            f" pip install {drivers[0]}"
        )


def require_store(uri: str) -> None:
    """For read-only commands: the store must already exist (a sqlite file is never created here)."""
    check_scheme(uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InputError(
                f"no MLflow store at {path}; run where the runs were tracked or pass --tracking-uri"
            )
        check_sqlite_file(path, uri)
    elif uri.startswith(("http://", "https://")):
        check_server(uri)


def check_server(uri: str, timeout_s: float = SERVER_TIMEOUT_S) -> None:
    """One request to the server's REST API: refused, timed out or unauthorised ends in one line."""
    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search"
    request = urllib.request.Request(
        url, data=json.dumps({"max_results": 1}).encode(), headers=_auth_headers(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise InputError(
                f"MLflow server {uri} refused access ({exc.code}); set MLFLOW_TRACKING_USERNAME and"
                " MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            ) from exc
        message = f"MLflow server {uri} answered {exc.code} {exc.reason}; is it an MLflow server?"
        raise InputError(message) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"no MLflow server answers at {uri} ({reason}); {SERVER_HINT}") from exc


def _auth_headers() -> dict[str, str]:
    """The credentials MLflow's client would send, so a basic-auth server is checked as it is used."""
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user and password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return headers


def open_tracking_store(uri: str) -> MlflowClient:
    """A client whose store exists with its schema, created under a lock when it is sqlite."""
    from mlflow.tracking import MlflowClient

    if not uri.startswith("sqlite:///"):
        return MlflowClient(uri)
    database = Path(uri.removeprefix("sqlite:///"))
    with database.with_name(database.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)  # the store is open: schema created or migrated
    return client
