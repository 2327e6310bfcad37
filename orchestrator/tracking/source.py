"""Which code and which command made a run, as the tags MLflow's UI shows under "Source" (driver side).

A number in a run is only as good as knowing what produced it: the command line, the package
version, and, when `mft` runs from a git checkout, the commit and whether tracked files had
uncommitted changes (then the commit alone does not say which code ran).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from orchestrator.tracking import names

GIT_TIMEOUT_S = 5.0
CHECKOUT = Path(__file__).resolve().parents[2]
"""The folder holding `orchestrator/`: a git checkout for an editable install, site-packages otherwise."""


def command_line() -> str:
    """The `mft` command this process runs, as a user would type it again."""
    return shlex.join(["mft", *sys.argv[1:]])


@functools.cache
def code_version() -> dict[str, str]:
    """The package version, and the git commit + dirty flag when running from a checkout (asked once)."""
    try:
        version = metadata.version("mft")
    except metadata.PackageNotFoundError:
        version = "unknown"
    tags = {names.VERSION_TAG: version}
    commit = _git("rev-parse", "HEAD")
    if commit:
        changes = _git("status", "--porcelain", "--untracked-files=no")
        tags[names.GIT_COMMIT_TAG] = commit
        tags[names.GIT_DIRTY_TAG] = str(bool(changes)).lower()
    return tags


def code_identity() -> str:
    """Which code this is, as one string: `code_version`, plus a hash of the uncommitted changes to
    tracked files when there are some (the commit alone does not say which code ran then)."""
    version = code_version()
    diff = _git("diff", "HEAD") if version.get(names.GIT_DIRTY_TAG) == "true" else ""
    changes = hashlib.sha256(diff.encode()).hexdigest() if diff else ""
    return json.dumps({**version, "changes": changes}, sort_keys=True)


def source_tags(command: str) -> dict[str, str]:
    """The tags that tell which code ran `command`: the whole command in `mft.command`, and as the
    UI's Source a form without folders (the UI shows only what follows a source's last "/")."""
    short = shlex.join(word.rstrip("/").rsplit("/", 1)[-1] or word for word in shlex.split(command))
    source = {names.SOURCE_NAME_TAG: short, names.SOURCE_TYPE_TAG: "LOCAL", names.COMMAND_TAG: command}
    return {**source, **code_version()}


def _git(*args: str) -> str:
    """git's output in the package's checkout; "" when it is not one or git is missing."""
    if not (CHECKOUT / ".git").exists():  # a folder, or a file in a worktree
        return ""
    try:
        done = subprocess.run(
            ["git", "-C", str(CHECKOUT), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
