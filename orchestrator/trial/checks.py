"""Checks that run before Ray starts or an MLflow run is created (driver side, seconds, no Ray).

Each check either passes or raises `InputError` with one line naming the flag to change: the
tracking store answers (a server: one short-timeout request, not MLflow's minutes of retries),
the storage takes a file, and the trial fits this machine when no Ray cluster is named.
Read-only commands use `require_store`, which never creates a store.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from orchestrator.storage import is_uri
from orchestrator.sweep.planning import local_cluster
from training.config import TrialConfig
from training.errors import InputError

SERVER_TIMEOUT_S = 5.0
MAX_CONTEXT_FACTOR = 4  # a training example longer than this many contexts is refused
SERVER_HINT = "start it (mlflow server ...) or pass another --tracking-uri"


def check_tracking_store(uri: str, timeout_s: float = SERVER_TIMEOUT_S) -> None:
    """The store can be written: a sqlite file's folder exists and takes files; a server answers."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_dir():
            raise InputError(
                f"--tracking-uri {uri} names a folder; name a file, e.g. sqlite:///{path}/mlflow.db"
            )
        if not path.parent.is_dir():
            raise InputError(f"--tracking-uri {uri}: folder {path.parent} does not exist; create it first")
        probe_folder(path.parent, "--tracking-uri")
    elif uri.startswith(("http://", "https://")):
        check_server(uri, timeout_s)


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
    import base64

    headers = {"Content-Type": "application/json"}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user and password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return headers


def require_store(uri: str) -> None:
    """For read-only commands: the store must already exist (a sqlite file is never created here)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InputError(
                f"no MLflow store at {path}; run where the runs were tracked or pass --tracking-uri"
            )
    elif uri.startswith(("http://", "https://")):
        check_server(uri)


def make_folder(folder: Path, flag: str) -> Path:
    """`folder`, created if missing, or one line naming `flag` when it is a file or cannot be made."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{flag} {folder} is a file; name a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{flag} {folder}: cannot create it ({exc.strerror or exc}); choose a writable folder"
        ) from exc
    return folder


def probe_folder(folder: Path, flag: str) -> None:
    """Write and remove a small file in an existing folder."""
    probe = folder / f".mft-probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc
        raise InputError(f"{flag}: cannot write to {folder} ({reason}); choose a writable place") from exc


def check_storage(location: str) -> None:
    """The storage takes a file: a local folder (created if missing) or a URI's filesystem."""
    if not is_uri(location):
        probe_folder(make_folder(Path(location), "--storage"), "--storage")
        return
    import pyarrow.fs

    try:
        fs, path = pyarrow.fs.FileSystem.from_uri(location)
        fs.create_dir(path, recursive=True)
        probe = posixpath.join(path, f".mft-probe-{uuid.uuid4().hex}")
        with fs.open_output_stream(probe) as stream:
            stream.write(b"ok")
        fs.delete_file(probe)
    except (pyarrow.ArrowInvalid, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = f"--storage {location}: cannot write there ({first}); check the URI and credentials"
        raise InputError(message) from exc


def names_cluster(address: str | None) -> bool:
    """True when a Ray cluster is named (flag or $RAY_ADDRESS): its size is only known from Ray."""
    return bool(address or os.environ.get("RAY_ADDRESS"))


def fit_local_resources(config: TrialConfig, address: str | None, gpus_if_any: bool) -> TrialConfig:
    """Without a named cluster: the trial's resources on this machine, counted without starting Ray
    (the local Ray gets exactly these). `gpus_if_any`: one GPU per worker when there are enough."""
    if names_cluster(address):
        return config
    gpus, cpus = local_cluster()
    if gpus_if_any and gpus >= config.workers:
        config = config.replace(gpus_per_worker=1.0)
    needed = config.workers * config.gpus_per_worker
    if config.gpus_per_worker > 0 and gpus < needed:
        raise InputError(
            f"the trial needs {needed:g} GPUs (--workers {config.workers} x --gpus-per-worker"
            f" {config.gpus_per_worker:g}) but this machine has {gpus:g}; use --gpus-per-worker 0 for CPU"
            " workers, or --address to use a Ray cluster"
        )
    if config.gpus_per_worker == 0 and cpus < config.workers:
        raise InputError(
            f"--workers {config.workers} needs {config.workers} CPUs but this machine has {cpus:g};"
            f" use --workers {int(cpus)} or less, or --address to use a Ray cluster"
        )
    return config


def require_positive(values: dict[str, float | None]) -> None:
    """Each given flag value (None = not given) is a finite number >= 1."""
    for flag, value in values.items():
        if value is not None and not (math.isfinite(value) and value >= 1):
            raise InputError(f"{flag} must be >= 1, got {value:g}")


def open_output(path: Path, flag: str) -> TextIO:
    """`PATH.partial` beside the output, opened before any work so a bad path costs nothing; the
    caller renames it to PATH when done, so a failure never leaves an earlier PATH truncated."""
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; name a file")
    if not path.parent.is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist; create it or choose another")
    try:
        return path.with_name(path.name + ".partial").open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot write there ({exc.strerror or exc}); choose another"
        ) from exc


def load_model_config(model: str, trust_remote_code: bool) -> Any:
    """The model's config, or one line saying why it cannot be read (a corrupt config.json, ...)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load model {model!r}: {first}") from exc


def check_document_lengths(
    documents: Sequence[str], encode: Callable[[str], Any], context: int | None
) -> str | None:
    """Training examples against the model's context: a note when some exceed it (RoPE models still
    run, past the positions they were trained on), one line refusing when any exceeds it 4 times
    over (attention memory grows with the square of the length: a 100 MB document never fits).

    Only documents long enough to possibly exceed it are tokenized (a token covers at least one byte
    and the masked formats hold two copies), so the check stays cheap on normal data.
    """
    if not context:
        return None
    too_long = []
    for index, text in enumerate(documents):
        if 2 * len(text.encode("utf-8")) + 64 <= context:
            continue
        length = len(text) if len(text) > 64 * context else len(encode(text).input_ids)
        if length > context:
            too_long.append((index, length))
    if not too_long:
        return None
    index, length = max(too_long, key=lambda pair: pair[1])
    summary = (
        f"{len(too_long)} training document(s) exceed the model's context of {context} tokens"
        f" (longest: #{index}, ~{length})"
    )
    if length > MAX_CONTEXT_FACTOR * context:
        raise InputError(f"{summary}; split or shorten them, or use a model with a longer context")
    return f"{summary}; they are trained on whole, past the positions the model was trained on"
