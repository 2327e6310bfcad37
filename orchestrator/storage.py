"""Run storage as a local folder or a URI (`s3://`, `gs://`, `file://`, ...), driver side.

Ray Train and Tune take either for `storage_path`; what `mft` itself reads and writes there (the
sweep state, exported checkpoints) goes through pyarrow's filesystems, which Ray already uses,
so every command that takes `--storage` works the same on a laptop and on a shared bucket.
"""

from __future__ import annotations

import posixpath
import tempfile
import uuid
from pathlib import Path

from training.errors import InputError


def is_uri(location: str) -> bool:
    return "://" in location


def resolve_storage(location: str | Path) -> str:
    """A URI as given; a local folder as an absolute path (workers and Ray resolve it elsewhere)."""
    text = str(location)
    return text if is_uri(text) else str(Path(text).expanduser().resolve())


def join(location: str, *parts: str) -> str:
    """`location/part/...` for a folder or a URI alike."""
    return posixpath.join(location, *parts) if is_uri(location) else str(Path(location, *parts))


def _filesystem(location: str):  # -> tuple[pyarrow.fs.FileSystem, str]
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(location)
    except (pyarrow.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot open storage {location!r}: {str(exc).splitlines()[0]}") from exc


def read_text(location: str) -> str | None:
    """The file's text, or None when there is no such file."""
    if not is_uri(location):
        path = Path(location)
        return path.read_text(encoding="utf-8") if path.is_file() else None
    import pyarrow.fs

    fs, path = _filesystem(location)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")


def write_text(location: str, text: str) -> None:
    """Write a small file, creating its folder."""
    if not is_uri(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        Path(location).write_text(text, encoding="utf-8")
        return
    fs, path = _filesystem(location)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(text.encode("utf-8"))


def exists(location: str) -> bool:
    if not is_uri(location):
        return Path(location).exists()
    import pyarrow.fs

    fs, path = _filesystem(location)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def parent(location: str) -> str:
    """The folder that holds `location`, a folder or a URI alike."""
    return posixpath.dirname(location.rstrip("/")) if is_uri(location) else str(Path(location).parent)


def list_folders(location: str) -> list[str]:
    """The sub-folders of `location` (full paths or URIs), sorted; empty when it does not exist."""
    if not is_uri(location):
        folder = Path(location)
        return sorted(str(path) for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []
    import pyarrow.fs

    fs, path = _filesystem(location)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    names = sorted(info.base_name for info in infos if info.type == pyarrow.fs.FileType.Directory)
    return [join(location, name) for name in names]


def local_copy(location: str) -> tempfile.TemporaryDirectory[str] | None:
    """A temporary local copy of a remote folder (None for a local one: use it in place)."""
    if not is_uri(location):
        return None
    import pyarrow.fs

    fs, path = _filesystem(location)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.Directory:
        raise InputError(f"no checkpoint folder at {location}")
    copy = tempfile.TemporaryDirectory(prefix="mft-checkpoint-")
    pyarrow.fs.copy_files(path, copy.name, source_filesystem=fs)
    return copy


def probe_folder(folder: Path, flag: str) -> None:
    """Write and remove a small file in an existing folder."""
    reason = probe_reason(folder)
    if reason:
        raise InputError(f"{flag}: cannot write to {folder} ({reason}); choose a writable place")


def probe_reason(folder: Path) -> str | None:
    """Why a small file cannot be written (and removed) in `folder`; None when it can."""
    probe = folder / f".mft-probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def check_storage(location: str) -> None:
    """The storage takes a file, and nothing is left there: a local folder (or the nearest folder
    above a missing one, which Ray creates later) or a URI's filesystem."""
    if location.startswith("file://"):
        location = location.removeprefix("file://")
    if not is_uri(location):
        folder = Path(location)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--storage {folder} is a file; name a folder")
        existing = folder
        while not existing.exists():
            existing = existing.parent
        reason = probe_reason(existing)
        if reason:
            what = "cannot write there" if existing == folder else "cannot create it"
            raise InputError(f"--storage {folder}: {what} ({reason}); choose a writable folder")
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
