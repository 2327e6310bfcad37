"""`mft report` on runs written to a real MLflow sqlite store with known curves.

The runs carry the same tags, params and metrics as `mft sweep` / `mft train` write them (parent
run with `mft.sweep*` tags and `sweep/trials.json`; child runs with `mlflow.parentRunId`; every
TrialConfig field as a param; `acc/*` and `em/*` at evaluation steps; the best step as the training
callback tags it, `best/*` as the trial driver logs them at the end), so every number the report
prints can be checked against a value chosen here.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from rich.console import Console

from orchestrator.report import report_sweeps
from orchestrator.report.fitting import fit_saturation
from orchestrator.report.grouping import group_key, group_trials
from orchestrator.report.trials import Curve, Trial
from orchestrator.tracking.runs import flatten_params
from training.config import TrialConfig

Curves = dict[int, dict[str, float]]  # step -> metric (without acc/) -> value


def namedesc(step_values: dict[int, tuple[float, float, float, float]]) -> Curves:
    """NameDescription curves from (N2D-fwd, N2D-bwd, D2N-fwd, D2N-bwd) per step, as training sums them."""
    curves = {}
    for step, (nf, nb, df, db) in step_values.items():
        fwd, bwd = (nf + df) / 2, (nb + db) / 2
        curves[step] = {"N2D-fwd": nf, "N2D-bwd": nb, "D2N-fwd": df, "D2N-bwd": db,
                        "fwd": fwd, "bwd": bwd, "total": (fwd + bwd) / 2}  # fmt: skip
    return curves


def halved(curves: Curves) -> Curves:
    """Exact-match curves for tests: half the recall at every step (any values the report must copy)."""
    return {step: {metric: value / 2 for metric, value in values.items()} for step, values in curves.items()}


def params_of(config: TrialConfig) -> dict[str, str]:
    """The TrialConfig fields its method reads, tuples comma-joined, as trial runs log them."""
    return flatten_params(config)


class Store:
    """A real sqlite tracking store in a temp folder, written the way mft's sweeps and trials write it."""

    def __init__(self, folder: Path, template: Path) -> None:
        shutil.copy(template, folder / "mlflow.db")  # an empty store, migrated once per session
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        self.client = MlflowClient(self.uri)
        self.folder = folder

    def experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found:
            return found.experiment_id
        return self.client.create_experiment(name, artifact_location=(self.folder / "artifacts").as_uri())

    def trial(
        self, experiment_id: str, config: TrialConfig, curves: Curves, status: str = "FINISHED",
        tags: dict[str, str] | None = None, extra_params: dict[str, str] | None = None,
        exact: Curves | None = None,
    ) -> str:  # fmt: skip
        name = f"{config.method}_lr{config.lr:g}_seed{config.seed}"
        run = self.client.create_run(
            experiment_id, run_name=name, tags={"mft.trial_id": name, **(tags or {})}
        )
        run_id = run.info.run_id
        merged = {**params_of(config), **(extra_params or {})}
        params = {key: value for key, value in merged.items() if value is not None}  # None: not logged
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        now, best, best_step, metrics = int(time.time() * 1000), -math.inf, None, []
        for step in sorted(curves):
            values = curves[step]
            metrics += [Metric(f"acc/{k}", v, now, step) for k, v in values.items()]
            metrics += [Metric(f"em/{k}", v, now, step) for k, v in (exact or {}).get(step, {}).items()]
            metrics.append(Metric("epoch", float(step), now, step))
            if values["total"] >= best:  # as MlflowTrialCallback tags the best checkpoint
                best, best_step = values["total"], step
                self.client.set_tag(run_id, "mft.best_step", str(step))
        if best_step is not None:  # as the trial driver logs them when the trial ends
            metrics += [Metric(f"best/acc_{k}", v, now, 0) for k, v in curves[best_step].items()]
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)
        if status == "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        else:
            self.client.set_terminated(run_id, status=status)
        return run_id

    def sweep(
        self, name: str, trials: list[tuple[TrialConfig, Curves, str]], experiment: str = "mft-sweeps",
        extra_params: dict[str, str] | None = None, exact: list[Curves] | None = None,
    ) -> tuple[str, list[str]]:  # fmt: skip
        """A parent run and one child per trial, tagged as `orchestrator.sweep.runs.create_runs` does."""
        experiment_id = self.experiment(experiment)
        tags = {"mft.sweep": name, "mft.sweep_kind": "test", "mft.command": "mft sweep test",
                "mft.storage": str(self.folder / "runs")}  # fmt: skip
        parent = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        self.client.log_dict(parent, [{"trial_id": str(i), "config": c.to_dict()} for i, (c, _, _) in
                                      enumerate(trials)], "sweep/trials.json")  # fmt: skip
        children = [
            self.trial(
                experiment_id,
                config,
                curves,
                status,
                {"mlflow.parentRunId": parent, "mft.sweep": name},
                extra_params,
                exact[index] if exact else None,
            )  # fmt: skip
            for index, (config, curves, status) in enumerate(trials)
        ]
        self.client.set_terminated(parent, status="FINISHED")
        return parent, children


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MLflow creates its sqlite schema in seconds of migrations: once, then copied."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path: Path, empty_store: Path) -> Store:
    return Store(tmp_path, empty_store)


def config(**fields) -> TrialConfig:
    base = {"model": "/models/tiny-causal", "dataset": "namedesc", "method": "masked", "lr": 1e-3,
            "epochs": 20, "eval_at": (0, 10, 20), "data_dir": "/data"}  # fmt: skip
    return TrialConfig(**(base | fields))


# Three seeds of masked fine-tuning. Seed 0 peaks at step 10; seed 1 at 20; seed 2 ties (total 0.5
# at steps 10 and 20, with different categories) and must take step 20.
SEED_CURVES = [
    namedesc({0: (0.1, 0.0, 0.1, 0.0), 10: (0.6, 0.4, 0.8, 0.2), 20: (0.5, 0.3, 0.7, 0.1)}),
    namedesc({0: (0.1, 0.0, 0.1, 0.0), 10: (0.3, 0.1, 0.5, 0.1), 20: (0.9, 0.5, 0.7, 0.3)}),
    namedesc({0: (0.1, 0.0, 0.1, 0.0), 10: (0.5, 0.5, 0.5, 0.5), 20: (0.75, 0.25, 0.75, 0.25)}),
]
BEST_STEPS = [10, 20, 20]
CATEGORIES = ("N2D-fwd", "N2D-bwd", "D2N-fwd", "D2N-bwd", "fwd", "bwd", "total")
# The accuracy table's columns: recall per category, then recall and exact match per summary metric.
COLUMNS = ("N2D-fwd", "N2D-bwd", "D2N-fwd", "D2N-bwd", "fwd", "fwd EM", "bwd", "bwd EM", "total", "total EM")


def seeds_sweep(store: Store, name: str = "seeds", **extra_params: str | None) -> tuple[str, list[str]]:
    trials = [(config(seed=seed), curves, "FINISHED") for seed, curves in enumerate(SEED_CURVES)]
    return store.sweep(name, trials, extra_params=extra_params, exact=[halved(c) for c in SEED_CURVES])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def md_rows(path: Path, title: str) -> list[list[str]]:
    """The body rows of the Markdown table under `## title`."""
    lines = path.read_text().split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def report(mft: Callable, store: Store, out: Path, *args: str):
    result = mft("report", *args, "--tracking-uri", store.uri, "--out", str(out))
    assert result.code == 0, result.err + result.out
    return result


def test_cells_are_the_best_checkpoint_mean_and_std_over_seeds(mft, store: Store, tmp_path: Path) -> None:
    seeds_sweep(store)
    out = tmp_path / "out"
    result = report(mft, store, out, "seeds")
    expected = {}
    for metric in CATEGORIES:
        values = [curves[step][metric] for curves, step in zip(SEED_CURVES, BEST_STEPS, strict=True)]
        expected[metric] = (statistics.fmean(values), statistics.stdev(values))
        expected[f"{metric} EM"] = (statistics.fmean(values) / 2, statistics.stdev(values) / 2)
    [row] = md_rows(out / "report.md", "namedesc: accuracy at the best checkpoint (Table 3)")[1:]
    assert row[:4] == ["masked", "none", "authors", "3"]
    assert row[4:] == [f"{expected[c][0]:.3f} ± {expected[c][1]:.3f}" for c in COLUMNS]
    # By hand: N2D-fwd at steps 10, 20, 20 is 0.6, 0.9, 0.75 (seed 2's tie taken at the later step).
    assert row[4] == "0.750 ± 0.150"
    group = next(r for r in read_csv(out / "report.csv") if r["kind"] == "group")
    for metric in CATEGORIES:
        for column, key in ((metric, metric), (f"em_{metric}", f"{metric} EM")):
            assert float(group[column]) == pytest.approx(expected[key][0], abs=1e-12)
            assert float(group[f"{column}_std"]) == pytest.approx(expected[key][1], abs=1e-12)
    assert "masked" in result.out and "Table 3" in result.out


def test_best_step_takes_the_highest_total_and_ties_go_to_the_later_step(mft, store, tmp_path) -> None:
    _, children = seeds_sweep(store)
    out = tmp_path / "out"
    report(mft, store, out, "seeds")
    trials = {r["run_id"]: r for r in read_csv(out / "report.csv") if r["kind"] == "trial"}
    for run_id, curves, step in zip(children, SEED_CURVES, BEST_STEPS, strict=True):
        row = trials[run_id]
        assert int(row["best_step"]) == step
        assert int(store.client.get_run(run_id).data.tags["mft.best_step"]) == step  # as training tagged it
        for metric in CATEGORIES:
            assert float(row[metric]) == curves[step][metric]  # read at that step, full precision
            assert float(row[f"em_{metric}"]) == curves[step][metric] / 2  # at recall's best step


def test_exact_match_is_read_at_the_step_recall_picked(mft, store, tmp_path) -> None:
    """Exact match never picks its own checkpoint: here it peaks at step 20, recall at step 10."""
    curves = namedesc({0: (0.0, 0.0, 0.0, 0.0), 10: (1.0, 0.5, 1.0, 0.5), 20: (0.5, 0.5, 0.5, 0.5)})
    exact = namedesc({0: (0.0, 0.0, 0.0, 0.0), 10: (1.0, 0.0, 0.5, 0.0), 20: (1.0, 1.0, 1.0, 1.0)})
    store.sweep("em", [(config(seed=0), curves, "FINISHED")], exact=[exact])
    out = tmp_path / "out"
    report(mft, store, out, "em")
    [before, row] = md_rows(out / "report.md", "namedesc: accuracy at the best checkpoint (Table 3)")
    cells = dict(zip(COLUMNS, row[4:], strict=True))
    assert (cells["fwd"], cells["fwd EM"], cells["bwd"], cells["bwd EM"]) == (
        "1.000",
        "0.750",
        "0.500",
        "0.000",
    )
    assert dict(zip(COLUMNS, before[4:], strict=True))["total EM"] == "0.000"
    assert "exact match" in (out / "report.md").read_text()


def test_grouping_ignores_only_the_seed() -> None:
    def trial(seed: int, **fields: str) -> Trial:
        params = {**params_of(config(seed=seed)), **fields}
        return Trial(f"run{seed}{sorted(fields)}", "t", "FINISHED", params, {"total": Curve(((0, 0.5),))})

    same = [trial(0), trial(1), trial(2, data_dir="/elsewhere"), trial(3, run_id="r3")]
    assert len({group_key(t) for t in same}) == 1
    for field, value in [("lr", "0.003"), ("workers", "2"), ("epochs", "40"), ("mask_ratio", "0.5,0.5"),
                         ("scoring", "rouge-score"), ("model", "/models/other")]:  # fmt: skip
        assert group_key(trial(0, **{field: value})) != group_key(trial(0)), field
    groups = group_trials([*same, trial(4, lr="0.003")])
    assert [len(g.trials) for g in groups] == [4, 1]
    old = trial(5, scoring="rouge-score")
    del old.params["scoring"]  # logged before TrialConfig had the field: scored by rouge-score
    assert group_key(old) == group_key(trial(6, scoring="rouge-score"))


def test_runs_scored_differently_are_separate_rows_with_their_scorer(mft, store, tmp_path) -> None:
    """A run without a `scoring` param was scored by rouge-score; it never averages with `authors`."""
    seeds_sweep(store, "old", scoring=None)  # logged before TrialConfig had the field
    authors = [(config(seed=s), SEED_CURVES[0], "FINISHED") for s in (0, 1)]
    store.sweep("new", authors, extra_params={"scoring": "authors"})
    out = tmp_path / "out"
    report(mft, store, out, "old", "new")
    rows = md_rows(out / "report.md", "namedesc: accuracy at the best checkpoint (Table 3)")
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("before fine-tuning", "authors", "2"), ("before fine-tuning", "rouge-score", "3"),
        ("masked", "authors", "2"), ("masked", "rouge-score", "3"),
    ]  # fmt: skip
    assert rows[2][4] == "0.600 ± 0.000"


def test_fit_recovers_a_and_k_of_a_noiseless_curve() -> None:
    steps = [0, 30, 60, 120, 240, 480, 960, 1920, 2880, 3840]  # the paper's eval epochs, as steps
    values = 0.83 * (1 - np.exp(-0.0021 * np.asarray(steps)))
    fit = fit_saturation(steps, values)
    assert fit.note == ""
    assert fit.a == pytest.approx(0.83, rel=0.01) and fit.k == pytest.approx(0.0021, rel=0.01)


@pytest.mark.parametrize(
    ("steps", "values", "note"),
    [([0, 10, 20], [0.4, 0.4, 0.4], "flat"), ([0, 10], [0.0, 0.5], "fewer than 3 points"),
     ([0, 10, 20], [0.0, 0.0, 0.0], "flat"), ([0, 10, 20, 30], [0.0, 0.1, 0.2, 0.3], "no plateau yet"),
     ([0, 10, 20], [0.5, 0.4, 0.3], "does not rise")],
)  # fmt: skip
def test_degenerate_fits_say_so(steps: list[int], values: list[float], note: str) -> None:
    fit = fit_saturation(steps, values)
    assert (fit.a, fit.k, fit.note) == (None, None, note)


def test_fit_table_shows_numbers_or_why_not(mft, store, tmp_path) -> None:
    steps = [0, 2, 4, 8, 16, 32, 64]
    curves = {}
    for step in steps:
        fwd = 0.9 * (1 - math.exp(-0.05 * step))
        curves[step] = {"fwd": fwd, "bwd": 0.0, "total": fwd / 2}  # backward flat: the reversal curse
    store.sweep("fit", [(config(seed=s, method="ar", dataset="bio"), curves, "FINISHED") for s in (0, 1)])
    out = tmp_path / "out"
    report(mft, store, out, "fit")
    [row] = md_rows(out / "report.md", "bio: convergence fit (Table 4)")
    assert row[:4] == ["ar", "none", "authors", "2"]
    assert row[4:] == ["0.900 ± 0.000", "0.05 ± 0", "flat", "flat"]


def test_running_runs_are_marked_and_failed_or_killed_ones_listed_apart(mft, store, tmp_path) -> None:
    partial = {step: SEED_CURVES[1][step] for step in (0, 10)}
    great = namedesc({0: (1, 1, 1, 1), 10: (1, 1, 1, 1)})  # would lift every mean if averaged in
    trials = [
        (config(seed=0), SEED_CURVES[0], "FINISHED"),
        (config(seed=1), partial, "RUNNING"),
        (config(seed=2), great, "FAILED"),
        (config(seed=3), great, "KILLED"),
        (config(seed=4), {}, "FAILED"),  # failed before its first evaluation
    ]
    _, children = store.sweep("mixed", trials)
    store.client.set_tag(children[2], "mft.error", "RuntimeError: worker died")
    out = tmp_path / "out"
    result = report(mft, store, out, "mixed")
    [row] = md_rows(out / "report.md", "namedesc: accuracy at the best checkpoint (Table 3)")[1:]
    assert row[3] == "2*"
    assert (
        row[-2]
        == f"{statistics.fmean([SEED_CURVES[0][10]['total'], SEED_CURVES[1][10]['total']]):.3f}"
        + f" ± {statistics.stdev([SEED_CURVES[0][10]['total'], SEED_CURVES[1][10]['total']]):.3f}"
    )
    assert "still RUNNING" in (out / "report.md").read_text()
    left = md_rows(out / "report.md", "Runs left out of the tables")
    assert [(r[1], r[3]) for r in left] == [("FAILED", "2"), ("KILLED", "3"), ("FAILED", "4")]
    assert left[0][2] == "RuntimeError: worker died" and left[2][2] == "no evaluation yet"
    assert left[0][5] == "1.000"  # its best so far, shown but not averaged
    kinds = [r["kind"] for r in read_csv(out / "report.csv")]
    assert kinds.count("trial") == 2 and kinds.count("left-out") == 3
    assert "Runs left out" in result.out


def test_before_fine_tuning_row_and_lr_sweep_table(mft, store, tmp_path) -> None:
    trials = [(config(seed=s, lr=lr), SEED_CURVES[s], "FINISHED") for lr in (3e-3, 1e-3) for s in (0, 1)]
    store.sweep("lr", trials)
    out = tmp_path / "out"
    report(mft, store, out, "lr")
    rows = md_rows(out / "report.md", "namedesc: accuracy at the best checkpoint (Table 3)")
    assert rows[0][:5] == ["before fine-tuning", "–", "", "authors", "4"]
    assert rows[0][5:] == [
        f"{v} ± 0.000" if v != "–" else v
        for v in ("0.100", "0.000", "0.100", "0.000", "0.100", "–", "0.000", "–", "0.050", "–")
    ]  # no em/* logged by these runs: no exact-match number
    assert [r[2] for r in rows[1:]] == ["0.001", "0.003"]  # lr varies, so it labels the rows
    sweep = md_rows(out / "report.md", "namedesc: best accuracy against lr (Fig. 5)")
    assert [(r[0], r[3], r[4]) for r in sweep] == [("masked", "0.001", "2"), ("masked", "0.003", "2")]
    assert (out / "figures" / "sweep_namedesc_lr.png").stat().st_size > 10_000


def test_single_train_runs_by_run_id_and_by_experiment(mft, store, tmp_path, monkeypatch) -> None:
    experiment_id = store.experiment("mft-namedesc")
    ids = [store.trial(experiment_id, config(seed=s), SEED_CURVES[s]) for s in (0, 1)]
    report(mft, store, tmp_path / "one", ids[0])
    [row] = md_rows(tmp_path / "one" / "report.md", "Trials")
    assert row[2:4] == ["0", "10"]
    monkeypatch.chdir(tmp_path)
    result = mft("report", "--experiment", "mft-namedesc", "--tracking-uri", store.uri)
    assert result.code == 0, result.err
    rows = md_rows(tmp_path / "mft-report" / "mft-namedesc" / "report.md", "Trials")
    assert [r[2] for r in rows] == ["0", "1"]


def test_no_sweep_named_reports_the_latest_and_logs_it_on_the_parent(
    mft, store, tmp_path, monkeypatch
) -> None:
    seeds_sweep(store, "older")
    parent, _ = seeds_sweep(store, "newer")
    monkeypatch.chdir(tmp_path)
    result = mft("report", "--tracking-uri", store.uri, "--format", "md")
    assert result.code == 0, result.err
    folder = tmp_path / "mft-report" / "newer"
    assert sorted(p.name for p in folder.iterdir()) == ["figures", "report.md"]
    logged = [a.path for a in store.client.list_artifacts(parent, "report")]
    assert "report/report.md" in logged and "report/figures" in logged


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Store:
    """One store for the bad-input cases: a good sweep and one whose only run failed unevaluated."""
    store = Store(tmp_path_factory.mktemp("store"), empty_store)
    seeds_sweep(store)
    store.sweep("empty", [(config(), {}, "FAILED")])
    return store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tracking-uri", "sqlite:///{tmp}/absent.db"], "no MLflow tracking store at"),
        (["--tracking-uri", "http://127.0.0.1:9"], "cannot reach the MLflow server at http://127.0.0.1:9"),
        (["no-such-sweep"], "no sweep or run 'no-such-sweep'"),
        (["0123456789abcdef0123456789abcdef"], "no sweep or run '0123456789abcdef0123456789abcdef'"),
        (["seeds", "--filter", "method=dllm"], "no runs match --filter method=dllm"),
        (["seeds", "--filter", "colour=red"], "--filter colour: no run has that param"),
        (["seeds", "--filter", "method"], "must be key=value"),
        (["empty"], "none of the 1 selected runs has an acc/total"),
        (["seeds", "--format", "md,pdf"], "unknown --format pdf"),
        (["seeds", "--out", "{tmp}/afile/report"], "cannot create it under"),
        (["--experiment", "nope"], "no MLflow experiment named 'nope'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    mft, shared_store, tmp_path, monkeypatch, args, message
):
    (tmp_path / "afile").write_text("a file where a folder should be")
    monkeypatch.chdir(tmp_path)  # the default --out would be under here
    before = sorted(shared_store.folder.rglob("*")) + sorted(tmp_path.rglob("*"))
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    uri = [] if "--tracking-uri" in args else ["--tracking-uri", shared_store.uri]
    result = mft("report", *args, *uri)
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert sorted(shared_store.folder.rglob("*")) + sorted(tmp_path.rglob("*")) == before


def test_report_sweeps_is_the_entry_point_for_other_commands(store, tmp_path) -> None:
    """What `mft lab` calls after its sweep: files written, tables printed, the folder returned."""
    seeds_sweep(store, "lab")
    console = Console(file=io.StringIO(), width=200)
    out = report_sweeps(store.uri, ["lab"], tmp_path / "lab-report", ["md", "csv"], console)
    assert out == tmp_path / "lab-report"
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.csv", "report.md"]
    assert "0.750 ± 0.150" in console.file.getvalue()  # N2D-fwd of the seeds, as in the first test


def test_terminal_table_moves_shared_labels_to_a_note_and_keeps_labels_whole() -> None:
    from orchestrator.report.tables import MISSING, Table
    from orchestrator.report.terminal import print_table

    numbers = ("0.953 ± 0.012",) * 7
    rows = (
        ("before fine-tuning", MISSING, "", "base-bidirectional", "authors", "3", *numbers),
        ("masked", "none", "0.001", "base-causal", "authors", "3", *numbers),
        ("dllm", "none", "0.0003", "base-bidirectional", "authors", "3", *numbers),
    )
    columns = ("method", "paraphrase", "lr", "model", "scoring", "seeds", "a", "b", "c", "d", "e", "f", "g")
    console = Console(width=160, record=True)
    print_table(Table("t", "people", columns, rows, left=5), console)
    text = console.export_text()
    assert "In every row that has one: paraphrase none, scoring authors." in text
    assert "before fine-tuning" in text and "base-bidirectional" in text  # not folded or cut
    assert "paraphrase" not in text.splitlines()[2]  # the header row


def test_at_80_columns_a_long_trial_name_folds_and_no_number_is_cut() -> None:
    from orchestrator.report.tables import MISSING, Table
    from orchestrator.report.terminal import print_table

    name = "ar_causal_namedesc_none_lr5e-06_seed0"
    rows = ((name, "FINISHED", "0", "120", "0.953", MISSING, "0.912"),)
    columns = ("trial", "status", "seed", "best step", "fwd", "bwd", "total")
    console = Console(width=80, record=True)
    print_table(Table("trials", "Trials", columns, rows, left=3), console)
    text = console.export_text()
    assert "0.953" in text and "0.912" in text and "…" not in text, text
    lines = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(lines) == name and len(lines) > 1  # folded, every character kept


def test_an_existing_report_is_never_written_over_unless_forced(mft, store: Store, tmp_path: Path) -> None:
    seeds_sweep(store)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("mine")
    (out / "notes.txt").write_text("mine too")
    refused = mft("report", "--tracking-uri", store.uri, "--out", str(out))
    assert refused.code == 2 and "is not empty" in refused.err and "--force" in refused.err, refused.err
    assert (out / "report.md").read_text() == "mine"
    report(mft, store, out, "--force")
    assert "mine" not in (out / "report.md").read_text() and (out / "notes.txt").read_text() == "mine too"
    assert (out / "figures").is_dir() and not list(tmp_path.glob(".out.partial-*")), "no staging folder left"
    slash = mft("report", "--tracking-uri", store.uri, "--out", f"{out / 'notes.txt'}/")
    assert slash.code == 2 and "is a file" in slash.err


def test_a_print_only_report_shows_the_tables_and_keeps_the_files(store: Store, tmp_path: Path) -> None:
    """What a second `mft lab` does with the report its first run wrote (report_sweeps(write=False))."""
    seeds_sweep(store)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("written when the sweep ran")
    console = Console(record=True, width=200)
    assert report_sweeps(store.uri, ["seeds"], str(out), ["md", "csv"], console, write=False) == out
    shown = console.export_text()
    assert "Table 3" in shown and f"report files: {out} (written when the sweep ran)" in shown, shown
    assert [path.name for path in out.iterdir()] == ["report.md"]
    assert (out / "report.md").read_text() == "written when the sweep ran"
