"""Building a report end to end (driver side; reads MLflow, never starts Ray).

Order: check the formats and the store → select runs → check the output folder → load curves
→ group, fit, tabulate → only then write anything. Every mistake the user can make is found
before the first file is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.markup import escape

from orchestrator.cli.outputs import check_output_folder, staged_folder
from orchestrator.report.csv_rows import write_csv
from orchestrator.report.document import Report
from orchestrator.report.figures import draw_figures
from orchestrator.report.fitting import fit_saturation
from orchestrator.report.grouping import Group, before_groups, group_trials
from orchestrator.report.headline import headline
from orchestrator.report.html_page import render_html
from orchestrator.report.latex import render_latex
from orchestrator.report.markdown import render_markdown
from orchestrator.report.selection import Selection, select_runs
from orchestrator.report.store import open_store
from orchestrator.report.tables import (
    Fits,
    Table,
    accuracy_table,
    dataset_of,
    datasets,
    fit_table,
    left_out_table,
    sweep_table,
    swept_fields,
    trials_table,
)
from orchestrator.report.terminal import print_table
from orchestrator.report.trials import Trial, load_trial
from orchestrator.tracking.links import print_browse
from orchestrator.tracking.store import resolve_tracking_uri
from training.errors import InputError

FILES = {"md": "report.md", "csv": "report.csv", "latex": "report.tex", "html": "report.html"}
ALIASES = {"markdown": "md", "tex": "latex"}
DEFAULT_OUT = Path("mft-report")
ARTIFACT_PATH = "report"


@dataclass(frozen=True)
class ReportRequest:
    """What `mft report` was asked for; `targets` are sweep names, parent or trial run ids."""

    tracking_uri: str | None = None
    targets: tuple[str, ...] = ()
    experiment: str | None = None
    filters: tuple[str, ...] = ()
    out: str | None = None
    """The output folder as written (a trailing slash kept); None: ./mft-report/NAME."""
    formats: tuple[str, ...] = tuple(FILES)
    force: bool = False
    """Write into a non-empty --out, replacing files of the same names."""


def report_sweeps(
    tracking_uri: str,
    sweeps: Sequence[str],
    out: str | None,
    formats: Sequence[str],
    console: Console,
    force: bool = False,
    write: bool = True,
) -> Path:
    """Report the named sweeps (the latest one if none): write the files, print the tables, return
    the output folder. The entry point for commands that run a sweep and then report it; `write`
    False only prints the tables, for a sweep whose files are already in the folder."""
    request = ReportRequest(tracking_uri, tuple(sweeps), out=out, formats=tuple(formats), force=force)
    return build_report(request, console, write)


def print_tables(tables: Sequence[Table], headline_lines: Sequence[str], console: Console) -> None:
    for table in tables:
        print_table(table, console)
    for line in headline_lines:
        console.print(f"[bold]{escape(line)}[/]")


def parse_formats(formats: Sequence[str]) -> list[str]:
    """`md,csv` or ["md", "csv"] → known format names, in the given order."""
    names = [part.strip().lower() for text in formats for part in text.split(",") if part.strip()]
    chosen = [ALIASES.get(name, name) for name in names]
    unknown = [name for name, known in zip(names, chosen, strict=True) if known not in FILES]
    if unknown or not chosen:
        raise InputError(f"unknown --format {', '.join(unknown) or '(none)'}; choose from {','.join(FILES)}")
    return list(dict.fromkeys(chosen))


def split_trials(trials: Sequence[Trial]) -> tuple[list[Trial], list[Trial]]:
    """(reported, left out); a finished run without any evaluation is an error, not a row."""
    reported = [trial for trial in trials if trial.reported]
    left_out = [trial for trial in trials if not trial.reported]
    for trial in left_out:
        if trial.status == "FINISHED":
            raise InputError(
                f"run {trial.name} ({trial.run_id}) is FINISHED but has no acc/total: it is not an mft"
                " trial or never evaluated; leave it out with --filter or name other runs"
            )
    if not reported:
        states = ", ".join(f"{t.name} {t.status}" for t in left_out[:5])
        raise InputError(
            f"none of the {len(trials)} selected runs has an acc/total evaluation to report ({states});"
            " a run that failed before its first evaluation has nothing to show"
        )
    return reported, left_out


def fit_trials(trials: Sequence[Trial]) -> Fits:
    return {
        trial.run_id: {
            direction: fit_saturation(trial.curves[direction].steps, trial.curves[direction].values)
            if direction in trial.curves
            else fit_saturation((), ())
            for direction in ("fwd", "bwd")
        }
        for trial in trials
    }


def build_tables(groups: list[Group], befores: list[Group], fits: Fits, left_out: list[Trial]) -> list[Table]:
    tables = []
    for dataset in datasets(groups):
        in_dataset = [g for g in groups if dataset_of(g) == dataset]
        before = [g for g in befores if dataset_of(g) == dataset]
        tables += [accuracy_table(dataset, in_dataset, before), fit_table(dataset, in_dataset, fits)]
        tables += [sweep_table(dataset, name, in_dataset) for name in swept_fields(in_dataset)]
    tables.append(trials_table(groups))
    left = left_out_table(left_out)
    return tables + ([left] if left else [])


def build_report(request: ReportRequest, console: Console, write: bool = True) -> Path:
    """Check, read, compute, then write the report files and log them on each sweep's parent run
    (`write` False: print the tables only, the files being in the folder already)."""
    kinds = parse_formats(request.formats)
    uri = resolve_tracking_uri(request.tracking_uri)
    client = open_store(uri)
    selection = select_runs(client, request.targets, request.experiment, request.filters)
    text = request.out if request.out is not None else str(DEFAULT_OUT / selection.name)
    out = check_output_folder(text, "--out", force=request.force) if write else Path(text)
    reported, left_out = split_trials([load_trial(client, run) for run in selection.runs])
    groups, befores = group_trials(reported), before_groups(reported)
    fits = fit_trials(reported)
    tables = build_tables(groups, befores, fits, left_out)
    if not write:
        print_tables(tables, headline(groups), console)
        console.print(
            f"report files: [bold]{escape(str(out))}[/] (written when the sweep ran)", soft_wrap=True
        )
        return out

    with staged_folder(out) as stage:  # rendered as if in `out`: links in the pages are relative
        figures = draw_figures(groups, stage / "figures")
        source = (
            f"{len(reported)} trials ({len(left_out)} left out) from {uri}, generated by mft report"
            f" on {datetime.now():%Y-%m-%d %H:%M}."
        )
        report = Report(selection.name, source, tuple(tables), tuple(figures), tuple(headline(groups)))
        written = [figure.path for figure in figures]
        for kind in kinds:
            path = stage / FILES[kind]
            if kind == "csv":
                write_csv(path, groups, befores, fits, left_out)
            else:
                path.write_text(_render(kind, report, stage), encoding="utf-8")
            written.append(path)
    written = [out / path.relative_to(stage) for path in written]
    print_tables(tables, report.headline, console)
    _log_artifacts(client, selection, out, written, console)
    files = ", ".join(path.name for path in written[len(figures) :])
    console.print(
        f"report written to [bold]{escape(str(out))}[/] ({files}, {len(figures)} figures)", soft_wrap=True
    )
    for experiment_id in dict.fromkeys(run.info.experiment_id for run in selection.runs):
        print_browse(console, uri, experiment_id)
    return out


def _render(kind: str, report: Report, out: Path) -> str:
    if kind == "md":
        return render_markdown(report, out)
    if kind == "latex":
        return render_latex(report, out)
    return render_html(report)


def _log_artifacts(
    client: MlflowClient, selection: Selection, out: Path, written: list[Path], console: Console
) -> None:
    """The same files on every sweep's parent run, so the MLflow UI shows the report."""
    for parent in selection.parents:
        try:
            for path in written:
                folder = path.parent.relative_to(out).as_posix()
                artifact_path = ARTIFACT_PATH if folder == "." else f"{ARTIFACT_PATH}/{folder}"
                client.log_artifact(parent.info.run_id, str(path), artifact_path)
        except Exception as exc:  # the files are written; a read-only artifact store is not fatal
            console.print(
                f"[yellow]could not log the report on run {parent.info.run_id}: {escape(str(exc))}[/]"
            )
