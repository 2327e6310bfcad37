"""The `mft` command line: the Typer app and one thin module per command (driver side)."""
