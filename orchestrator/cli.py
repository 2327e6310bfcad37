"""The `mft` command line (driver side). Commands are thin: parse, validate, call one function."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from orchestrator.bench_cli import bench_app
from orchestrator.data_cli import data_app
from orchestrator.eval_cli import evaluate_model
from orchestrator.lab_cli import lab
from orchestrator.model_cli import model_app
from orchestrator.report_cli import report
from orchestrator.sweep_cli import sweep
from orchestrator.train_cli import export, train
from training.errors import InputError

app = typer.Typer(
    name="mft",
    help="Knowledge-injection fine-tuning experiments: AR, masked AR and diffusion LLMs, tracked in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
err_console = Console(stderr=True)


def main() -> None:
    """Entry point: user mistakes end in one red line and exit code 2, not a traceback."""
    # Read by transformers and huggingface_hub when (and only if) a command imports them.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except InputError as exc:
        if os.environ.get("MFT_DEBUG") == "1":
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
app.command("eval")(evaluate_model)
app.command("train")(train)
app.command("export")(export)
app.command("sweep")(sweep)
app.command("report")(report)
app.command("lab")(lab)
app.add_typer(bench_app, name="bench")
