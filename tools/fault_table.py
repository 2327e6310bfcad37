"""The fault table, measured: every bad-input case of tests/test_bad_input.py as a real `mft` process.

A developer's tool, not a test (~10 min on 2 busy cores, one process per case):
    python tools/fault_table.py > fault-table.md
For each case: exit code, wall seconds, lines printed (stdout + stderr), and what survived in
the case's fresh working directory and Ray temp folder (nothing, for a refused input).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.tiny_models import build_tiny_model  # noqa: E402
from tests.conftest import PAPER_DATA  # noqa: E402
from tests.test_bad_input import (  # noqa: E402
    EVAL,
    MODEL_TINY,
    READ_ONLY,
    SWEEP,
    TRAIN,
    fill,
    make_inputs,
    sweep_args,
)

MFT = [sys.executable, "-m", "orchestrator"]


def cases(model: Path, inputs: dict[str, str], workdir: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) for every case of every command."""
    data = ["--data-dir", str(PAPER_DATA)]
    rows = []
    for name, (extra, _) in TRAIN.items():
        args = ["train", "--model", str(model), *data, "--epochs", "2", *fill(extra, inputs, workdir)]
        rows.append((f"train: {name}", args))
    for name, (extra, _) in SWEEP.items():
        rows.append((f"sweep: {name}", sweep_args(fill(extra, inputs, workdir), model)))
    for name, (extra, _) in EVAL.items():
        args = ["eval", "--model", str(model), *data, "--limit", "2", *fill(extra, inputs, workdir)]
        rows.append((f"eval: {name}", args))
    for name, (extra, _) in MODEL_TINY.items():
        args = fill(extra, inputs, workdir)
        rows.append(
            (f"model tiny: {name}", ["model", "tiny", *([] if "--out" in args else ["--out", "tiny"]), *args])
        )
    for name, (args, _) in READ_ONLY.items():
        rows.append((name, fill(args, inputs, workdir)))
    return rows


def survivors(workdir: Path, ray_root: Path) -> str:
    left = sorted(path.name for path in workdir.iterdir())
    if any(ray_root.iterdir()):
        left.append("a Ray session")
    return ", ".join(left) or "nothing"


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mft-faults-"))
    model = build_tiny_model(root / "tiny", arch="causal")
    inputs = make_inputs(root, model)
    print("| input | exit | seconds | lines | first line | left behind |")
    print("|---|---|---|---|---|---|")
    for index, (label, _) in enumerate(cases(model, inputs, root / "unused")):
        workdir, ray_root = root / f"w{index}", Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
        workdir.mkdir()
        args = cases(model, inputs, workdir)[index][1]
        env = {**os.environ, "RAY_TMPDIR": str(ray_root), "MFT_DATA_DIR": str(PAPER_DATA), "COLUMNS": "200"}
        start = time.perf_counter()
        done = subprocess.run(MFT + args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - start
        lines = len((done.stdout + done.stderr).strip().splitlines())
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        message = first[0].replace("|", "\\|")[:90] if first else ""
        print(
            f"| {label} | {done.returncode} | {seconds:.1f} | {lines} | {message} |"
            f" {survivors(workdir, ray_root)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
