"""The fault table, measured: every bad-input case of tests/test_bad_input.py as a real `mft` process.

A developer's tool, not a test (~15 min on 2 busy cores, one process per case):
    python tools/fault_table.py > fault-table.md
For each case: its class, exit code, wall seconds, lines printed (stdout + stderr), the first line,
and what survived in the case's fresh working directory and Ray temp folder or changed among the
files it points at (nothing, for a refused input). A case is `clean` when it ends in one line on
stderr, nothing on stdout, a non-zero exit and nothing left or changed; the last lines count them
per class.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.tiny_models import build_tiny_model  # noqa: E402
from tests.conftest import PAPER_DATA  # noqa: E402
from tests.test_bad_input import (  # noqa: E402
    CLASSES,
    EVAL,
    MODEL_TINY,
    READ_ONLY,
    SWEEP,
    TRAIN,
    fill,
    make_inputs,
    snapshot,
    sweep_args,
)

MFT = [sys.executable, "-m", "orchestrator"]


def cases(model: Path, inputs: dict[str, str], workdir: Path) -> list[tuple[str, str, list[str]]]:
    """(class, label, argv) for every case of every table."""
    data = ["--data-dir", str(PAPER_DATA)]
    rows = []
    for name, (extra, _) in TRAIN.items():
        args = ["train", "--model", str(model), *data, "--epochs", "2", *fill(extra, inputs, workdir)]
        rows.append(("values", f"train: {name}", args))
    for name, (extra, _) in SWEEP.items():
        rows.append(("values", f"sweep: {name}", sweep_args(fill(extra, inputs, workdir), model)))
    for name, (extra, _) in EVAL.items():
        args = ["eval", "--model", str(model), *data, "--limit", "2", *fill(extra, inputs, workdir)]
        rows.append(("values", f"eval: {name}", args))
    for name, (extra, _) in MODEL_TINY.items():
        args = fill(extra, inputs, workdir)
        out = [] if "--out" in args else ["--out", "tiny"]
        rows.append(("values", f"model tiny: {name}", ["model", "tiny", *out, *args]))
    for name, (args, _) in READ_ONLY.items():
        rows.append(("values", name, fill(args, inputs, workdir)))
    for kind, table in CLASSES.items():
        for name, (args, _, _) in table.items():
            rows.append((kind, name, fill(args, inputs, workdir)))
    return rows


def survivors(workdir: Path, ray_root: Path, before: dict, root: Path) -> str:
    left = sorted(path.name for path in workdir.iterdir())
    if any(ray_root.iterdir()):
        left.append("a Ray session")
    if snapshot(root) != before:
        left.append("an input file changed")
    return ", ".join(left) or "nothing"


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mft-faults-"))
    model = build_tiny_model(root / "tiny", arch="causal")
    inputs = make_inputs(root, model, PAPER_DATA)
    counts: Counter[tuple[str, str]] = Counter()
    print("| class | input | exit | seconds | lines | verdict | first line | left behind |")
    print("|---|---|---|---|---|---|---|---|")
    for index, (kind, label, _) in enumerate(cases(model, inputs, root / "unused")):
        workdir, ray_root = root / f"w{index}", Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
        workdir.mkdir()
        args = cases(model, inputs, workdir)[index][2]
        env = {
            **os.environ, "RAY_TMPDIR": str(ray_root), "MFT_DATA_DIR": str(PAPER_DATA), "COLUMNS": "200",
            "MFT_LOG_DIR": str(root / "logs"),
        }  # fmt: skip
        before = snapshot(root)
        start = time.perf_counter()
        done = subprocess.run(MFT + args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - start
        lines = len((done.stdout + done.stderr).strip().splitlines())
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        message = first[0].replace("|", "\\|")[:90] if first else ""
        left = survivors(workdir, ray_root, before, root)
        clean = done.returncode != 0 and lines == 1 and not done.stdout and left == "nothing"
        counts[(kind, "clean" if clean else "broken")] += 1
        verdict = "clean" if clean else "BROKEN"
        cells = [kind, label, done.returncode, f"{seconds:.1f}", lines, verdict, message, left]
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    print()
    for kind in dict.fromkeys(kind for kind, _ in counts):
        print(f"{kind}: {counts[(kind, 'clean')]} clean, {counts[(kind, 'broken')]} broken")


if __name__ == "__main__":
    main()
