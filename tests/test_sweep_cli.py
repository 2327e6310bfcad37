"""`mft sweep` at the command line, short of running trials: dry runs, listing, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paper_data_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFT_DATA_DIR", str(paper_data_dir))
    return tmp_path


def test_dry_run_prints_the_plan_then_refuses_as_a_start_would(mft, workdir: Path) -> None:
    """The paper's models need GPUs this machine lacks: the plan, then the start's own refusal."""
    result = mft("sweep", "lr", "--dataset", "namedesc", "--method", "masked", "--dry-run")
    assert result.code == 2 and "GPUs per trial" in result.err and "--tiny" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
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
    assert result.code == 2 and "GPUs per trial" in result.err  # a CPU box: planned, never startable
    assert "72 trials" in result.out


def test_a_dry_run_that_passes_checks_what_a_start_checks_and_creates_nothing(
    mft, workdir: Path, tiny_causal: Path
) -> None:
    cpu = ["--model", str(tiny_causal), "--method", "ar", "--gpus-per-worker", "0", "--workers", "1"]
    result = mft("sweep", "lr", *cpu, "--set", "epochs=1", "--set", "eval_at=[1]", "--dry-run")
    assert result.code == 0, result.err
    assert "dry run: every check passed; 5 trials would start" in result.out
    assert list(workdir.iterdir()) == [] and not ray.is_initialized()
    missing = mft("sweep", "lr", *cpu[2:], "--model", str(workdir / "nope"), "--dry-run")
    assert missing.code == 2 and "not found" in missing.err, missing.err


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
        (["resume", "nosuch"], "no sweep 'nosuch'"),
        (["lr", "bogus", "--dry-run"], "unexpected extra argument"),
        (["list", "--dataset", "nonsense"], "No such option: --dataset"),
        (["status", "x", "--early-stop", "whatever"], "No such option: --early-stop"),
        (["seeds", "--early-stop", "asha", "--grace-period", "0", "--dry-run"], "--grace-period must be"),
        (["seeds", "--name", "../../x", "--dry-run"], "a sweep name is letters"),
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
from orchestrator.cli.app import main
sys.argv = ["mft", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    print("EXIT", exc.code or 0)
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
    """Parsing, help and planning stay pure: they answer in well under a second on any machine (a dry
    run of a GPU sweep here ends at the start's GPU check, before any model is loaded)."""
    code = IMPORTS_AFTER.format(heavy=HEAVY)
    env = {**os.environ, "MFT_DATA_DIR": str(paper_data_dir), "COLUMNS": "200"}
    command = [sys.executable, "-c", code, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    expected = "EXIT 2" if "--dry-run" in args else "EXIT 0"
    assert done.stdout.strip().splitlines()[-2:] == [expected, "HEAVY []"], (
        done.stdout[-2000:] + done.stderr[-2000:]
    )


REFUSED_BEFORE_RAY = """
import sys
from orchestrator.cli.app import main
sys.argv = ["mft", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    print("EXIT", exc.code, "ray" in sys.modules)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--model", "{model}", "--epochs", "2", "--tracking-uri", "http://127.0.0.1:9"],
        ["train", "--model", "{model}", "--epochs", "2", "--method", "dllm"],
        ["sweep", "seeds", "--tiny", "--tracking-uri", "http://127.0.0.1:9"],
    ],
)
def test_a_refused_start_never_imports_ray(args: list[str], tiny_causal: Path, paper_data_dir: Path) -> None:
    """Every check runs before Ray is imported: a refusal costs seconds, not Ray's start-up."""
    env = {**os.environ, "MFT_DATA_DIR": str(paper_data_dir), "COLUMNS": "200"}
    command = [sys.executable, "-c", REFUSED_BEFORE_RAY, *(arg.format(model=tiny_causal) for arg in args)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "EXIT 2 False", done.stdout[-2000:] + done.stderr[-2000:]


def test_the_readme_spec_example_runs_with_the_schedule_it_sets(mft, workdir: Path) -> None:
    """The README's own YAML, as written: its `schedules:` entry is the one its trials take."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (workdir / "my-lr.yaml").write_text(readme.split("```yaml\n", 1)[1].split("```", 1)[0])
    result = mft("sweep", "my-lr.yaml", "--dry-run", "--show-config")
    assert result.code == 2 and "GPUs per trial" in result.err, result.err  # its 4 GPUs: not here
    blocks = [block.split("\n", 1)[1].split("\n\n")[0] for block in result.out.split("# trial ")[1:]]
    configs = [yaml.safe_load(block) for block in blocks]
    assert len(configs) == 4 and "plan 4 trials" in result.out
    assert {(c["epochs"], tuple(c["eval_at"])) for c in configs} == {(64, (0, 4, 16, 32, 64))}


def test_a_sweep_logs_to_its_datasets_experiment_as_mft_train_does() -> None:
    from orchestrator.sweep.launch import default_experiment

    assert default_experiment({"namedesc"}) == "mft-namedesc"  # beside `mft train`'s runs on it
    assert default_experiment({"namedesc", "bio", "wiki"}) == "mft-sweeps"  # one parent run for all
