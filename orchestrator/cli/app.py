"""The `mft` command line (driver side). Commands are thin: parse, validate, call one function."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from typer import TyperException

from orchestrator.cli.bench import bench_app
from orchestrator.cli.data import data_app
from orchestrator.cli.eval import evaluate_model
from orchestrator.cli.export import export
from orchestrator.cli.lab import lab
from orchestrator.cli.model import model_app
from orchestrator.cli.report import report
from orchestrator.cli.sweep import sweep_app
from orchestrator.cli.train import train
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
        code = app(standalone_mode=False)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except TyperException as exc:  # Typer's usage errors: a mistyped flag or value, one line too
        context = getattr(exc, "ctx", None)
        if context is None or type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # the help a bare `mft` or `mft data` asks for
            sys.exit(exc.exit_code)
        _print_error(f"{exc.format_message()} (see {context.command_path} --help)")
        sys.exit(2)
    except InputError as exc:
        if os.environ.get("MFT_DEBUG") == "1":
            raise
        _print_error(str(exc))
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _print_error(message: str) -> None:
    err_console.print("[bold red]error:[/] ", end="")
    err_console.print(message, highlight=False, soft_wrap=True, markup=False)


app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
app.command("eval")(evaluate_model)
app.command("train")(train)
app.command("export")(export)
app.add_typer(sweep_app, name="sweep")
app.command("report")(report)
app.command("lab")(lab)
app.add_typer(bench_app, name="bench")
