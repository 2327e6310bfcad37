"""Flags → TrialConfig, the one path of `mft train`, `mft bench training` and every sweep trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.trial.schedules import Schedule, paper_schedule, parse_schedules
from orchestrator.trial.settings import build_trial_config, trial_id
from training.errors import InputError


def test_without_epochs_a_trial_takes_the_authors_schedule_for_its_dataset_paraphrase_and_method() -> None:
    dllm_bio = build_trial_config({"model": "org/m", "dataset": "bio", "method": "dllm"})
    assert dllm_bio.epochs == 7080 and dllm_bio.eval_at[-2:] == (6400, 7080)
    masked_bio = build_trial_config({"model": "org/m", "dataset": "bio", "method": "masked"})
    assert masked_bio.epochs == 5120 and masked_bio.eval_at[-1] == 5120
    nd = build_trial_config({"model": "org/m", "dataset": "namedesc", "paraphrase": "same-order"})
    assert (nd.epochs, nd.eval_at) == (128, (0, 1, 2, 4, 8, 16, 32, 64, 96, 128))


def test_given_epochs_win_and_evaluation_doubles_up_to_them() -> None:
    config = build_trial_config({"model": "org/m", "dataset": "bio", "method": "dllm", "epochs": 10})
    assert (config.epochs, config.eval_at) == (10, (0, 1, 2, 4, 8, 10))
    given = build_trial_config({"model": "org/m", "epochs": 6, "eval_at": (0, 6), "lr": None})
    assert given.eval_at == (0, 6) and given.lr == 3e-6  # None = not given: the method's default


def test_paths_become_absolute_and_unknown_sets_keep_trial_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts").mkdir()
    (tmp_path / "model").mkdir()
    config = build_trial_config({"model": "model", "dataset": "./facts", "data_dir": "data"})
    assert config.model == str(tmp_path / "model") and config.dataset == str(tmp_path / "facts")
    assert config.data_dir is None  # a folder holds its own files
    paper = build_trial_config({"model": "model", "dataset": "namedesc", "data_dir": "data"})
    assert paper.data_dir == str(tmp_path / "data")
    assert paper_schedule(config.dataset, "none", "masked") is None
    assert config.epochs == 128  # TrialConfig's default: the paper never trained on this set


def test_a_spec_schedule_is_checked_before_the_papers() -> None:
    own = parse_schedules({"namedesc": {"none": {"epochs": 8, "ar": {"epochs": 4}}}}, "spec")
    ar = build_trial_config({"model": "org/m", "method": "ar"}, own)
    masked = build_trial_config({"model": "org/m", "method": "masked"}, own)
    assert (ar.epochs, masked.epochs) == (4, 8) and masked.eval_at == (0, 1, 2, 4, 8)
    assert own[("namedesc", "none", "ar")] == Schedule(4, (0, 1, 2, 4))


@pytest.mark.parametrize(
    ("schedules", "message"),
    [
        ({"namedesc": {"sideways": {"epochs": 3}}}, "spec.namedesc.sideways: unknown paraphrase condition"),
        ({"namedesc": {"none": {"epochs": 0}}}, "spec.namedesc.none: epochs must be a whole number >= 1"),
        ({"namedesc": {"none": {"epochs": 3, "diffusion": {}}}}, "unknown key 'diffusion'; expected epochs"),
        ({"namedesc": {"none": {"epochs": 3, "eval_at": "0,3"}}}, "eval_at must be a list of whole epochs"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(schedules: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_schedules(schedules, "spec")


def test_the_trial_id_is_the_configuration_and_storage() -> None:
    config = build_trial_config({"model": "org/m", "epochs": 4})
    assert trial_id(config, "runs") == trial_id(config.replace(run_id="abc"), "runs")
    assert trial_id(config, "runs") != trial_id(config, "other-runs")
    assert trial_id(config, "runs") != trial_id(config.replace(seed=1), "runs")
    assert trial_id(config, "runs").startswith("masked_m_namedesc_none_lr3e-06_t0.05-0.95_seed0-")
