"""Sweep specs: the shipped YAMLs expand to the paper's grids, bad specs fail in one line, plans add up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.sweep.expansion import TINY_VALUES, Overrides, expand
from orchestrator.sweep.planning import (
    SECONDS_PER_STEP,
    TOKENS_PER_GPU_SECOND,
    TOKENS_PER_WORD,
    plan_resources,
    render_plan,
)
from orchestrator.sweep.spec import load_spec, shipped_specs
from training.errors import InputError

LLAMA, LLADA = "meta-llama/Llama-3.1-8B-Instruct", "GSAI-ML/LLaDA-8B-Instruct"
TINY = {"causal": "/tiny/causal", "bidirectional": "/tiny/bidirectional"}

# A user spec: grids over a field no shipped spec varies, per-method and per-dataset values.
USER_SPEC = """
kind: my-batch
description: batch size x method on my own knowledge set
methods: [ar, dllm]
datasets: [{folder}]
models:
  ar: ./models/causal
  dllm: {{name: ./models/bidirectional, trust_remote_code: true}}
fixed:
  workers: 2
  gpus_per_worker: 1
  lr: 1e-5            # PyYAML reads this as a string; the spec takes it as a number
grid:
  batch_size: [2, 4]
  paraphrase: all
per_method:
  dllm:
    fixed: {{mask_ratio: "0.2:0.8", lr: 2.0e-5}}
schedules:
  {name}:
    none: {{epochs: 6, eval_at: [0, 3, 6]}}
    same-order: {{epochs: 3}}
"""


def one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def write_folder(root: Path, documents: int = 8, words: int = 10) -> Path:
    """A bring-your-own knowledge set with `documents` documents of `words` words, and a paraphrase file."""
    root.mkdir(parents=True)
    text = " ".join(["word"] * words)
    lines = "\n".join(json.dumps({"text": text}) for _ in range(documents))
    (root / "train.jsonl").write_text(lines)
    (root / "train.same-order.jsonl").write_text(lines)
    qa = {"question": "Who?", "answer": "Someone", "direction": "forward"}
    (root / "qa.jsonl").write_text(json.dumps(qa))
    return root


def write_spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def by_method(trials, method: str):
    return [trial for trial in trials if trial.config.method == method]


def test_shipped_specs_are_the_paper_experiments() -> None:
    specs = {spec.kind: spec for spec in shipped_specs()}
    # `lab` runs on the lab's own data and models, which `mft lab` builds (tests/test_lab.py).
    assert set(specs) == {"lr", "mask-ratio", "seeds", "paraphrase", "paper", "control", "lab"}
    assert all(spec.description for spec in specs.values())
    counts = {kind: len(expand(spec, Overrides())) for kind, spec in specs.items() if kind != "lab"}
    assert counts == {"lr": 15, "mask-ratio": 11, "seeds": 12, "paraphrase": 9, "paper": 72, "control": 4}


@pytest.mark.parametrize("kind", ["lr", "mask-ratio", "seeds", "paraphrase", "paper", "control"])
def test_trial_ids_are_unique_and_deterministic(kind: str) -> None:
    first = expand(load_spec(kind), Overrides())
    again = expand(load_spec(kind), Overrides())
    ids = [trial.trial_id for trial in first]
    assert len(set(ids)) == len(ids)
    assert ids == [trial.trial_id for trial in again]
    assert [trial.config for trial in first] == [trial.config for trial in again]


def test_paper_models_and_resources_by_default() -> None:
    for trial in expand(load_spec("seeds"), Overrides()):
        config = trial.config
        assert (config.workers, config.gpus_per_worker, config.batch_size) == (4, 1.0, 16)
        assert config.model == (LLADA if config.method == "dllm" else LLAMA)
        assert config.trust_remote_code == (config.method == "dllm")


def test_lr_sweep_grids_each_method_around_the_papers_value() -> None:
    trials = expand(load_spec("lr"), Overrides())
    expected = {"ar": 5e-6, "masked": 3e-6, "dllm": 1e-5}
    for method, chosen in expected.items():
        grid = [trial.config.lr for trial in by_method(trials, method)]
        assert len(grid) == 5 and grid[2] == chosen and grid == sorted(grid)
    assert {(t.config.dataset, t.config.paraphrase, t.config.seed, t.config.epochs) for t in trials} == {
        ("namedesc", "same-order", 0, 128)
    }
    masked = expand(load_spec("lr"), Overrides(methods=("masked",)))
    assert [t.config.lr for t in masked] == [1e-6, 2e-6, 3e-6, 5e-6, 1e-5]
    assert [t.varying for t in masked][0] == {"lr": 1e-6}


def test_mask_ratio_sweep_skips_t0_for_dllm() -> None:
    trials = expand(load_spec("mask-ratio"), Overrides())
    ratios = {m: [t.config.mask_ratio for t in by_method(trials, m)] for m in ("masked", "dllm")}
    fixed = [(t, t) for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert ratios["masked"] == [*fixed, (0.05, 0.95)]
    assert ratios["dllm"] == [*fixed[1:], (0.05, 0.95)]
    assert {(t.config.epochs, t.config.eval_at[-1]) for t in trials} == {(96, 96)}
    assert trials[0].trial_id == "masked_Llama-3.1-8B-Instruct_namedesc_same-order_lr3e-06_t0_seed0"
    none = expand(load_spec("mask-ratio"), Overrides(sets=("paraphrase=none",)))
    assert {t.config.epochs for t in none} == {2880}


def test_seeds_sweep_runs_four_seeds_per_method() -> None:
    trials = expand(load_spec("seeds"), Overrides())
    for method in ("ar", "masked", "dllm"):
        assert [t.config.seed for t in by_method(trials, method)] == [0, 1, 2, 3]
    extra = expand(load_spec("seeds"), Overrides(methods=("masked-random",)))
    assert [t.config.model for t in extra] == [LLAMA] * 4


def test_control_sweep_has_the_authors_random_token_schedules() -> None:
    """scripts/random_ar.sh: ND 2880 epochs without paraphrases, 96 with; masked alongside, same compute."""
    trials = expand(load_spec("control"), Overrides())
    assert [(t.config.method, t.config.paraphrase, t.config.epochs, t.config.eval_at) for t in trials] == [
        (method, paraphrase, epochs, eval_at)
        for method in ("masked-random", "masked")
        for paraphrase, epochs, eval_at in (
            ("none", 2880, (0, 30, 60, 120, 240, 480, 960, 1920, 2880)),
            ("same-order", 96, (0, 1, 2, 4, 8, 16, 32, 64, 96)),
        )
    ]
    assert {(t.config.model, t.config.lr, t.config.seed) for t in trials} == {(LLAMA, 3e-6, 0)}
    bio = expand(load_spec("control"), Overrides(dataset="bio"))
    assert {(t.config.paraphrase, t.config.epochs) for t in bio} == {("none", 2560), ("same-order", 512)}


def test_paraphrase_sweep_takes_every_condition_of_the_dataset() -> None:
    wiki = expand(load_spec("paraphrase"), Overrides())
    assert [t.config.paraphrase for t in by_method(wiki, "ar")] == ["none", "same-order", "permute-order"]
    assert [t.config.epochs for t in by_method(wiki, "ar")] == [5120, 512, 512]
    namedesc = expand(load_spec("paraphrase"), Overrides(dataset="namedesc"))
    assert len(namedesc) == 6
    assert {(t.config.paraphrase, t.config.epochs) for t in namedesc} == {("none", 3840), ("same-order", 128)}


def test_paper_grid_has_the_authors_schedules_per_method() -> None:
    trials = expand(load_spec("paper"), Overrides())
    schedules = {
        (t.config.method, t.config.dataset, t.config.paraphrase): (t.config.epochs, t.config.eval_at)
        for t in trials
    }
    for method in ("ar", "masked", "dllm"):
        nd_none = (3840, (0, 30, 60, 120, 240, 480, 960, 1920, 2880, 3840))
        assert schedules[(method, "namedesc", "none")] == nd_none
        assert schedules[(method, "namedesc", "same-order")] == (128, (0, 1, 2, 4, 8, 16, 32, 64, 96, 128))
        assert schedules[(method, "bio", "same-order")][0] == 1024
        assert schedules[(method, "wiki", "same-order")][0] == 512
        assert schedules[(method, "wiki", "none")][0] == 5120
    # Where the authors' scripts differ, Table 3 comes from each method's own run (dllm.sh: 7080).
    assert schedules[("dllm", "bio", "none")][0] == 7080
    assert schedules[("dllm", "bio", "none")][1][-3:] == (5120, 6400, 7080)
    assert schedules[("ar", "bio", "none")][0] == schedules[("masked", "bio", "none")][0] == 5120
    assert 3840 not in schedules[("masked", "wiki", "none")][1]
    assert 3840 in schedules[("ar", "wiki", "none")][1] and 3840 in schedules[("dllm", "wiki", "none")][1]
    assert 384 in schedules[("ar", "wiki", "same-order")][1]
    assert 384 not in schedules[("masked", "wiki", "same-order")][1]
    cells = {(t.config.method, t.config.dataset, t.config.paraphrase) for t in trials}
    assert len(cells) == 18
    assert {t.config.lr for t in by_method(trials, "masked")} == {3e-6}


def test_set_fixes_a_field_and_replaces_its_grid() -> None:
    trials = expand(load_spec("lr"), Overrides(sets=("lr=2e-5", "epochs=8")))
    assert [(t.config.method, t.config.lr) for t in trials] == [(m, 2e-5) for m in ("ar", "masked", "dllm")]
    assert {t.config.eval_at for t in trials} == {(0, 1, 2, 4, 8)}
    evals = expand(load_spec("seeds"), Overrides(sets=("eval_at=[0,2,4]", "epochs=4"), methods=("ar",)))
    assert {(t.config.epochs, t.config.eval_at) for t in evals} == {(4, (0, 2, 4))}


def test_model_override_drops_remote_code() -> None:
    trials = expand(load_spec("seeds"), Overrides(model="org/other", workers=1, gpus_per_worker=0.5))
    assert {(t.config.model, t.config.trust_remote_code) for t in trials} == {("org/other", False)}
    assert {(t.config.workers, t.config.gpus_per_worker) for t in trials} == {(1, 0.5)}


def test_tiny_models_replace_models_and_shrink_the_trial() -> None:
    trials = expand(load_spec("mask-ratio"), Overrides(tiny_models=TINY))
    assert len(trials) == 11  # the grid stays
    for trial in trials:
        config = trial.config
        arch = "bidirectional" if config.method == "dllm" else "causal"
        assert config.model == TINY[arch] and not config.trust_remote_code
        assert (config.workers, config.gpus_per_worker) == (2, 0.0)
        assert (config.batch_size, config.epochs) == (TINY_VALUES["batch_size"], TINY_VALUES["epochs"])
    workers = expand(load_spec("seeds"), Overrides(tiny_models=TINY, workers=1, sets=("epochs=2",)))
    assert {(t.config.workers, t.config.epochs, t.config.eval_at) for t in workers} == {(1, 2, (0, 1, 2))}


def test_user_spec_round_trip(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "facts")
    path = write_spec(tmp_path, USER_SPEC.format(folder=folder, name=folder.name))
    spec = load_spec(path)
    assert (spec.kind, spec.methods) == ("my-batch", ("ar", "dllm"))
    trials = expand(spec, Overrides())
    assert len(trials) == 2 * 2 * 2  # methods x batch sizes x the folder's two conditions
    assert {t.config.dataset for t in trials} == {str(folder.resolve())}
    ar, dllm = by_method(trials, "ar"), by_method(trials, "dllm")
    assert {(t.config.lr, t.config.model, t.config.trust_remote_code) for t in ar} == {
        (1e-5, "./models/causal", False)
    }
    assert {(t.config.lr, t.config.mask_ratio, t.config.trust_remote_code) for t in dllm} == {
        (2e-5, (0.2, 0.8), True)
    }
    schedules = {(t.config.paraphrase, t.config.epochs, t.config.eval_at) for t in trials}
    assert schedules == {("none", 6, (0, 3, 6)), ("same-order", 3, (0, 1, 2, 3))}
    assert trials[0].trial_id == "ar_causal_facts_none_lr1e-05_seed0_batch_size2"
    assert len({t.trial_id for t in trials}) == 8
    assert {t.trial_id for t in trials} == {t.trial_id for t in expand(load_spec(path), Overrides())}


def test_ids_tell_apart_trials_that_differ_outside_the_name(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "methods: [ar]\nmodels: {ar: org/m}\ngrid: {batch_size: [2, 4]}\n")
    trials = expand(load_spec(path), Overrides())
    assert [t.trial_id for t in trials] == [
        "ar_m_namedesc_none_lr5e-06_seed0_batch_size2",
        "ar_m_namedesc_none_lr5e-06_seed0_batch_size4",
    ]
    assert [t.varying for t in trials] == [{"batch_size": 2}, {"batch_size": 4}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("methods: [ar\nfixed: {seed: 1}\n", "line 2"),
        ("methods: [ar]\nlearning_rate: 1\n", "unknown key 'learning_rate'"),
        ("methods: [ar]\ngrid: {lrr: [1e-5]}\n", "unknown trial field 'lrr'; did you mean 'lr'"),
        ("methods: [ar]\nfixed: {epoch: 3}\n", "unknown trial field 'epoch'"),
        ("methods: [ar]\nper_method: {ar: {grid: {sed: [1]}}}\n", "per_method.ar.grid: unknown trial"),
        ("methods: [ar]\ngrid: {seed: []}\n", "grid.seed: a grid needs a non-empty list"),
        ("methods: [ar]\ngrid: {seed: [1, 1]}\n", "repeats a value"),
        ("methods: [ar]\nfixed: {seed: 1}\ngrid: {seed: [2]}\n", "seed is both fixed and in the grid"),
        ("methods: [ar]\nfixed: {method: masked}\n", "use methods:"),
        ("methods: [ar]\nfixed: {seed: one}\n", "seed must be a whole number"),
        ("methods: [autoregressive]\n", "unknown method 'autoregressive'"),
        ("datasets: [namedesc]\n", "missing key 'methods'"),
        ("methods: [ar]\nschedules: {namedesc: {shuffled: {epochs: 3}}}\n", "unknown paraphrase condition"),
    ],
)
def test_bad_specs_fail_in_one_line_naming_key_and_file(tmp_path: Path, text: str, expected: str) -> None:
    path = write_spec(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_spec(path)
    message = one_line(exc)
    assert expected in message and path in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (Overrides(sets=("seed=1", "seed=2")), "conflicting overrides: --set seed given twice"),
        (Overrides(sets=("dataset=bio",), dataset="wiki"), "--set dataset=... and --dataset"),
        (Overrides(sets=("workers=2",), workers=4), "conflicting overrides"),
        (Overrides(sets=("method=ar",), methods=("dllm",)), "conflicting overrides"),
        (Overrides(model="org/m", tiny_models=TINY), "conflicting overrides: --model and --tiny"),
        (Overrides(sets=("lr",)), "expected key=value"),
        (Overrides(sets=("lrr=1",)), "--set: unknown trial field 'lrr'"),
        (Overrides(sets=("lr=-1",)), "--lr must be > 0"),
        (Overrides(sets=("epochs=0",)), "--epochs must lie in 1..100000"),
        (Overrides(sets=("eval_at=[0,200]",)), "--eval-at epochs must lie in 0..128"),
        (Overrides(methods=("magic",)), "unknown method 'magic'"),
        (Overrides(dataset="nowhere"), "unknown dataset 'nowhere'"),
        (Overrides(sets=("paraphrase=permute-order",)), "namedesc has no 'permute-order' paraphrase"),
    ],
)
def test_bad_overrides_fail_in_one_line(overrides: Overrides, expected: str) -> None:
    with pytest.raises(InputError) as exc:
        expand(load_spec("lr"), overrides)
    assert expected in one_line(exc)


def test_out_of_range_values_are_trialconfigs_own_errors() -> None:
    with pytest.raises(InputError) as exc:
        expand(load_spec("mask-ratio"), Overrides(sets=("mask_ratio=0",)))
    assert "dllm divides its loss by t" in one_line(exc)


def test_a_method_the_spec_does_not_cover() -> None:
    with pytest.raises(InputError) as exc:
        expand(load_spec("mask-ratio"), Overrides(methods=("ar",)))
    assert "varies mask_ratio per method and has no values for ar" in one_line(exc)
    fixed = expand(load_spec("mask-ratio"), Overrides(methods=("ar",), sets=("mask_ratio=0.5",)))
    assert len(fixed) == 1
    assert len(expand(load_spec("lr"), Overrides(methods=("masked-random",)))) == 5


def test_unknown_kind_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_spec("learning-rate")
    assert "shipped: control, lab, lr, mask-ratio, paper, paraphrase, seeds" in one_line(exc)
    with pytest.raises(InputError) as exc:
        load_spec(str(tmp_path / "missing.yaml"))
    assert "not found" in one_line(exc)


def test_a_spec_without_models_takes_each_methods_paper_model(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, "methods: [ar, dllm]\n"))
    trials = expand(spec, Overrides())
    assert [(t.config.model, t.config.trust_remote_code) for t in trials] == [(LLAMA, False), (LLADA, True)]
    assert expand(spec, Overrides(model="org/m"))[0].config.model == "org/m"
    assert not expand(spec, Overrides(model="org/m"))[1].config.trust_remote_code


def test_resource_plan_arithmetic(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "facts", documents=8, words=10)
    spec_text = (
        f"methods: [ar, masked]\ndatasets: [{folder}]\nmodels: {{ar: org/m, masked: org/m}}\n"
        "fixed: {workers: 2, gpus_per_worker: 1, batch_size: 2, epochs: 3}\ngrid: {seed: [0, 1]}\n"
    )
    trials = expand(load_spec(write_spec(tmp_path, spec_text)), Overrides())
    plan = plan_resources(trials, cluster_gpus=5, cluster_cpus=64)
    assert (plan.trials, plan.workers_per_trial, plan.gpus_per_trial, plan.concurrent) == (4, 2, 2.0, 2)
    steps = 3 * math.ceil(math.ceil(8 / 2) / 2)
    tokens = 3 * 8 * 10 * TOKENS_PER_WORD
    per_copy = [steps * SECONDS_PER_STEP + copies * tokens / (TOKENS_PER_GPU_SECOND * 2) for copies in (1, 2)]
    assert plan.gpu_hours == pytest.approx(2 * sum(per_copy) * 2 / 3600)  # 2 seeds x (ar + masked) x 2 GPUs
    assert "3,000 training tokens/s" in plan.assumption
    assert plan_resources(trials, cluster_gpus=1, cluster_cpus=64).concurrent == 0
    assert plan_resources(trials, cluster_gpus=100, cluster_cpus=64).concurrent == 4  # no more than trials


def test_resource_plan_on_cpu_and_without_data(tmp_path: Path) -> None:
    cpu = expand(load_spec("seeds"), Overrides(tiny_models=TINY))
    plan = plan_resources(cpu, cluster_gpus=0, cluster_cpus=7)
    assert (plan.gpus_per_trial, plan.concurrent, plan.gpu_hours) == (0.0, 3, 0.0)
    gpu = expand(load_spec("seeds"), Overrides())
    empty = plan_resources(gpu, cluster_gpus=8, cluster_cpus=64, data_dir=tmp_path)
    assert (empty.gpu_hours, empty.uncounted) == (0.0, 12)
    assert "documents unknown for namedesc/none" in empty.assumption
    console = Console(record=True, width=200)
    render_plan(load_spec("seeds"), gpu, empty, console)
    assert "GPU-hours unknown" in console.export_text()


def test_resource_plan_on_the_papers_files(paper_data_dir: Path) -> None:
    plan = plan_resources(expand(load_spec("lr"), Overrides()), 8, 64, data_dir=paper_data_dir)
    assert plan.gpu_hours > 0 and "documents unknown" not in plan.assumption


def test_render_plan_shows_every_trial_and_the_plan() -> None:
    spec = load_spec("mask-ratio")
    trials = expand(spec, Overrides())
    console = Console(record=True, width=200)
    render_plan(spec, trials, plan_resources(trials, cluster_gpus=8, cluster_cpus=64), console)
    text = console.export_text()
    assert all(trial.trial_id in text for trial in trials)
    assert "0.05:0.95" in text and "mask_ratio" in text
    assert "11 trials x 4 workers, 4 GPUs per trial; 2 at a time" in text


def test_render_plan_keeps_ids_whole_on_a_narrow_terminal() -> None:
    spec = load_spec("paper")
    trials = expand(spec, Overrides())
    console = Console(record=True, width=80)
    render_plan(spec, trials, plan_resources(trials, cluster_gpus=8, cluster_cpus=64), console)
    text = console.export_text()
    assert all(trial.trial_id in text for trial in trials)
    assert "not shown at this width:" in text
