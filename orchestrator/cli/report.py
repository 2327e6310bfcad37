"""`mft report`: a sweep's tables and figures from MLflow (driver side; imports the report lazily)."""

from __future__ import annotations

import typer

from orchestrator.cli.outputs import FORCE


def report(
    sweeps: list[str] = typer.Argument(
        None,
        help="Sweep names or parent run ids (several combine), or trial run ids"
        " \\[default: the latest sweep].",
    ),
    experiment: str = typer.Option(
        None,
        help="Every trial of this MLflow experiment (with no SWEEP), or look for SWEEPs only there"
        " \\[default: every experiment].",
    ),
    filter_: list[str] = typer.Option(
        None,
        "--filter",
        help="key=value on the runs' params (repeatable), e.g. --filter method=masked \\[default: none].",
    ),
    out: str = typer.Option(None, help="Output folder, new or empty \\[default: ./mft-report/NAME]."),
    format_: str = typer.Option(
        "md,csv,latex,html", "--format", help="Comma-separated: md, csv, latex, html."
    ),
    tracking_uri: str = typer.Option(
        None, help="MLflow URI \\[default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db]."
    ),
    force: bool = FORCE,
) -> None:
    """Tables (Table 3, Table 4, sweep tables) and figures (Figs. 2, 4-8) from the runs in MLflow.

    Writes report.md, report.csv, report.tex, report.html and figures/*.png, prints the tables,
    and logs the files on each sweep's parent run.

    Examples: mft report | mft report lr-namedesc-1122-0930 |
    mft report seeds-ar seeds-masked --filter paraphrase=none --format md,csv --out results
    """
    from rich.console import Console

    from orchestrator.report import ReportRequest, build_report

    request = ReportRequest(
        tracking_uri=tracking_uri,
        targets=tuple(sweeps or ()),
        experiment=experiment,
        filters=tuple(filter_ or ()),
        out=out,
        formats=(format_,),
        force=force,
    )
    build_report(request, Console())
