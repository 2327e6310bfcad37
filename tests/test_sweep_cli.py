"""`mft sweep` at the command line, short of running trials: dry runs, listing, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paper_data_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFT_DATA_DIR", str(paper_data_dir))
    return tmp_path


def test_dry_run_prints_the_trial_table_and_plan_and_runs_nothing(mft, workdir: Path) -> None:
    result = mft("sweep", "lr", "--dataset", "namedesc", "--method", "masked", "--dry-run")
    assert result.code == 0, result.err
    rows = [
        line
        for line in result.out.splitlines()
        if "masked_Llama-3.1-8B-Instruct_namedesc_same-order_lr" in line
    ]
    assert len(rows) == 5
    assert "plan 5 trials x 4 workers" in result.out and "GPU-hours" in result.out
    assert list(workdir.iterdir()) == [] and not ray.is_initialized()


def test_paper_dry_run_is_the_table_3_grid(mft, workdir: Path) -> None:
    result = mft("sweep", "paper", "--dry-run")
    assert result.code == 0, result.err
    assert "72 trials" in result.out


def test_list_shows_the_shipped_specs(mft, workdir: Path) -> None:
    result = mft("sweep", "list")
    assert result.code == 0
    for kind in ("lr", "mask-ratio", "seeds", "paraphrase", "paper", "control"):
        assert f"│ {kind} " in result.out


def test_gpu_sweep_without_gpus_points_to_tiny_and_launches_nothing(mft, workdir: Path) -> None:
    result = mft("sweep", "lr", "--dataset", "namedesc")
    assert result.code == 2
    assert "GPUs" in result.err and "--tiny" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert list(workdir.iterdir()) == [] and not ray.is_initialized()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nosuch"], "nosuch"),
        (["status", "nosuch"], "no sweep 'nosuch'"),
        (["--resume", "nosuch"], "no sweep 'nosuch'"),
        (["lr", "--set", "lr=1e-5", "--set", "lr=2e-5", "--dry-run"], "conflicting overrides"),
        (["seeds", "--early-stop", "hyperband"], "--early-stop"),
    ],
)
def test_bad_sweep_input_is_one_line(mft, workdir: Path, args: list[str], expected: str) -> None:
    result = mft("sweep", *args)
    assert result.code == 2
    assert expected in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert not ray.is_initialized()


HEAVY = ("torch", "ray", "transformers", "mlflow")
IMPORTS_AFTER = """
import sys
from orchestrator.cli import main
sys.argv = ["mft", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("HEAVY", sorted(m for m in {heavy} if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sweep", "list"],
        ["data", "list"],
        ["train", "--help"],
        *[["sweep", kind, "--dry-run"] for kind in ("lr", "mask-ratio", "seeds", "paraphrase", "paper")],
    ],
)
def test_the_cli_and_dry_runs_import_no_ray_torch_or_mlflow(args: list[str], paper_data_dir: Path) -> None:
    """Parsing, help and planning stay pure: they answer in well under a second on any machine."""
    code = IMPORTS_AFTER.format(heavy=HEAVY)
    env = {**os.environ, "MFT_DATA_DIR": str(paper_data_dir), "COLUMNS": "200"}
    command = [sys.executable, "-c", code, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
