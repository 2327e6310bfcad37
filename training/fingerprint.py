"""What data a run read, recorded so a result can be traced to exact bytes (pure data, runs anywhere).

A folder path alone says little: files get edited, regenerated, or copied between machines. The
fingerprint is the folder, each file's name and line count, and one SHA-256 over the files' bytes
(in name order), so two runs that read the same data show the same hash in MLflow. A file the
driver cannot see is listed as missing rather than failing the run's bookkeeping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

CHUNK = 1 << 20


def data_fingerprint(files: Sequence[Path]) -> dict[str, str]:
    """`data.folder`, `data.files` (name:lines, ...) and `data.sha256` of the files a run reads."""
    digest = hashlib.sha256()
    described = []
    for path in sorted(files, key=lambda p: p.name):
        if not path.is_file():  # not readable here (the driver); the workers' own preflight refuses it
            described.append(f"{path.name}:missing")
            continue
        lines = 0
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                lines += chunk.count(b"\n")
        described.append(f"{path.name}:{lines}")
    folders = sorted({str(path.parent.resolve()) for path in files})
    return {
        "data.folder": ",".join(folders),
        "data.files": ",".join(described),
        "data.sha256": digest.hexdigest(),
    }
