"""The `mft` command line (driver side). Commands are thin: parse, validate, call one function."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

import typer
from rich.console import Console
from typer import TyperException

from orchestrator.cli.bench import bench_app
from orchestrator.cli.data import data_app
from orchestrator.cli.eval import evaluate_model
from orchestrator.cli.export import export
from orchestrator.cli.lab import lab
from orchestrator.cli.model import model_app
from orchestrator.cli.outputs import Interrupted
from orchestrator.cli.report import report
from orchestrator.cli.sweep import sweep_app
from orchestrator.cli.train import train
from training.errors import InputError, clip

app = typer.Typer(
    name="mft",
    help="Knowledge-injection fine-tuning experiments: AR, masked AR and diffusion LLMs, tracked in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
err_console = Console(stderr=True)
GROUPS = ("data", "model", "sweep", "bench")
"""Commands with sub-commands: their name in a message includes the sub-command (`mft data show`)."""
REASON_CHARS = 300
MESSAGE_CHARS = 1000
RESUMABLE = {"mft train": "; rerun the same command to continue from the last checkpoint"}
"""What an interrupted command keeps, said on its Ctrl-C line (`mft sweep` and `mft eval` say their own)."""
_INTERRUPTED: list[int] = []


@app.callback()
def root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an error (same as MFT_DEBUG=1)."
    ),
) -> None:
    """Knowledge-injection fine-tuning experiments: AR, masked AR and diffusion LLMs, tracked in MLflow."""
    if debug:
        os.environ["MFT_DEBUG"] = "1"


def main() -> None:
    """Entry point: every error ends in one red line, never a traceback (unless --debug/MFT_DEBUG=1).

    Exit codes: 2 for a user mistake (InputError, a mistyped flag), 1 for anything else (its
    traceback saved in the log folder), 130 for Ctrl-C.
    """
    # Read by transformers and huggingface_hub when (and only if) a command imports them.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _note_interrupt)
    try:
        code = app(standalone_mode=False)
    except Interrupted as exc:  # a command that kept part of its work says where
        _print_error(str(exc))
        sys.exit(130)
    except (typer.Abort, KeyboardInterrupt):
        _print_interrupted()
        sys.exit(130)
    except TyperException as exc:  # Typer's usage errors: a mistyped flag or value, one line too
        context = getattr(exc, "ctx", None)
        if context is None or type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # the help a bare `mft` or `mft data` asks for
            sys.exit(exc.exit_code)
        _print_error(f"{exc.format_message()} (see {context.command_path} --help)")
        sys.exit(2)
    except InputError as exc:
        if _debugging():
            raise
        _print_error(clip(str(exc), MESSAGE_CHARS))  # clipped once more, whatever a message embeds
        sys.exit(2)
    except Exception as exc:  # the last resort: our bug or the environment's, still one line
        if _debugging():
            raise
        _print_error(_unexpected(exc))
        sys.exit(1)
    if code == 130 and _INTERRUPTED:  # Typer turns Ctrl-C into a bare exit code 130
        _print_interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def _note_interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C: remembered (Typer keeps only its exit code), then Python's KeyboardInterrupt."""
    _INTERRUPTED.append(signum)
    signal.default_int_handler(signum, frame)


def _print_interrupted() -> None:
    name = command_name()
    _print_error(f"{name} interrupted (Ctrl-C){RESUMABLE.get(name, '')}")


def command_name(argv: list[str] | None = None) -> str:
    """`mft eval`, `mft data show`: the command the arguments name, for a one-line message."""
    words = [word for word in (sys.argv[1:] if argv is None else argv) if word != "--debug"]
    name = words[:1]
    if name and name[0] in GROUPS and len(words) > 1 and not words[1].startswith("-"):
        name.append(words[1])
    return " ".join(["mft", *name])


def _unexpected(exc: Exception) -> str:
    """One line for an error no check foresaw: the command, the cause, where the traceback is."""
    from orchestrator.failure_logs import failure_reason, write_failure_log

    reason = failure_reason(exc)
    try:
        saved = f"traceback in {write_failure_log(exc, command_name().replace(' ', '-'))}"
    except OSError as log_error:  # an unwritable log folder must not hide the cause
        saved = f"traceback not saved: {log_error.strerror or log_error}"
    return f"{command_name()} failed: {clip(reason, REASON_CHARS)} ({saved}; --debug shows it)"


def _debugging() -> bool:
    return os.environ.get("MFT_DEBUG") == "1"


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
