"""`mft sweep` end to end: a user YAML spec, Ray Tune driving 2 trials x 2 gloo workers on a
local Ray cluster, MLflow parent/child runs on sqlite. (An interrupted sweep resumed, and early
stopping: tests/test_stack_sweeps.py, with the sweep's state in S3.)

Each trial pays Ray Train's start-up, so there is one sweep, shared by the assertions;
`mft report` reads it back from MLflow (seconds, no new trials).
"""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from browsing import QUIET_UI_SCRIPT, chromium, mlflow_ui
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from orchestrator.tracking.names import DEFAULT_UI

pytestmark = pytest.mark.slow  # a Ray cluster, servers or whole trials: the full suite only

MFT = [sys.executable, "-m", "orchestrator"]
# Wide enough that Rich does not wrap the lines the tests read; system metrics sampled every second
# (MLflow's default is 10 s), so a few-second trial has some.
ENV = {**os.environ, "COLUMNS": "200", "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1"}


@dataclass(frozen=True)
class Sweep:
    name: str
    workdir: Path
    output: str
    knowledge_name: str = ""

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.uri)

    def runs(self) -> list[Run]:
        experiment = self.client.get_experiment_by_name("sweeps")
        return self.client.search_runs([experiment.experiment_id]) if experiment else []

    def parent(self) -> Run:
        parents = [r for r in self.runs() if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1, f"expected one parent run, found {len(parents)}"
        return parents[0]

    def children(self) -> dict[str, Run]:
        return {r.info.run_name: r for r in self.runs() if "mlflow.parentRunId" in r.data.tags}

    def steps(self, run: Run, key: str) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(run.info.run_id, key))


def write_spec(folder: Path, model: Path, knowledge: Path, epochs: int, eval_at: list[int]) -> Path:
    """A user spec: two learning rates of masked fine-tuning on a tiny model and 2 CPU workers."""
    spec = {
        "kind": "tiny-lr",
        "description": "two learning rates on a tiny model",
        "methods": ["masked"],
        "datasets": [str(knowledge)],
        "models": {"masked": str(model)},
        "fixed": {
            "paraphrase": "none", "workers": 2, "gpus_per_worker": 0, "batch_size": 2,
            "epochs": epochs, "eval_at": eval_at, "max_new_tokens": 8,
        },
        "grid": {"lr": [1.0e-3, 3.0e-3]},
    }  # fmt: skip
    path = folder / "tiny-lr.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def sweep_args(workdir: Path, *args: str) -> list[str]:
    storage = ["--storage", str(workdir / "runs"), "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}"]
    return [*MFT, "sweep", *args, *storage]


@pytest.fixture(scope="session")
def finished_sweep(tiny_causal: Path, two_facts: Path, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    workdir = tmp_path_factory.mktemp("sweep")
    spec = write_spec(workdir, tiny_causal, two_facts, epochs=6, eval_at=[0, 3, 6])
    args = sweep_args(workdir, str(spec), "--name", "e2e", "--experiment", "sweeps")
    done = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=900, env=ENV)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Sweep("e2e", workdir, done.stdout, two_facts.name)


def test_one_parent_and_a_child_run_per_trial(finished_sweep: Sweep) -> None:
    parent = finished_sweep.parent()
    children = finished_sweep.children()
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mft.sweep_kind"] == "tiny-lr"
    assert "sweep" in parent.data.tags["mft.command"] and parent.data.tags["mft.storage"].endswith("runs")
    assert sorted(children) == ["masked lr1e-3 seed0", "masked lr3e-3 seed0"]  # what differs first
    for name, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert child.data.params["lr"] == {"lr1e-3": "0.001", "lr3e-3": "0.003"}[name.split()[1]]
        assert child.data.params["workers"] == "2"
        assert finished_sweep.steps(child, "acc/total") == [0, 3, 6]
        assert finished_sweep.steps(child, "train/loss") == list(range(1, 7))
        # Each trial's node sampled into its run by a worker (CPU here; GPUs too on a GPU node).
        assert 0 <= child.data.metrics["system/cpu_utilization_percentage"] <= 100
        assert child.data.tags["mlflow.source.git.commit"] == parent.data.tags["mlflow.source.git.commit"]
        contexts = sorted(i.tags[0].value for i in child.inputs.dataset_inputs)
        assert contexts == ["eval", "train"]
    trials = json.loads(
        Path(finished_sweep.client.download_artifacts(parent.info.run_id, "sweep/trials.json")).read_text()
    )
    ids = {child.data.tags["mft.trial_id"].removeprefix("e2e/") for child in children.values()}
    assert sorted(t["trial_id"] for t in trials) == sorted(ids)
    assert parent.data.params["lr"] == "0.001 | 0.003" and parent.data.params["sweep.trials"] == "2"


def test_best_trial_is_identified_and_progress_is_shown(finished_sweep: Sweep) -> None:
    children = finished_sweep.children()
    parent = finished_sweep.parent()
    best = parent.data.tags["mft.best_trial"]
    by_id = {child.data.tags["mft.trial_id"].removeprefix("e2e/"): child for child in children.values()}
    top = max(child.data.metrics["best/acc_total"] for child in children.values())
    assert by_id[best].data.metrics["best/acc_total"] == top
    # The parent run sums the sweep up per group (here one seed per lr) and counts the trials.
    for child in children.values():
        group = f"masked lr {child.data.params['lr']}"
        for key in ("fwd", "bwd", "total"):
            assert parent.data.metrics[f"{group}/{key}"] == round(child.data.metrics[f"best/acc_{key}"], 4)
    assert (parent.data.metrics["trials/finished"], parent.data.metrics["trials/failed"]) == (2, 0)
    assert "tensorboard" not in finished_sweep.output.lower()  # Ray Tune's hint points away from MLflow
    assert f"best trial: {best}" in finished_sweep.output
    for trial_id in by_id:  # the live table's last frame is printed: one row per trial
        assert trial_id in finished_sweep.output
    assert finished_sweep.output.count("FINISHED") >= 2


def test_status_shows_where_the_sweep_stands(finished_sweep: Sweep) -> None:
    args = sweep_args(finished_sweep.workdir, "status", "e2e")
    done = subprocess.run(
        args, cwd=finished_sweep.workdir, capture_output=True, text=True, timeout=120, env=ENV
    )
    assert done.returncode == 0, done.stderr
    assert "FINISHED" in done.stdout and "best trial: masked_causal_kset" in done.stdout
    assert "/runs?workflowType=machine_learning" in done.stdout  # where to look, again


class PageParser(HTMLParser):
    """Collects the tables and image sources of an HTML page (and fails on nothing: it parses)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")


def test_report_rebuilds_the_sweep_from_mlflow(finished_sweep: Sweep, tmp_path: Path, mft) -> None:
    """`mft report` on the sweep above: reads MLflow only, no new trials (a few seconds)."""
    out = tmp_path / "report"
    result = mft("report", "e2e", "--tracking-uri", finished_sweep.uri, "--out", str(out))
    assert result.code == 0, result.err + result.out
    assert f"MLflow runs: mlflow ui --backend-store-uri {finished_sweep.uri}  then open" in result.out
    kset = finished_sweep.knowledge_name
    assert sorted(p.name for p in out.iterdir()) == [
        "figures", "report.csv", "report.html", "report.md", "report.tex"
    ]  # fmt: skip
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == [f"curves_{kset}_none.png", f"seeds_{kset}_none.png", f"sweep_{kset}_lr.png",
                       f"total_{kset}_none.png"]  # fmt: skip
    for figure in figures:
        assert (out / "figures" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    trials = {row["run_id"]: row for row in rows if row["kind"] == "trial"}
    children = finished_sweep.children()
    assert sorted(trials) == sorted(run.info.run_id for run in children.values())
    for run in children.values():
        row = trials[run.info.run_id]
        assert row["best_step"] == run.data.tags["mft.best_step"]
        assert row["lr"] == run.data.params["lr"] and row["status"] == "FINISHED"
        for key in ("fwd", "bwd", "total"):
            assert float(row[key]) == run.data.metrics[f"best/acc_{key}"], key
    groups = [row for row in rows if row["kind"] == "group"]
    assert sorted((row["lr"], row["seeds"]) for row in groups) == [("0.001", "1"), ("0.003", "1")]

    page = PageParser()
    page.feed((out / "report.html").read_text())
    assert page.tables == (out / "report.md").read_text().count("\n## ") - 1  # all but "Figures"
    assert len(page.images) == len(figures)
    for source in page.images:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:4] == b"\x89PNG"
    assert "\\begin{tabular}" in (out / "report.tex").read_text()
    logged = {
        a.path for a in finished_sweep.client.list_artifacts(finished_sweep.parent().info.run_id, "report")
    }
    assert {"report/report.md", "report/report.csv", "report/report.html", "report/figures"} <= logged


RUN_NAME = '[role=gridcell][col-id="attributes.`Run Name`"]'
DATASET = '[role=gridcell][col-id="attributes.`Dataset`"] [data-testid=open-dataset-drawer]'
DESCRIPTION = '[data-testid="note-editor-preview-content"]'
# Whether the grid shows a name's `prefix` whole: the name fits, or the prefix and the ellipsis
# that replaces the rest do (in the name's own font).
SHOWS_PREFIX = """(link, prefix) => {
  const name = link.querySelector("span");
  if (name.scrollWidth <= name.clientWidth) return true;
  const canvas = document.createElement("canvas").getContext("2d");
  canvas.font = getComputedStyle(name).font;
  return canvas.measureText(prefix + "\u2026").width <= name.clientWidth; }"""


@pytest.mark.slow
def test_the_printed_links_open_the_runs_view_the_summary_and_the_data(
    finished_sweep: Sweep, tmp_path: Path
) -> None:
    """The sweep's last lines, followed as a researcher would: start the printed `mlflow ui`, open the
    printed links in Chromium (1280 x 900), read the pages. Screenshots are left in `tmp_path`."""
    lines = finished_sweep.output.splitlines()
    runs_line = next(line for line in reversed(lines) if line.startswith("MLflow runs: mlflow ui "))
    command, runs_link = runs_line.removeprefix("MLflow runs: ").split("  then open ")
    sweep_link = next(line for line in reversed(lines) if line.startswith("MLflow sweep run: "))
    parent, children = finished_sweep.parent(), finished_sweep.children()
    data = {d.tags[0].value: f"{d.dataset.name} ({d.dataset.digest})" for d in parent.inputs.dataset_inputs}
    assert sorted(data) == ["eval", "train"]
    with mlflow_ui(command, tmp_path / "mlflow-ui.log") as ui, chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(QUIET_UI_SCRIPT)
        page = context.new_page()
        # The runs view, not GenAI's traces: the sweep's run in the runs grid, its data listed.
        page.goto(runs_link.replace(DEFAULT_UI, ui))
        page.locator(f"{RUN_NAME} a", has_text="e2e").first.wait_for(timeout=120_000)
        assert "/experiments/" in page.url and "/runs?workflowType=machine_learning" in page.url
        assert set(data.values()) <= set(page.locator(DATASET).all_inner_texts())
        # Expanded, the children: where the grid cuts their names, method and lr still show.
        page.locator(f"{RUN_NAME} button").first.click()
        for name in children:
            link = page.locator(f"{RUN_NAME} a", has_text=name).first
            link.wait_for(timeout=60_000)
            prefix = " ".join(name.split()[:2])  # "masked lr1e-3"
            assert link.evaluate(SHOWS_PREFIX, prefix), f"{name}: the grid cuts what tells trials apart"
        page.screenshot(path=str(tmp_path / "runs-view.png"))
        # The sweep's run: its description holds the headline and Table 3; its data is listed.
        page.goto(sweep_link.removeprefix("MLflow sweep run: ").replace(DEFAULT_UI, ui))
        description = page.locator(DESCRIPTION)
        description.locator("table").wait_for(timeout=120_000)
        if page.get_by_text("Show more").count():  # a long description starts folded
            page.get_by_text("Show more").first.click()
        headers = description.locator("th").all_inner_texts()
        assert headers[:2] == ["method", "paraphrase"] and {"fwd", "bwd", "total"} <= set(headers)
        rows = [row.split("\t") for row in description.locator("tbody tr").all_inner_texts()]
        assert [row[:2] for row in rows if row[0] == "masked"] == [["masked", "none"]] * 2
        assert "backward masked lr 0.001" in description.inner_text()
        assert page.get_by_text(data["train"], exact=True).first.is_visible()  # "Datasets", beside
        page.screenshot(path=str(tmp_path / "sweep-run.png"), full_page=True)
