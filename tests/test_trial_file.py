"""One trial YAML for `mft train --config`, `mft train --dry-run`, `mft sweep FILE` and
`mft sweep --dry-run --show-config`: flags override the file, and what is printed reads back
as the same TrialConfig. Nothing here starts Ray; dry runs check the (tiny) model and the data as a
start would."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
import yaml

from orchestrator.cli.app import app
from orchestrator.cli.train import parse_flags
from orchestrator.trial.settings import build_trial_config
from orchestrator.trial.trial_file import load_trial_file, trial_yaml
from training.config import TrialConfig


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_causal: Path, paper_data_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFT_DATA_DIR", str(paper_data_dir))
    shutil.copytree(tiny_causal, tmp_path / "model")
    return tmp_path


def printed_config(text: str) -> TrialConfig:
    """The TrialConfig of one trial YAML as printed (comments and all)."""
    return TrialConfig.from_dict(
        {k: v for k, v in yaml.safe_load(text).items() if k != "extra_tags"} | {"extra_tags": {}}
    )


def test_dry_run_prints_a_config_that_reads_back_as_the_same_trial(mft: Callable, workdir: Path) -> None:
    flags = ["--model", "model", "--method", "ar", "--lr", "2e-4", "--epochs", "6", "--eval-at", "0,3,6"]
    new = ["--weight-decay", "0", "--betas", "0.8,0.9", "--grad-clip", "0.5", "--warmup-ratio", "0.1"]
    new += ["--block-length", "8", "--eval-batch-size", "7", "--log-every", "3"]
    first = mft("train", *flags, *new, "--dry-run")
    assert first.code == 0, first.err
    config = printed_config(first.out)
    assert (config.method, config.lr, config.epochs, config.eval_at) == ("ar", 2e-4, 6, (0, 3, 6))
    assert (config.weight_decay, config.betas, config.grad_clip, config.warmup_ratio) == (
        0,
        (0.8, 0.9),
        0.5,
        0.1,
    )
    assert (config.block_length, config.eval_batch_size, config.log_every) == (8, 7, 3)
    assert config.model == str(workdir / "model")
    (workdir / "trial.yaml").write_text(first.out)
    again = mft("train", "--config", "trial.yaml", "--dry-run")
    assert again.code == 0 and printed_config(again.out) == config
    # --gpus-per-worker not given stays not given (a GPU each where the cluster has them): no line.
    assert "\ngpus_per_worker:" not in first.out and "\ngpus_per_worker:" not in again.out
    cpu = mft("train", *flags, "--gpus-per-worker", "0", "--dry-run")
    assert "\ngpus_per_worker: 0.0\n" in cpu.out


def test_flags_given_override_the_file_and_defaults_do_not(mft: Callable, workdir: Path) -> None:
    (workdir / "trial.yaml").write_text(
        "model: model\nmethod: ar\nlr: 1.0e-4\nbatch_size: 4\nseed: 7\nmask_ratio: 0.5\nepochs: 2\n"
    )
    result = mft("train", "--config", "trial.yaml", "--seed", "3", "--epochs", "4", "--dry-run")
    assert result.code == 0, result.err
    config = printed_config(result.out)
    # --seed and --epochs were given; --batch-size (default 16) and --method (default masked) were not.
    assert (config.seed, config.epochs, config.eval_at) == (3, 4, (0, 1, 2, 4))
    assert (config.method, config.lr, config.batch_size, config.mask_ratio) == ("ar", 1e-4, 4, (0.5, 0.5))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "model: model\nseeds: 1\n",
            "trial.yaml: unknown trial field 'seeds'; did you mean 'seed'?",
        ),
        ("model: model\nepochs: many\n", "trial.yaml: epochs: epochs must be a whole number"),
        ("model: model\nrun_id: abc\n", "trial.yaml: run_id is set by the driver"),
        ("- model\n", "trial.yaml: a trial file is a YAML mapping"),
        ("model: [\n", "trial.yaml line 2: malformed YAML"),
        ("model: model\nbetas: [0.9, 1.5]\n", r"--betas must lie in \[0, 1\)"),
    ],
)
def test_bad_config_files_are_one_line(mft: Callable, workdir: Path, text: str, message: str) -> None:
    (workdir / "trial.yaml").write_text(text)
    result = mft("train", "--config", "trial.yaml", "--dry-run")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert re.search(message, result.err), result.err


def test_a_missing_config_file_and_a_missing_model_are_refused(mft: Callable, workdir: Path) -> None:
    assert "config file nope.yaml not found" in mft("train", "--config", "nope.yaml", "--dry-run").err
    assert "no model given; pass --model" in mft("train", "--dry-run").err


def test_every_train_flag_default_is_the_trial_config_default() -> None:
    """Unset flags leave the field to TrialConfig, so the default --help shows must be the one used."""
    command = typer.main.get_command(app).commands["train"]
    defaults = {f.name: f.default for f in dataclasses.fields(TrialConfig)}
    checked = []
    for param in command.params:
        if param.name in defaults and param.default is not None:
            assert parse_flags({param.name: param.default})[param.name] == defaults[param.name], param.name
            checked.append(param.name)
    assert {"weight_decay", "betas", "grad_clip", "warmup_ratio", "block_length", "eval_batch_size"} <= set(
        checked
    ) and "log_every" in checked


def test_a_logged_trial_yaml_reproduces_the_trial_config(tmp_path: Path) -> None:
    config = build_trial_config(
        {"model": "org/m", "method": "dllm", "mask_ratio": (0.2, 0.2), "betas": (0.8, 0.99), "eval_limit": 5}
    ).replace(run_id="r1", extra_tags={"who": "me"})
    path = tmp_path / "trial.yaml"
    path.write_text(trial_yaml(config))
    assert build_trial_config(load_trial_file(path)) == config.replace(run_id="")


def test_sweep_runs_a_trial_file_and_show_config_prints_every_trial(mft: Callable, workdir: Path) -> None:
    (workdir / "one.yaml").write_text(
        "model: model\nmethod: ar\nlr: 1.0e-4\nworkers: 1\ngpus_per_worker: 0\nepochs: 2\n"
    )
    result = mft("sweep", "one.yaml", "--set", "seed=[1, 2]", "--dry-run", "--show-config")
    assert result.code == 2 and "--set seed" in result.err  # --set takes one value per field
    result = mft("sweep", "one.yaml", "--set", "seed=4", "--dry-run", "--show-config")
    assert result.code == 0, result.err
    blocks = result.out.split("# trial ")[1:]
    assert len(blocks) == 1 and blocks[0].startswith("ar_model_namedesc_none_lr0.0001_seed4")
    config = printed_config(blocks[0].split("\n", 1)[1].split("\n\n")[0])
    assert (config.method, config.lr, config.seed, config.epochs, config.workers) == ("ar", 1e-4, 4, 2, 1)
    assert "plan 1 trials x 1 workers" in result.out
