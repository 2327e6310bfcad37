"""`mft data ...`: list, show, fetch and validate knowledge sets (driver side)."""

import typer

data_app = typer.Typer(
    help="Knowledge sets: list, show, fetch the paper's files, validate your own.", no_args_is_help=True
)
