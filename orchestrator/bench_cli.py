"""`mft bench ...`: throughput benchmarks that print figures (driver side)."""

import typer

bench_app = typer.Typer(
    help="Benchmarks that print figures: answering, training throughput.", no_args_is_help=True
)
