"""Download the paper's published knowledge-set files into the data folder (driver side).

Stdlib `urllib` only. Each file is written to a temporary name beside its target and renamed when
complete, so an interrupted download never leaves a half file that a later run would trust.
Paraphrase files are optional extras: a 404 for one is reported as "not published", while a
missing required file (the `none` training file, the test file) is an error.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from rich.progress import Progress, TaskID

from training.errors import InputError
from training.knowledge import DatasetSpec, find_dataset, resolve_data_dir

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/xup5/masked_arLLM/main/datasets"
_CHUNK_BYTES = 1 << 16
_TIMEOUT_S = 30

FetchStatus = Literal["downloaded", "present", "not published"]


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file of the dataset."""

    file: str
    status: FetchStatus
    size: int  # bytes on disk; 0 when not published


def resolve_base_url(base_url: str | None = None) -> str:
    """The server folder holding the files: the argument, else $MFT_DATA_BASE_URL, else the authors' repo."""
    chosen = base_url or os.environ.get("MFT_DATA_BASE_URL") or DEFAULT_BASE_URL
    return chosen.rstrip("/")


def fetch_dataset(
    name: str,
    data_dir: Path | None = None,
    base_url: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> list[FetchResult]:
    """Download the files of one registered dataset; files already present are kept unless `force`."""
    spec = find_dataset(name)
    folder = resolve_data_dir(data_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"the data folder {folder} is a file; pass --data-dir with a folder")
    for file in spec.files:  # all checked before the first download: a refusal leaves nothing half done
        if (folder / file).exists() and not (folder / file).is_file():
            raise InputError(f"{folder / file} is in the way of {spec.name}'s file {file}; move it elsewhere")
    folder.mkdir(parents=True, exist_ok=True)
    base = resolve_base_url(base_url)
    return [_fetch_file(spec, file, folder, base, force, progress) for file in _files_in_fetch_order(spec)]


def _files_in_fetch_order(spec: DatasetSpec) -> tuple[str, ...]:
    """Required files first, so a wrong base URL fails before anything optional is tried."""
    return (*spec.required_files, *(file for file in spec.files if file not in spec.required_files))


def _fetch_file(
    spec: DatasetSpec, file: str, folder: Path, base: str, force: bool, progress: Progress | None
) -> FetchResult:
    target = folder / file
    if target.is_file() and not force:
        return FetchResult(file, "present", target.stat().st_size)
    url = f"{base}/{file}"
    try:
        return FetchResult(file, "downloaded", _download(url, target, progress))
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and file not in spec.required_files:
            return FetchResult(file, "not published", 0)
        raise InputError(
            f"{url} answered HTTP {exc.code} {exc.reason}; {file} is required for {spec.name}, check that "
            f"--base-url (or MFT_DATA_BASE_URL) points at the folder with the paper's dataset files"
        ) from exc
    except urllib.error.URLError as exc:
        raise InputError(
            f"cannot reach {url} ({exc.reason}); check the network, or pass --base-url with a server that "
            f"has the paper's dataset files"
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise InputError(
            f"download of {url} failed ({exc!r}); run `mft data fetch {spec.name}` again"
        ) from exc


def _download(url: str, target: Path, progress: Progress | None) -> int:
    """Stream `url` into `target` atomically; returns the size in bytes."""
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
        expected = int(response.headers.get("Content-Length") or 0) or None
        task = progress.add_task(target.name, total=expected) if progress is not None else None
        fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                written = _copy(response, out, progress, task)
            if expected is not None and written != expected:
                raise http.client.IncompleteRead(b"", expected - written)
            os.replace(part, target)
        finally:
            Path(part).unlink(missing_ok=True)
    return written


def _copy(
    response: http.client.HTTPResponse, out: BinaryIO, progress: Progress | None, task: TaskID | None
) -> int:
    written = 0
    while chunk := response.read(_CHUNK_BYTES):
        out.write(chunk)
        written += len(chunk)
        if progress is not None and task is not None:
            progress.advance(task, len(chunk))
    return written
